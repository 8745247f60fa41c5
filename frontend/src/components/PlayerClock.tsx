import type { RefObject } from "preact";
import { useEffect, useState } from "preact/hooks";
import { clipStartMs, seenSpan } from "../lib/clock";
import { formatTime, zoneLabel } from "../lib/format";

/**
 * Over the player: the time of day of the frame shown (clip start + current time), with its zone. Under it: the
 * clip's length as a bar with the sighting's seen interval marked; clicking the mark plays from its start.
 */
export function PlayerClock({ video, bestTime, offsetS, start, end }: {
  video: RefObject<HTMLVideoElement>; bestTime: string; offsetS: number; start: string; end: string;
}) {
  const [now, setNow] = useState(offsetS);
  const [duration, setDuration] = useState(NaN);
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const tick = () => setNow(v.currentTime);
    const meta = () => setDuration(v.duration);
    v.addEventListener("timeupdate", tick);
    v.addEventListener("seeked", tick);
    v.addEventListener("loadedmetadata", meta);
    if (v.readyState >= 1) meta();
    return () => {
      v.removeEventListener("timeupdate", tick);
      v.removeEventListener("seeked", tick);
      v.removeEventListener("loadedmetadata", meta);
    };
  }, [video.current]);
  const origin = clipStartMs(bestTime, offsetS);
  const at = new Date(origin + now * 1000).toISOString();
  const span = seenSpan(origin, duration, start, end);
  return (
    <>
      <div class="player-clock" data-testid="player-clock" aria-live="off">
        <time dateTime={at}>{formatTime(at)}</time> <span class="tz">{zoneLabel(at)}</span>
      </div>
      {span && (
        <div class="seen-bar" data-testid="seen-bar">
          <button type="button" class="seen" style={{ left: `${span.left * 100}%`, width: `${span.width * 100}%` }}
            onClick={() => { const v = video.current; if (v) v.currentTime = (Date.parse(start) - origin) / 1000; }}
            aria-label={`Seen ${formatTime(start)} to ${formatTime(end)}: play from there`}
            title={`Seen ${formatTime(start)} – ${formatTime(end)}`} data-testid="seen-mark" />
        </div>
      )}
    </>
  );
}
