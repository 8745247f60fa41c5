import { useEffect, useState } from "preact/hooks";
import { api, type Camera, type Gap, type Me } from "../api/client";
import { encodeState, emptyState } from "../lib/query";
import { STATUS_LABEL } from "../lib/cameras";
import { errorMessage, formatDuration, formatTime, zoneLabel } from "../lib/format";
import { linkClick } from "../lib/router";
import { AnalysisQueue } from "../components/AnalysisQueue";
import { CameraDialog, DeleteCameraDialog } from "../components/CameraDialog";
import { When } from "../components/CameraTile";
import "../cameras.css";

/** Recording gaps; a camera that never sent video has none to list, and says so. */
function Gaps({ camera }: { camera: Camera }) {
  const [gaps, setGaps] = useState<Gap[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const never = !camera.last_seen_at;
  useEffect(() => {
    if (never) return;
    api.GET("/api/v1/cameras/{id}/gaps/", { params: { path: { id: camera.id } } })
      .then(({ data, error: err }) => (data ? setGaps(data) : setError(errorMessage(err))));
  }, [camera.id, never]);
  if (never) {
    return <p class="muted">Never recorded{camera.status === "uploads" ? ": its footage is uploaded." : "."}</p>;
  }
  if (error) return <p class="error">{error}</p>;
  if (!gaps) return <p class="muted">Loading…</p>;
  if (!gaps.length) return <p class="muted">No recording gaps.</p>;
  return (
    <ul>{gaps.slice(0, 50).map((g) => (
      <li>{formatTime(g.start)} – {formatTime(g.end)} {zoneLabel(g.start)} <span class="muted">({formatDuration(g.seconds)})</span></li>
    ))}</ul>
  );
}

/**
 * `/cameras`: every camera the user may see, its status and problem in plain words (the recorder's raw reason
 * is under "Details" for admins only), and for admins adding, editing and deleting cameras here (the Django
 * admin keeps grants, retention, masking and tracked objects). The table scrolls inside its own box on a
 * narrow screen, so the page itself never scrolls sideways.
 */
export function CamerasPage({ me }: { me: Me | null }) {
  const [cams, setCams] = useState<Camera[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [editing, setEditing] = useState<Camera | "new" | null>(null);
  const [deleting, setDeleting] = useState<Camera | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () => api.GET("/api/v1/cameras/").then(({ data, error: err }) => (data ? setCams(data) : setError(errorMessage(err))));
  useEffect(() => { load(); }, []);
  const admin = me?.role === "admin";
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!cams) return <p class="muted">Loading…</p>;
  return (
    <div>
      <div class="row cams-head">
        <h1 id="cams-h">Cameras</h1>
        {admin && <button type="button" class="primary" onClick={() => { setNotice(null); setEditing("new"); }}>Add camera</button>}
      </div>
      <p role="status" class="ok">{notice ?? ""}</p>
      {cams.length === 0 && <p class="muted">No cameras you may see.</p>}
      <div class="cams-scroll" role="region" aria-labelledby="cams-h" tabIndex={0} data-testid="cameras-table">
        <table class="cams-table">
          <thead><tr><th scope="col">Camera</th><th scope="col">Site</th><th scope="col">Status</th>
            <th scope="col">Last video</th><th scope="col">Problem</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {cams.map((c) => [
              <tr data-camera={c.id}>
                <th scope="row">{c.name}</th>
                <td>{c.site}</td>
                <td><span class={`cam-status ${c.status}`} data-testid="camera-status">{STATUS_LABEL[c.status]}</span></td>
                <td><When iso={c.last_seen_at} /></td>
                <td class="cams-problem" data-testid="camera-problem">
                  {c.problem ? <span class="error">{c.problem}</span> : <span class="muted">—</span>}
                  {admin && c.problem && c.last_error && (
                    <details class="small"><summary>Details</summary><code data-testid="camera-raw-error">{c.last_error}</code></details>
                  )}
                </td>
                <td><div class="cams-actions">
                  <button type="button" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>Gaps</button>
                  <a href={`/?${encodeState({ ...emptyState(), cameras: [c.id] })}`} onClick={linkClick}>Sightings</a>
                  {c.has_live_view && <a href={`/cameras/${c.id}/live`} onClick={linkClick}>Watch live</a>}
                  {admin && <button type="button" onClick={() => { setNotice(null); setEditing(c); }}
                    aria-label={`Edit ${c.name}`}>Edit</button>}
                  {admin && <button type="button" onClick={() => { setNotice(null); setDeleting(c); }}
                    aria-label={`Delete ${c.name}`}>Delete</button>}
                </div></td>
              </tr>,
              open === c.id ? <tr><td colSpan={6}><Gaps camera={c} /></td></tr> : null,
            ])}
          </tbody>
        </table>
      </div>
      {editing && (
        <CameraDialog camera={editing === "new" ? null : editing} onClose={() => setEditing(null)}
          onSaved={(c) => { setNotice(`${c.name} ${editing === "new" ? "added" : "saved"}.`); setEditing(null); load(); }} />
      )}
      {deleting && (
        <DeleteCameraDialog camera={deleting} onClose={() => setDeleting(null)}
          onDeleted={() => { setNotice(`${deleting.name} deleted.`); setDeleting(null); load(); }} />
      )}
      <AnalysisQueue />
    </div>
  );
}
