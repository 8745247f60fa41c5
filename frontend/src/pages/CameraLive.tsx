import { useEffect, useState } from "preact/hooks";
import { api, type Camera, type Me } from "../api/client";
import { LiveVideo } from "../components/LiveVideo";
import { errorMessage } from "../lib/format";
import { liveError } from "../lib/liveview";
import { linkClick } from "../lib/router";

/** `/cameras/<id>/live`: one camera's live picture. */
export function CameraLivePage({ id, me }: { id: number; me: Me | null }) {
  const [cam, setCam] = useState<Camera | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setCam(null); setError(null);
    api.GET("/api/v1/cameras/{id}/", { params: { path: { id } } }).then(({ data, error: err, response }) => {
      if (!data) { setError(response.status === 404 ? liveError(404) : errorMessage(err)); return; }
      setCam(data);
      document.title = `${data.name} · Live · Sightline`;
    });
  }, [id]);
  const back = <a href="/cameras" onClick={linkClick}>Back to cameras</a>;
  if (error) return <div><p class="error" role="alert">{error}</p>{back}</div>;
  if (!cam) return <p class="muted" aria-live="polite">Loading…</p>;
  return (
    <article>
      <div class="row" style="justify-content: space-between">
        <h1>{cam.name} <span class="muted">live{cam.site ? ` · ${cam.site}` : ""}</span></h1>
        {back}
      </div>
      <LiveVideo key={cam.id} camera={cam} me={me} />
    </article>
  );
}
