import { useEffect, useRef, useState } from "preact/hooks";
import { api, auth, type Camera, wsBase } from "../api/client";
import { AuthImg } from "../components/Media";
import { formatConfidence, formatTime } from "../lib/format";
import { type FeedStatus, LiveFeed, type LiveFilters, type LiveSighting, type ServerMessage } from "../lib/livefeed";
import { linkClick } from "../lib/router";

const KEEP = 200;
type Progress = Extract<ServerMessage, { type: "progress" }>;

export function LivePage() {
  const [cameras, setCameras] = useState<Camera[]>([]);
  const [filters, setFilters] = useState<LiveFilters>({ tags: [], cameras: [], minConfidence: 0.5 });
  const [tagText, setTagText] = useState("");
  const [items, setItems] = useState<LiveSighting[]>([]);
  const [progress, setProgress] = useState<Record<number, Progress>>({});
  const [status, setStatus] = useState<{ s: FeedStatus; detail?: string }>({ s: "connecting" });
  const [serverError, setServerError] = useState<string | null>(null);
  const feed = useRef<LiveFeed | null>(null);

  useEffect(() => { api.GET("/api/v1/cameras/").then(({ data }) => data && setCameras(data)); }, []);

  useEffect(() => {
    const f = new LiveFeed({
      baseUrl: wsBase(), token: auth.token, filters,
      onSighting: (m) => setItems((xs) => [m.sighting, ...xs.filter((x) => x.id !== m.sighting.id)].slice(0, KEEP)),
      onProgress: (m) => setProgress((p) => ({ ...p, [m.clip]: m })),
      onStatus: (s, detail) => setStatus({ s, detail }),
      onServerError: (m) => setServerError(m.field ? `${m.field}: ${m.message}` : m.message),
    });
    feed.current = f;
    f.start();
    return () => f.stop();
  }, []);

  const apply = (next: LiveFilters) => { setFilters(next); setServerError(null); feed.current?.setFilters(next); };
  const statusText: Record<FeedStatus, string> = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", closed: "Disconnected", failed: "Stopped",
  };
  const running = Object.values(progress).filter((p) => p.status !== "done");

  return (
    <div>
      <div class="row" style="justify-content: space-between">
        <h1>Live sightings</h1>
        <p role="status" data-testid="feed-status" data-status={status.s}>
          <span class={`dot ${status.s}`} />{statusText[status.s]}
          {status.detail && status.s !== "live" ? <span class="muted"> — {status.detail}</span> : null}
        </p>
      </div>
      <form class="row panel" onSubmit={(e) => {
        e.preventDefault();
        apply({ ...filters, tags: tagText.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean) });
      }}>
        <label for="l-tag">Objects</label>
        <input id="l-tag" placeholder="person, car" value={tagText} onInput={(e) => setTagText(e.currentTarget.value)} />
        <label for="l-cam">Camera</label>
        <select id="l-cam" value={filters.cameras[0] ?? ""}
          onChange={(e) => apply({ ...filters, cameras: e.currentTarget.value ? [Number(e.currentTarget.value)] : [] })}>
          <option value="">All cameras</option>
          {cameras.map((c) => <option value={c.id}>{c.name}</option>)}
        </select>
        <label for="l-conf">Min confidence {formatConfidence(filters.minConfidence)}</label>
        <input id="l-conf" type="range" min="0" max="1" step="0.05" value={filters.minConfidence}
          onChange={(e) => apply({ ...filters, minConfidence: Number(e.currentTarget.value) })} />
        <button type="submit">Apply</button>
        <button type="button" onClick={() => setItems([])}>Clear list</button>
      </form>
      {serverError && <p class="error" role="alert">{serverError}</p>}
      {running.length > 0 && (
        <section aria-label="Analysis in progress">
          <h2>Analysing</h2>
          {running.map((p) => (
            <div class="row"><span>Clip {p.clip}</span><progress max={1} value={p.progress} />
              <span class={p.status === "failed" ? "error" : "muted"}>{p.status}{p.error ? `: ${p.error}` : ""}</span></div>
          ))}
        </section>
      )}
      <h2 class="sr-only">Newest first</h2>
      {items.length === 0 && <p class="muted">Waiting for sightings…</p>}
      <ol class="live-list" aria-live="polite" aria-relevant="additions" data-testid="live-list">
        {items.map((s) => (
          <li class="live-item" key={s.id} data-testid="live-item" data-sighting={s.id}>
            <AuthImg src={s.thumbnail_url} alt={`${s.tag} on ${s.camera.name}`} />
            <div>
              <a href={`/sightings/${s.id}`} onClick={linkClick}><strong>{s.tag}</strong></a>{" "}
              <span class="ok">{formatConfidence(s.confidence)}</span>
              <div class="muted">{s.camera.name} · {formatTime(s.best_time)}</div>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}
