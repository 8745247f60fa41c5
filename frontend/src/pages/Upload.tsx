import { useEffect, useRef, useState } from "preact/hooks";
import { api, authHeaders, type Camera, type Clip } from "../api/client";
import { errorMessage, formatBytes, formatDuration, formatTime } from "../lib/format";
import { encodeState, emptyState, isoToLocalInput, localInputToIso } from "../lib/query";
import { recordedAt } from "../lib/recordedAt";
import { linkClick } from "../lib/router";
import { uploadWithProgress } from "../lib/upload";

type Phase = "idle" | "uploading" | "analysing" | "done" | "failed";

export function UploadPage() {
  const [cameras, setCameras] = useState<Camera[]>([]);
  const [file, setFile] = useState<File | null>(null);
  const [camera, setCamera] = useState("");
  // The first frame's time: from the file when it says (read before uploading), else the officer must give it;
  // never silently "now" (footage uploaded today was mostly recorded another day).
  const [startedAt, setStartedAt] = useState("");
  const [startFrom, setStartFrom] = useState<"file" | "officer" | "unknown" | null>(null);
  const [over, setOver] = useState(false);
  const [phase, setPhase] = useState<Phase>("idle");
  const [sent, setSent] = useState(0);
  const [clip, setClip] = useState<Clip | null>(null);
  const [error, setError] = useState<string | null>(null);
  const poll = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    api.GET("/api/v1/cameras/").then(({ data }) => {
      if (!data) return;
      setCameras(data);
      if (data.length === 1) setCamera(String(data[0].id));
    });
    return () => { if (poll.current) clearTimeout(poll.current); };
  }, []);

  const follow = async (id: number) => {
    const { data, error: err } = await api.GET("/api/v1/clips/{id}/", { params: { path: { id } } });
    if (!data) { setError(errorMessage(err, "Could not read the clip's status")); setPhase("failed"); return; }
    setClip(data);
    if (data.status === "done") { setPhase("done"); return; }
    if (data.status === "failed") { setPhase("failed"); setError(data.error || "Analysis failed."); return; }
    poll.current = setTimeout(() => follow(id), 1000);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!file) { setError("Choose a video file first."); return; }
    if (!camera) { setError("Choose the camera that recorded it."); return; }
    if (!localInputToIso(startedAt)) {
      setError("Enter when the recording started: this file does not say.");
      document.getElementById("u-start")?.focus();
      return;
    }
    const form = new FormData();
    form.append("file", file);
    form.append("camera", camera);
    const iso = localInputToIso(startedAt);
    if (iso) form.append("started_at", iso);
    setPhase("uploading"); setSent(0); setClip(null);
    const { Accept: _a, ...headers } = authHeaders();
    const r = await uploadWithProgress<Clip>("/api/v1/clips/", form, headers, setSent);
    if (!r.ok || !r.body) { setPhase("failed"); setError(r.message); return; }
    setClip(r.body);
    setPhase("analysing");
    follow(r.body.id);
  };

  const pick = async (f: File | null | undefined) => {
    if (!f) return;
    setFile(f); setPhase("idle"); setError(null);
    const recorded = await recordedAt(f);
    setStartedAt(recorded ? isoToLocalInput(recorded) : "");
    setStartFrom(recorded ? "file" : "unknown");
  };
  const busy = phase === "uploading" || phase === "analysing";
  const resultsLink = clip ? (() => {
    const start = new Date(clip.started_at);
    const end = new Date(start.getTime() + Math.max(1, clip.duration_s ?? 0) * 1000 + 1000);
    return `/?${encodeState({ ...emptyState(), cameras: [clip.camera], start: start.toISOString(), end: end.toISOString() })}`;
  })() : "/";

  return (
    <div style="max-width: 720px">
      <h1>Upload footage</h1>
      <form onSubmit={submit} class="panel" style="display: flex; flex-direction: column; gap: .9rem">
        <label class={`drop${over ? " over" : ""}`} for="u-file"
          onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)}
          onDrop={(e) => { e.preventDefault(); setOver(false); pick(e.dataTransfer?.files[0]); }}>
          {file ? <span>{file.name} <span class="muted">({formatBytes(file.size)})</span></span>
            : <span>Drop a video file here, or choose one</span>}
          <input id="u-file" type="file" accept="video/*,.mp4,.mkv,.avi,.mov" class="sr-only" data-testid="file"
            onChange={(e) => pick(e.currentTarget.files?.[0])} />
        </label>
        <div class="field">
          <label for="u-cam">Camera</label>
          <select id="u-cam" value={camera} onChange={(e) => setCamera(e.currentTarget.value)} required>
            <option value="">Choose…</option>
            {cameras.map((c) => <option value={c.id}>{c.name}{c.site ? ` (${c.site})` : ""}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="u-start">Recording started at (first frame, your local time)</label>
          <input id="u-start" type="datetime-local" step="1" value={startedAt} aria-required="true" aria-describedby="u-start-hint"
            onInput={(e) => { setStartedAt(e.currentTarget.value); setStartFrom("officer"); }} />
          <p id="u-start-hint" class="muted" data-testid="start-hint">
            {startFrom === "file" ? "Taken from the file (the time it says it was recorded). Correct it if the camera's clock was wrong."
              : startFrom === "unknown" ? "This file does not say when it was recorded: enter the time of its first frame."
                : startFrom === "officer" ? "As you entered it."
                  : "Choose a file: its recorded time is used when it has one."}
          </p>
        </div>
        <div><button class="primary" type="submit" disabled={busy}>Upload and analyse</button></div>
        {phase === "uploading" && (
          <div><label for="u-prog">Uploading {Math.round(sent * 100)}%</label>
            <progress id="u-prog" max={1} value={sent} /></div>
        )}
        {clip && phase !== "uploading" && (
          <div>
            <label for="a-prog">Analysis: {clip.status} {Math.round((clip.progress ?? 0) * 100)}%</label>
            <progress id="a-prog" max={1} value={clip.progress ?? 0} />
            <p class="muted">{clip.original_name}: {formatDuration(clip.duration_s)}, {clip.width}×{clip.height}, {clip.codec};
              {" "}footage from <span data-testid="clip-start">{formatTime(clip.started_at)}</span></p>
          </div>
        )}
        {phase === "done" && clip && (
          <p class="ok" role="status">Analysed: {clip.job.detections} detections. <a href={resultsLink} onClick={linkClick}>See its sightings</a></p>
        )}
        {error && <p class="error" role="alert" data-testid="upload-error">{error}</p>}
      </form>
    </div>
  );
}
