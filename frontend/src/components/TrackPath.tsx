import { useEffect, useState } from "preact/hooks";
import { mediaUrl, type TrackPoint } from "../api/client";
import { cropOf, footPath, svgPoints, toImage, type Box } from "../lib/track";

/** A frame of the clip captured at the best moment (a data URL of videoWidth × videoHeight pixels). */
export interface Still { url: string; w: number; h: number }

const HEIGHT_PX = 300;

/**
 * The object's path over its best-frame image: a line through the feet (bottom centre) of every detection,
 * its start and end marked. The image is the still captured from the clip when there is one (the whole
 * frame), else the sighting's thumbnail (a crop around the best box: the path is drawn in its coordinates),
 * else a blank frame. The drawing is decorative (aria-hidden); the caption says what it shows.
 */
export function TrackPath({ points, truncated, still, thumbnailUrl, bestBox, tag, aspect }: {
  points: TrackPoint[]; truncated: boolean; still: Still | null; thumbnailUrl: string; bestBox: Box; tag: string;
  aspect: number;
}) {
  const [thumb, setThumb] = useState<string | null>(null);
  const [thumbSize, setThumbSize] = useState<{ w: number; h: number } | null>(null);
  const [thumbFailed, setThumbFailed] = useState(false);

  useEffect(() => {
    if (still) return;
    const ctl = new AbortController();
    let revoke = () => {};
    mediaUrl(thumbnailUrl, ctl.signal).then((m) => { revoke = m.revoke; setThumb(m.url); })
      .catch(() => setThumbFailed(true));
    return () => { ctl.abort(); revoke(); };
  }, [thumbnailUrl, still]);

  const path = footPath(points);
  let url: string | null = null;
  let size: { w: number; h: number } | null;
  let view: Box = [0, 0, 1, 1];
  let kind: "frame" | "thumbnail" | "blank";
  if (still) {
    url = still.url; size = { w: still.w, h: still.h }; kind = "frame";
  } else if (thumb && !thumbFailed) {
    url = thumb; size = thumbSize; view = cropOf(bestBox); kind = "thumbnail";
  } else {
    size = { w: Math.round(1000 * (aspect || 4 / 3)), h: 1000 }; kind = "blank";
  }
  const ratio = size ? size.w / size.h : aspect || 4 / 3;
  const pts = size ? toImage(path, view, size.w, size.h) : [];
  const mark = size ? Math.max(size.w, size.h) / 45 : 0;
  const start = pts[0];
  const end = pts[pts.length - 1];
  const what = kind === "frame" ? "the frame of the best moment" : kind === "thumbnail" ? "the best detection's picture"
    : "a blank frame";

  return (
    <figure class="track-path" data-testid="track-path" data-view={kind}>
      <div class="frame" style={{ aspectRatio: `${ratio}`, width: `min(100%, ${Math.round(HEIGHT_PX * ratio)}px)` }}>
        {url && (
          <img src={url} alt={`${tag} at the best moment`} onError={() => !still && setThumbFailed(true)}
            onLoad={(e) => {
              const img = e.currentTarget as HTMLImageElement;
              if (!still) setThumbSize({ w: img.naturalWidth, h: img.naturalHeight });
            }} />
        )}
        {size && start && (
          <svg viewBox={`0 0 ${size.w} ${size.h}`} aria-hidden="true" focusable="false" data-testid="path">
            <polyline points={svgPoints(pts)} />
            <circle class="start" cx={start[0]} cy={start[1]} r={mark} data-testid="path-start" />
            <rect class="end" x={end[0] - mark} y={end[1] - mark} width={2 * mark} height={2 * mark}
              data-testid="path-end" />
          </svg>
        )}
      </div>
      <figcaption class="muted">
        {path.length
          ? <>Path of the {tag}'s feet over {what}, through {points.length} detections{truncated ? " (thinned)" : ""}:
            round mark at the start, square at the end.</>
          : "No path: the track has no detections left."}
      </figcaption>
    </figure>
  );
}
