import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, type Me, mediaUrl, type Sighting, type Track } from "../api/client";
import { ColourDots, colourWords } from "../components/Colours";
import { ExportPanel } from "../components/ExportPanel";
import { PlayerClock } from "../components/PlayerClock";
import { SimilarPanel } from "../components/SimilarPanel";
import { type Still, TrackPath } from "../components/TrackPath";
import { mayExport } from "../lib/exports";
import { errorMessage, formatConfidence, formatTime } from "../lib/format";
import {
  type Fetched, maskedBadge, playbackQuery, type PlaybackState, preparingLabel, watchPlayback, withStart, withUnmask,
} from "../lib/playback";
import { decodeState, encodeState } from "../lib/query";
import { useResultsPlace } from "../lib/resultsPlace";
import { linkClick, linkClickWith } from "../lib/router";
import type { FromResults } from "./Search";
import { boxInRect, displayedRect, follower, type Box } from "../lib/track";

/** A still is taken from the clip when a frame this close to the best moment is shown (seconds). */
const STILL_WITHIN_S = 0.3;

/** Ask how this user may play the clip (masked or not, ready or being prepared). */
async function askPlayback(clip: number, unmask: boolean, retry: boolean): Promise<Fetched> {
  const { data, error, response } = await api.GET("/api/v1/clips/{id}/playback/", {
    // `retry` is not in the schema's parameters; the server reads "1" for both.
    params: { path: { id: clip }, query: playbackQuery(unmask, retry) as { unmask?: boolean } },
  });
  return { ok: !!data, status: response.status, body: data ?? error };
}

