import type { Camera } from "../api/client";
import { formatAgo, formatTime, zoneLabel } from "../lib/format";
import { STATUS_LABEL } from "../lib/cameras";
import { linkClick } from "../lib/router";
import { AuthImg } from "./Media";

/** The newest sighting of a camera known to the page: its picture stands for the camera's latest view. */
export interface LatestSighting { id: number; tag: string; time: string; thumbnail_url: string }

/** `2026-11-26 10:25:57 UTC` in a <time>, or "never". */
export function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>never</span>;
  return <time dateTime={iso} title={`${formatTime(iso)} ${zoneLabel(iso)}`}>{formatAgo(iso)}</time>;
}

/**
 * One camera on the Live page: its status as the server reads it from the recorder (never "recording" when no
 * recorder holds it), when video last came, what is wrong in plain words, and the newest sighting's picture.
 * There is no still of the camera's own picture (the recorder keeps none): the sighting's crop is labelled as one.
 */
export function CameraTile({ camera, latest }: { camera: Camera; latest: LatestSighting | null }) {
  const headingId = `cam-tile-${camera.id}`;
  return (
    <li class="cam-tile" data-testid="camera-tile" data-camera={camera.id} data-status={camera.status}
      aria-labelledby={headingId}>
      <div class="cam-tile-pic">
        {latest
          ? <AuthImg src={latest.thumbnail_url} alt={`Latest sighting on ${camera.name}: ${latest.tag}`} />
          : <span class="muted">No sightings yet</span>}
      </div>
      <div class="cam-tile-body">
        <h3 id={headingId}>{camera.name}</h3>
        <p><span class={`cam-status ${camera.status}`} data-testid="camera-status">{STATUS_LABEL[camera.status]}</span></p>
        <p class="muted small">
          {camera.status === "uploads" ? "Footage is uploaded" : <>Last video <When iso={camera.last_seen_at} /></>}
        </p>
        {camera.problem && <p class="error small" data-testid="camera-problem">{camera.problem}</p>}
        {latest && (
          <p class="muted small">
            Latest: <a href={`/sightings/${latest.id}`} onClick={linkClick}>{latest.tag}</a>{" "}
            <time dateTime={latest.time}>{formatTime(latest.time)} {zoneLabel(latest.time)}</time>
          </p>
        )}
        {camera.has_live_view && <a href={`/cameras/${camera.id}/live`} onClick={linkClick}>Watch live</a>}
      </div>
    </li>
  );
}
