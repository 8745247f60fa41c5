import { useEffect, useState } from "preact/hooks";
import { api, type Camera, type Gap, type Me } from "../api/client";
import { encodeState, emptyState } from "../lib/query";
import { errorMessage, formatAgo, formatDuration, formatTime } from "../lib/format";
import { linkClick } from "../lib/router";
import { AnalysisQueue } from "../components/AnalysisQueue";

function Gaps({ id }: { id: number }) {
  const [gaps, setGaps] = useState<Gap[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.GET("/api/v1/cameras/{id}/gaps/", { params: { path: { id } } })
      .then(({ data, error: err }) => (data ? setGaps(data) : setError(errorMessage(err))));
  }, [id]);
  if (error) return <p class="error">{error}</p>;
  if (!gaps) return <p class="muted">Loading…</p>;
  if (!gaps.length) return <p class="muted">No recording gaps.</p>;
  return (
    <ul>{gaps.slice(0, 50).map((g) => (
      <li>{formatTime(g.start)} – {formatTime(g.end)} <span class="muted">({formatDuration(g.seconds)})</span></li>
    ))}</ul>
  );
}

export function CamerasPage({ me }: { me: Me | null }) {
  const [cams, setCams] = useState<Camera[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  useEffect(() => {
    api.GET("/api/v1/cameras/").then(({ data, error: err }) => (data ? setCams(data) : setError(errorMessage(err))));
  }, []);
  const admin = me?.role === "admin";
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!cams) return <p class="muted">Loading…</p>;
  return (
    <div>
      <h1>Cameras</h1>
      {cams.length === 0 && <p class="muted">No cameras you may see.</p>}
      <table>
        <thead><tr><th scope="col">Camera</th><th scope="col">Site</th><th scope="col">State</th>
          <th scope="col">Last seen</th><th scope="col">Problem</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {cams.map((c) => [
            <tr>
              <th scope="row">{c.name}</th>
              <td>{c.site}</td>
              <td><span class={`state ${c.state}`}>{c.enabled ? c.state : "disabled"}</span></td>
              <td title={formatTime(c.last_seen_at)}>{formatAgo(c.last_seen_at)}</td>
              <td class={c.last_error ? "error" : "muted"}>{c.last_error || "—"}</td>
              <td class="row">
                <button type="button" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>
                  Gaps</button>
                <a href={`/?${encodeState({ ...emptyState(), cameras: [c.id] })}`} onClick={linkClick}>Sightings</a>
                {c.has_live_view && <a href={`/cameras/${c.id}/live`} onClick={linkClick}>Watch live</a>}
                {admin && <a href={`/admin/cameras/camera/${c.id}/change/`}>Edit</a>}
              </td>
            </tr>,
            open === c.id ? <tr><td colSpan={6}><Gaps id={c.id} /></td></tr> : null,
          ])}
        </tbody>
      </table>
      <AnalysisQueue />
    </div>
  );
}
