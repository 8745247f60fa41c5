import { useEffect, useRef, useState } from "preact/hooks";
import { api, auth, type Camera, type Facets, wsBase } from "../api/client";
import { CameraTile, type LatestSighting } from "../components/CameraTile";
import { AuthImg } from "../components/Media";
import { feedLine } from "../lib/cameras";
import { formatConfidence, formatTime, zoneLabel } from "../lib/format";
import {
  type FeedStatus, LiveFeed, type LiveFilters, type LiveSighting, matchesFilters, type ServerMessage, type SightingSource,
} from "../lib/livefeed";
import { DEFAULT_MIN_CONFIDENCE, toggle } from "../lib/query";
import { linkClick } from "../lib/router";
import "../cameras.css";

const KEEP = 200;
/** Camera states are written by the recorder, not pushed: read again this often. */
const CAMERAS_REFRESH_MS = 10_000;
type Progress = Extract<ServerMessage, { type: "progress" }>;
interface Item { sighting: LiveSighting; source: SightingSource }

/**
 * `/live`: the cameras (one tile each: status, last video, newest sighting) and the sightings as they come.
 *
 * The status line says two things apart: whether the feed is connected, and how many cameras record ("Connected ·
 * 0 of 3 cameras recording" is neutral; green "Live" needs both). Sightings of uploaded footage are marked
 * "Upload" with the footage's own time (the server says which: backend/live/feed.py), not left out: whoever
 * uploads watches them arrive here. The filters are Search's (tag and camera chips, the confidence slider), each
 * applied at once; changing them also filters the list already shown.
 */