export function SightingPage({ id, search, me }: { id: number; search: string; me: Me | null }) {
  const [s, setS] = useState<Sighting | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [src, setSrc] = useState<string | null>(null);
  const [copied, setCopied] = useState("");
  const [track, setTrack] = useState<Track | null>(null);
  const [still, setStill] = useState<Still | null>(null);
  const [pb, setPb] = useState<PlaybackState>({ phase: "loading" });
  const [unmask, setUnmask] = useState(false);
  const watcher = useRef<{ stop(): void; retry(): void } | null>(null);
  const resumeAt = useRef<number | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const boxEl = useRef<HTMLDivElement>(null);
  const current = useRef<Sighting | null>(null);
  const follow = useRef<ReturnType<typeof follower> | null>(null);
  const lastT = useRef<number | null>(null);
  const stillTaken = useRef(false);
  const qs = encodeState(decodeState(search));
  const linkTo = (x: Sighting) => `/sightings/${x.id}${qs ? `?${qs}` : ""}`;
  const { list, place, prevEl, nextEl } = useResultsPlace(id, qs, linkTo);

  useEffect(() => {
    setS(null); setError(null); setSrc(null); setTrack(null); setStill(null); setUnmask(false);
    resumeAt.current = null;
    current.current = null; follow.current = null; lastT.current = null; stillTaken.current = false;
    let live = true;
    (async () => {
      const { data, error: err, response } = await api.GET("/api/v1/sightings/{sighting_id}/", {
        params: { path: { sighting_id: id } },
      });
      if (!data) { setError(response.status === 404 ? "No such sighting (or not on a camera you may see)." : errorMessage(err)); return; }
      if (!live) return;
      current.current = data;
      setS(data);
      api.GET("/api/v1/sightings/{sighting_id}/track/", { params: { path: { sighting_id: id } } })
        .then(({ data: t }) => {
          if (!live || !t) return;
          const f = follower(t.points, data.clip);
          follow.current = f.samples.length ? f : null; // none left in this clip (thinned): the best box
          setTrack(t);
          draw(lastT.current ?? undefined);
        })
        .catch(() => undefined);
      document.title = `${data.tag} ${formatConfidence(data.confidence)} · ${data.camera.name} · Sightline`;
    })();
    return () => { live = false; };
  }, [id]);

  // Playback: ask first (a masked rendition may still be being made: poll its progress), then play the URL
  // given, from the best moment. Asked again when switching between masked and unmasked.
  const clipId = s?.clip;
  useEffect(() => {
    const cur = current.current;
    if (clipId == null || !cur) return;
    let live = true;
    let revoke = () => {};
    setSrc(null);
    const w = watchPlayback({
      load: (retry) => askPlayback(clipId, unmask, retry),
      onState: (st) => {
        if (!live) return;
        setPb(st);
        if (st.phase !== "ready") return;
        mediaUrl(withStart(st.url, cur.offset_s)).then((m) => {
          if (!live) { m.revoke(); return; }
          revoke();
          revoke = m.revoke;
          setSrc(m.url);
        }).catch((e) => { if (live) setPb({ phase: "failed", error: `The video could not be loaded: ${(e as Error).message}` }); });
      },
    });
    watcher.current = w;
    return () => { live = false; w.stop(); revoke(); if (watcher.current === w) watcher.current = null; };
  }, [s?.id, clipId, unmask]);

  /** Switch between the masked and the unmasked picture, keeping the moment shown. */
  const toggleUnmask = (on: boolean) => {
    const v = video.current;
    resumeAt.current = v && v.readyState >= 1 ? v.currentTime : null;
    stillTaken.current = false;
    setStill(null); // the still was of the other picture
    setUnmask(on);
  };

  /**
   * Draw the box for the frame shown at `t` (seconds of the clip): the track interpolated between its
   * detections in this clip (hidden outside its span), or the best moment's box until the track is known.
   * Written straight to the element (every frame), over the picture as object-fit: contain places it.
   */
  const draw = (t?: number) => {
    const v = video.current;
    const el = boxEl.current;
    const cur = current.current;
    if (!v || !el || !cur) return;
    const time = t ?? v.currentTime;
    lastT.current = time;
    el.dataset.t = time.toFixed(3);
    const b: Box | null = follow.current ? follow.current.at(time * 1000) : (cur.box as Box);
    if (!b || !v.videoWidth || !v.videoHeight) { delete el.dataset.visible; return; }
    const px = boxInRect(b, displayedRect(v.clientWidth, v.clientHeight, v.videoWidth, v.videoHeight));
    el.style.left = `${px.left}px`;
    el.style.top = `${px.top}px`;
    el.style.width = `${px.width}px`;
    el.style.height = `${px.height}px`;
    el.dataset.visible = "true";
  };

  /** Keep the frame of the best moment as a still for the path picture (once, when it is on screen). */
  const takeStill = (t: number) => {
    const v = video.current;
    const cur = current.current;
    if (stillTaken.current || !v || !cur || v.readyState < 2 || !v.videoWidth) return;
    if (Math.abs(t - cur.offset_s) > STILL_WITHIN_S) return;
    stillTaken.current = true;
    try {
      const c = document.createElement("canvas");
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      c.getContext("2d")?.drawImage(v, 0, 0, c.width, c.height);
      setStill({ url: c.toDataURL("image/jpeg", 0.85), w: c.width, h: c.height });
    } catch { /* a canvas the browser will not read back: the thumbnail stays */ }
  };

  // Follow the object on every frame: requestVideoFrameCallback gives each presented frame's own time;
  // without it, every animation frame reads currentTime.
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    let stopped = false;
    let handle = 0;
    if (typeof v.requestVideoFrameCallback === "function") {
      const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
        if (stopped) return;
        draw(meta.mediaTime);
        takeStill(meta.mediaTime);
        handle = v.requestVideoFrameCallback(onFrame);
      };
      handle = v.requestVideoFrameCallback(onFrame);
      return () => { stopped = true; v.cancelVideoFrameCallback(handle); };
    }
    const tick = () => {
      if (stopped) return;
      if (!v.paused || v.currentTime !== lastT.current) draw();
      handle = requestAnimationFrame(tick);
    };
    handle = requestAnimationFrame(tick);
    return () => { stopped = true; cancelAnimationFrame(handle); };
  }, [src]);

  // Keep the box over the object whatever size the video is rendered at (also while paused).
  useLayoutEffect(() => {
    const v = video.current;
    if (!v) return;
    const ro = new ResizeObserver(() => draw(lastT.current ?? undefined));
    ro.observe(v);
    return () => ro.disconnect();
  }, [src, s]);

  const onMeta = () => {
    const v = video.current;
    const at = resumeAt.current ?? s?.offset_s;
    resumeAt.current = null;
    if (v && at != null && Math.abs(v.currentTime - at) > 0.25) v.currentTime = at;
    draw();
  };
  const onFrameReady = () => {
    const v = video.current;
    if (!v) return;
    if (v.paused) draw();
    takeStill(v.currentTime);
  };

  const copy = async () => {
    try { await navigator.clipboard.writeText(location.href); setCopied("Link copied."); }
    catch { setCopied(`Copy this link: ${location.href}`); }
  };

  const back = qs ? `/?${qs}` : "/";
  /** Back to results: opened from the grid in this tab, that is the history entry before this one (going back
   * to it, rather than adding another, keeps the browser's Back and this link the same). */
  const backClick = (e: MouseEvent) => {
    const plain = e.button === 0 && !(e.metaKey || e.ctrlKey || e.shiftKey || e.altKey);
    if (plain && (history.state as Partial<FromResults> | null)?.fromResults === qs) {
      e.preventDefault();
      history.back();
    } else linkClick(e);
  };
  const stepClick = (e: MouseEvent) => linkClickWith({ replace: true, state: history.state, scroll: false })(e);
  if (error) return <div><p class="error" role="alert">{error}</p><a href={back} onClick={linkClick}>Back to search</a></div>;
  // The controls are the same elements while the next sighting loads, so the focus stays on the one used; one
  // with nowhere to go is marked disabled but stays focusable for the same reason.
  const stepLink = (rel: "prev" | "next", to: Sighting | null | undefined, label: string) => (
    <a ref={rel === "prev" ? prevEl : nextEl} rel={rel} href={to ? linkTo(to) : undefined} onClick={stepClick}
      role={to ? undefined : "link"} tabIndex={to ? undefined : 0} aria-disabled={to ? undefined : "true"}
      class={to ? undefined : "muted"}
      aria-keyshortcuts={rel === "prev" ? "K ArrowLeft" : "J ArrowRight"}>{label}</a>
  );
  const header = (
    <div class="row" style="justify-content: space-between">
      <h1>{s ? <>{s.tag} <span class="muted">{formatConfidence(s.confidence)} · {s.camera.name}</span></>
        : <span class="muted" aria-live="polite">Loading…</span>}</h1>
      <div class="row">
        <a href={back} onClick={backClick}>Back to results</a>
        {stepLink("prev", place?.prev, "← Previous")}
        {stepLink("next", place?.next, "Next →")}
        <span class="muted" data-testid="position" aria-live="polite">
          {place ? place.label : list === null ? "Not among the first results of this search" : ""}
        </span>
        <button type="button" onClick={copy}>Copy link</button>
        <span aria-live="polite" class="ok">{copied}</span>
      </div>
    </div>
  );
  if (!s) return <article>{header}</article>;
  return (
    <article data-sighting={s.id}>
      {header}
      <div class="row playback-bar">
        {pb.phase === "ready" && pb.masked && (
          <span class="badge" data-testid="masked-badge">{maskedBadge(pb.masking)}</span>
        )}
        {pb.phase === "ready" && unmask && !pb.masked && (
          <span class="badge warn" data-testid="unmasked-badge">Unmasked</span>
        )}
        {me?.may_unmask && (unmask || pb.phase !== "ready" || pb.masked) && (
          <>
            <label class="check">
              <input type="checkbox" role="switch" checked={unmask} aria-describedby="unmask-note"
                onChange={(e) => toggleUnmask(e.currentTarget.checked)} data-testid="unmask" />
              Show unmasked
            </label>
            <span id="unmask-note" class="muted small">Each unmasked view is recorded in the audit trail.</span>
          </>
        )}
        {mayExport(me?.role) && <ExportPanel sighting={s} me={me} />}
      </div>
      <div class="player">
        {!src && pb.phase !== "failed" && (
          <div class="player-status" role="status" data-testid="playback-status" data-phase={pb.phase}>
            {pb.phase === "preparing" ? (
              <>
                <span>{preparingLabel(pb.progress)}</span>
                <progress max={1} value={pb.progress} aria-label="Masked video preparation" />
              </>
            ) : <span>Loading the video…</span>}
          </div>
        )}
        {pb.phase === "failed" && (
          <div class="player-status" data-testid="playback-failed">
            <p class="error" role="alert">{pb.error}</p>
            <button type="button" onClick={() => watcher.current?.retry()}>Try again</button>
          </div>
        )}
        {src && pb.phase !== "failed" && (
          <video ref={video} src={src.includes("#") ? src : `${src}#t=${s.offset_s}`} controls autoPlay muted playsInline
            preload="auto" onLoadedMetadata={onMeta} onLoadedData={onFrameReady} onSeeked={onFrameReady}
            onResize={() => draw(lastT.current ?? undefined)} data-testid="video"
            onError={(e) => {
              const err = (e.currentTarget as HTMLVideoElement).error;
              // E.g. a rendition being remade meanwhile (a re-analysis) answers 202: "Try again" asks anew.
              setPb({ phase: "failed", error: `The video could not be played${err?.message ? `: ${err.message}` : ""}.` });
            }}
            aria-label={`Clip of ${s.camera.name} at ${formatTime(s.best_time)}`} />
        )}
        {src && pb.phase !== "failed" && (
          <div ref={boxEl} class="box" data-testid="box" data-mode={track ? "track" : "best"} aria-hidden="true">
            <span>{s.tag} {formatConfidence(s.confidence)}</span>
          </div>
        )}
        {src && pb.phase !== "failed" && (
          <PlayerClock video={video} bestTime={s.best_time} offsetS={s.offset_s} start={s.start} end={s.end} />
        )}
      </div>
      <div class="sighting-details">
        <dl class="facts">
          <dt>Camera</dt><dd>{s.camera.name}</dd>
          <dt>Best moment</dt><dd>{formatTime(s.best_time)} ({s.offset_s.toFixed(1)} s into the clip)</dd>
          <dt>Seen</dt><dd>{formatTime(s.start)} – {formatTime(s.end)}</dd>
          {Object.keys(s.colors ?? {}).length > 0 && (
            <><dt>Colours</dt><dd><ColourDots colors={s.colors} />{colourWords(s.colors)}</dd></>
          )}
          <dt>Detections</dt><dd>{s.detections}</dd>
          <dt>Model</dt><dd>{s.model}</dd>
        </dl>
        {track && (
          <TrackPath points={track.points} truncated={track.truncated} still={still} thumbnailUrl={withUnmask(s.thumbnail_url, unmask)}
            bestBox={s.box as Box} tag={s.tag}
            aspect={video.current?.videoWidth ? video.current.videoWidth / video.current.videoHeight : 4 / 3} />
        )}
      </div>
      <SimilarPanel sighting={s} />
    </article>
  );
}
