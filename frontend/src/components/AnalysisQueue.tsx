import { useEffect, useState } from "preact/hooks";
import { api, type AnalysisQueue as Queue } from "../api/client";
import { errorMessage, formatDuration } from "../lib/format";

/** How often the queue is read again while the page is open. */
const REFRESH_MS = 5000;

const waitText = (s: number | null | undefined, jobs: number): string =>
  s == null ? "until the live cameras leave capacity" : jobs === 0 && s === 0 ? "none" : formatDuration(s);

/** The analysis backlog per priority, the workers' measured rate, and whether uploads are accepted now. */
export function AnalysisQueue() {
  const [queue, setQueue] = useState<Queue | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = () => api.GET("/api/v1/analysis/queue/").then(({ data, error: err }) => {
      if (stopped) return;
      if (data) { setQueue(data); setError(null); } else setError(errorMessage(err));
    });
    load();
    const timer = window.setInterval(load, REFRESH_MS);
    return () => { stopped = true; window.clearInterval(timer); };
  }, []);
  if (error) return <p class="error">Analysis queue: {error}</p>;
  if (!queue) return null;
  const busy = queue.workers.filter((w) => w.busy).length;
  return (
    <section aria-labelledby="queue-heading" class="queue">
      <h2 id="queue-heading">Analysis queue</h2>
      <p>
        {queue.workers.length === 0
          ? "No analysis worker is running: new footage waits until one starts."
          : `${queue.workers.length} worker${queue.workers.length === 1 ? "" : "s"} (${busy} busy) · `
            + `${queue.capacity_frames_per_s.toFixed(1)} frames/s${queue.capacity_measured ? "" : " (partly assumed)"}`
            + ` · live cameras need ${queue.live_frames_per_s.toFixed(1)} frames/s`}
      </p>
      {!queue.admission.accepting_uploads && (
        <p class="error" role="status">Uploads are refused now: {queue.admission.detail}</p>
      )}
      {/* On a phone the table scrolls in its own box (cameras.css), not the page. */}
      <div class="cams-scroll" role="group" aria-labelledby="queue-heading" tabIndex={0}>
      <table>
        <thead><tr><th scope="col">Priority</th><th scope="col">Jobs</th><th scope="col">Analysing</th>
          <th scope="col">Frames left</th><th scope="col">Expected wait</th></tr></thead>
        <tbody>
          {queue.priorities.map((p) => (
            <tr>
              <th scope="row">{p.priority}</th>
              <td>{p.jobs}</td>
              <td>{p.analysing}</td>
              <td>{Math.round(p.frames)}</td>
              <td>{waitText(p.expected_wait_s, p.jobs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      {(queue.renders.exports > 0 || queue.renders.renditions > 0) && (
        <p data-testid="queue-renders">
          Served before uploads: {queue.renders.exports} export{queue.renders.exports === 1 ? "" : "s"} and{" "}
          {queue.renders.renditions} masked video{queue.renders.renditions === 1 ? "" : "s"} for playback
          ({queue.renders.rendering} rendering now)
        </p>
      )}
      {queue.workers.length > 0 && (
        <ul class="muted">{queue.workers.map((w, i) => (
          <li>{w.name ?? `worker ${i + 1}`}: {w.frames_per_s ? `${w.frames_per_s.toFixed(1)} frames/s` : "not measured yet"}
            {w.busy ? ` · analysing ${w.current_priority}` : " · idle"}</li>
        ))}</ul>
      )}
    </section>
  );
}