export function LivePage() {
  const [cameras, setCameras] = useState<Camera[] | null>(null);
  const [tagOptions, setTagOptions] = useState<string[]>([]);
  const [latest, setLatest] = useState<Record<number, LatestSighting>>({});
  const [filters, setFilters] = useState<LiveFilters>({ tags: [], cameras: [], minConfidence: DEFAULT_MIN_CONFIDENCE });
  const [minConf, setMinConf] = useState(DEFAULT_MIN_CONFIDENCE);
  const [items, setItems] = useState<Item[]>([]);
  const [progress, setProgress] = useState<Record<number, Progress>>({});
  const [status, setStatus] = useState<{ s: FeedStatus; detail?: string }>({ s: "connecting" });
  const [serverError, setServerError] = useState<string | null>(null);
  const feed = useRef<LiveFeed | null>(null);
  const latestAsked = useRef(new Set<number>());

  useEffect(() => {
    let stopped = false;
    const load = () => api.GET("/api/v1/cameras/").then(({ data }) => { if (data && !stopped) setCameras(data); });
    load();
    const timer = window.setInterval(load, CAMERAS_REFRESH_MS);
    return () => { stopped = true; window.clearInterval(timer); };
  }, []);

  // The objects to choose from: every label with sightings on the cameras this user sees (Search's tag facet).
  useEffect(() => {
    api.GET("/api/v1/search/", { params: { query: { page_size: 1 } } }).then(({ data }) => {
      const facets = data?.facets as unknown as Facets | null | undefined;
      if (facets) setTagOptions(Object.keys(facets.tags));
    });
  }, []);

  const newer = (cameraId: number, next: LatestSighting) =>
    setLatest((l) => (l[cameraId] && Date.parse(l[cameraId].time) >= Date.parse(next.time) ? l : { ...l, [cameraId]: next }));

  // Each camera's newest sighting once (the feed brings the later ones).
  useEffect(() => {
    for (const c of cameras ?? []) {
      if (latestAsked.current.has(c.id)) continue;
      latestAsked.current.add(c.id);
      api.GET("/api/v1/search/", {
        params: { query: { camera: [c.id], sort: "-time", page_size: 1, facets: false, min_confidence: DEFAULT_MIN_CONFIDENCE } },
      }).then(({ data }) => {
        const s = data?.results[0];
        if (s) newer(c.id, { id: s.id, tag: s.tag, time: s.best_time, thumbnail_url: s.thumbnail_url });
      });
    }
  }, [cameras]);

  useEffect(() => {
    const f = new LiveFeed({
      baseUrl: wsBase(), token: auth.token, filters,
      onSighting: (m) => {
        const s = m.sighting;
        setItems((xs) => [{ sighting: s, source: m.source ?? null }, ...xs.filter((x) => x.sighting.id !== s.id)].slice(0, KEEP));
        newer(s.camera.id, { id: s.id, tag: s.tag, time: s.best_time, thumbnail_url: s.thumbnail_url });
      },
      onProgress: (m) => setProgress((p) => ({ ...p, [m.clip]: m })),
      onStatus: (s, detail) => setStatus({ s, detail }),
      onServerError: (m) => setServerError(m.field ? `${m.field}: ${m.message}` : m.message),
    });
    feed.current = f;
    f.start();
    return () => f.stop();
  }, []);

  const apply = (patch: Partial<LiveFilters>) => {
    const next = { ...filters, ...patch };
    setFilters(next);
    setServerError(null);
    feed.current?.setFilters(next);
  };
  const line = feedLine(status.s, cameras);
  const running = Object.values(progress).filter((p) => p.status !== "done");
  const seenTags = items.map((i) => i.sighting.tag);
  const tags = [...new Set([...tagOptions, ...filters.tags, ...seenTags])].sort();
  const shown = items.filter((i) => matchesFilters(filters, i.sighting));

  return (
    <div class="live-page">
      <div class="row live-head">
        <h1>Live</h1>
        <p role="status" data-testid="feed-status" data-status={status.s} data-tone={line.tone} class={`feed-line ${line.tone}`}>
          <span class={`dot ${line.tone}`} aria-hidden="true" />{line.text}
          {status.detail && status.s !== "live" ? <span class="muted"> — {status.detail}</span> : null}
        </p>
      </div>
      <section aria-labelledby="live-cams-h">
        <h2 id="live-cams-h">Cameras</h2>
        {cameras === null && <p class="muted">Loading…</p>}
        {cameras?.length === 0 && <p class="muted">No cameras you may see.</p>}
        <ul class="cam-tiles" data-testid="camera-tiles">
          {(cameras ?? []).map((c) => <CameraTile key={c.id} camera={c} latest={latest[c.id] ?? null} />)}
        </ul>
      </section>
      <section class="panel live-filters" aria-label="Filters">
        <fieldset>
          <legend>Objects</legend>
          <div class="chips">
            {tags.length === 0 && <span class="muted">none found</span>}
            {tags.map((t) => (
              <button type="button" class="chip" aria-pressed={filters.tags.includes(t)} data-testid={`live-tag-${t}`}
                onClick={() => apply({ tags: toggle(filters.tags, t) })}>{t}</button>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Cameras</legend>
          <div class="chips">
            {(cameras ?? []).map((c) => (
              <button type="button" class="chip" aria-pressed={filters.cameras.includes(c.id)} data-testid={`live-camera-${c.id}`}
                onClick={() => apply({ cameras: toggle(filters.cameras, c.id) })}>{c.name}</button>
            ))}
          </div>
        </fieldset>
        <div class="field">
          <label for="l-conf">Minimum confidence: <output for="l-conf">{formatConfidence(minConf)}</output></label>
          <input id="l-conf" type="range" min="0" max="1" step="0.05" value={minConf}
            onInput={(e) => setMinConf(Number(e.currentTarget.value))}
            onChange={(e) => apply({ minConfidence: Number(e.currentTarget.value) })} />
        </div>
      </section>
      {serverError && <p class="error" role="alert">{serverError}</p>}
      {running.length > 0 && (
        <section aria-label="Analysis in progress">
          <h2>Analysing</h2>
          {running.map((p) => (
            <div class="row"><span>Clip {p.clip}</span><progress max={1} value={p.progress} aria-label={`Clip ${p.clip}`} />
              <span class={p.status === "failed" ? "error" : "muted"}>{p.status}{p.error ? `: ${p.error}` : ""}</span></div>
          ))}
        </section>
      )}
      <div class="row live-list-head">
        <h2>Sightings <span class="muted">newest first</span></h2>
        {items.length > 0 && <button type="button" onClick={() => setItems([])}>Clear list</button>}
      </div>
      {shown.length === 0 && (
        <p class="muted">{items.length ? "None of the sightings so far match these filters." : "Waiting for sightings…"}</p>
      )}
      <ol class="live-list" aria-live="polite" aria-relevant="additions" data-testid="live-list">
        {shown.map(({ sighting: s, source }) => (
          <li class="live-item" key={s.id} data-testid="live-item" data-sighting={s.id} data-source={source ?? ""}>
            <AuthImg src={s.thumbnail_url} alt={`${s.tag} on ${s.camera.name}`} />
            <div>
              <a href={`/sightings/${s.id}`} onClick={linkClick}><strong>{s.tag}</strong></a>{" "}
              <span class="ok">{formatConfidence(s.confidence)}</span>
              {source === "upload" && <> <span class="badge warn" data-testid="upload-badge">Upload</span></>}
              <div class="muted">
                {s.camera.name} · {source === "upload" ? "footage from " : ""}
                <time dateTime={s.best_time}>{formatTime(s.best_time)} {zoneLabel(s.best_time)}</time>
              </div>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}
