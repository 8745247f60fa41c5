import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, mediaUrl, type Sighting } from "../api/client";
import { boxToPixels, contentRect, errorMessage, formatConfidence, formatTime } from "../lib/format";
import { decodeState, encodeState } from "../lib/query";
import { linkClick } from "../lib/router";

/** Previous and next sighting of the same camera in time order (keeping the search's confidence floor). */
async function neighbours(s: Sighting, minConfidence: number): Promise<{ prev?: Sighting; next?: Sighting }> {
  const base = { camera: [s.camera.id], min_confidence: minConfidence, page_size: 20, facets: false };
  const pick = (list: Sighting[]) => {
    const i = list.findIndex((x) => x.id === s.id);
    return i >= 0 ? list[i + 1] : list.find((x) => x.id !== s.id);
  };
  const [after, before] = await Promise.all([
    api.GET("/api/v1/search/", { params: { query: { ...base, sort: "time", start: s.start } } }),
    api.GET("/api/v1/search/", { params: { query: { ...base, sort: "-time", end: s.end } } }),
  ]);
  return { next: after.data ? pick(after.data.results) : undefined, prev: before.data ? pick(before.data.results) : undefined };
}

export function SightingPage({ id, search }: { id: number; search: string }) {
  const [s, setS] = useState<Sighting | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [nb, setNb] = useState<{ prev?: Sighting; next?: Sighting }>({});
  const [src, setSrc] = useState<string | null>(null);
  const [copied, setCopied] = useState("");
  const [box, setBox] = useState<{ left: number; top: number; width: number; height: number } | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const q = decodeState(search);
  const qs = encodeState(q);

  useEffect(() => {
    let revoke = () => {};
    setS(null); setError(null); setSrc(null); setNb({});
    (async () => {
      const { data, error: err, response } = await api.GET("/api/v1/sightings/{sighting_id}/", {
        params: { path: { sighting_id: id } },
      });
      if (!data) { setError(response.status === 404 ? "No such sighting (or not on a camera you may see)." : errorMessage(err)); return; }
      setS(data);
      document.title = `${data.tag} ${formatConfidence(data.confidence)} · ${data.camera.name} · Sightline`;
      neighbours(data, q.minConfidence).then(setNb).catch(() => undefined);
      try {
        const m = await mediaUrl(data.clip_url);
        revoke = m.revoke;
        setSrc(m.url);
      } catch (e) { setError(`The clip could not be loaded: ${(e as Error).message}`); }
    })();
    return () => revoke();
  }, [id]);

  // Keep the box over the object whatever size the video is rendered at.
  const place = () => {
    const v = video.current;
    if (!v || !s) return;
    setBox(boxToPixels(s.box, contentRect(v.clientWidth, v.clientHeight, v.videoWidth, v.videoHeight)));
  };
  useLayoutEffect(() => {
    const v = video.current;
    if (!v) return;
    const ro = new ResizeObserver(place);
    ro.observe(v);
    return () => ro.disconnect();
  }, [src, s]);

  const onMeta = () => {
    const v = video.current;
    if (v && s && Math.abs(v.currentTime - s.offset_s) > 0.25) v.currentTime = s.offset_s;
    place();
  };

  const copy = async () => {
    try { await navigator.clipboard.writeText(location.href); setCopied("Link copied."); }
    catch { setCopied(`Copy this link: ${location.href}`); }
  };

  const back = qs ? `/?${qs}` : "/";
  if (error) return <div><p class="error" role="alert">{error}</p><a href={back} onClick={linkClick}>Back to search</a></div>;
  if (!s) return <p class="muted" aria-live="polite">Loading…</p>;
  const link = (x?: Sighting) => (x ? `/sightings/${x.id}${qs ? `?${qs}` : ""}` : undefined);
  return (
    <article>
      <div class="row" style="justify-content: space-between">
        <h1>{s.tag} <span class="muted">{formatConfidence(s.confidence)} · {s.camera.name}</span></h1>
        <div class="row">
          <a href={back} onClick={linkClick}>Back to results</a>
          {nb.prev ? <a href={link(nb.prev)} onClick={linkClick} rel="prev">← Previous</a> : <span class="muted">← Previous</span>}
          {nb.next ? <a href={link(nb.next)} onClick={linkClick} rel="next">Next →</a> : <span class="muted">Next →</span>}
          <button type="button" onClick={copy}>Copy link</button>
          <span aria-live="polite" class="ok">{copied}</span>
        </div>
      </div>
      <div class="player">
        {src && (
          <video ref={video} src={src.includes("#") ? src : `${src}#t=${s.offset_s}`} controls autoPlay muted playsInline
            preload="auto" onLoadedMetadata={onMeta} onResize={place} data-testid="video"
            aria-label={`Clip of ${s.camera.name} at ${formatTime(s.best_time)}`} />
        )}
        {box && (
          <div class="box" data-testid="box" style={{ left: `${box.left}px`, top: `${box.top}px`, width: `${box.width}px`,
            height: `${box.height}px` }} aria-hidden="true"><span>{s.tag} {formatConfidence(s.confidence)}</span></div>
        )}
      </div>
      <dl class="facts">
        <dt>Camera</dt><dd>{s.camera.name}</dd>
        <dt>Best moment</dt><dd>{formatTime(s.best_time)} ({s.offset_s.toFixed(1)} s into the clip)</dd>
        <dt>Seen</dt><dd>{formatTime(s.start)} – {formatTime(s.end)}</dd>
        <dt>Detections</dt><dd>{s.detections}</dd>
        <dt>Model</dt><dd>{s.model}</dd>
      </dl>
    </article>
  );
}
