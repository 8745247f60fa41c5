import { useEffect, useState } from "preact/hooks";
import { api, type Sighting } from "../api/client";
import { errorMessage, formatConfidence, formatTime } from "../lib/format";
import { linkClick } from "../lib/router";
import { AuthImg } from "./Media";

type Similar = Sighting & { similarity: number };
type Scope = "camera" | "all";

/**
 * "Find similar": the sightings that look most like this one (same label; by the appearance of their best
 * detections), on this camera or every camera the user may see, most similar first. Asked for on demand.
 */
export function SimilarPanel({ sighting }: { sighting: Sighting }) {
  const [scope, setScope] = useState<Scope | null>(null);
  const [found, setFound] = useState<Similar[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => { setScope(null); setFound(null); setError(null); }, [sighting.id]);
  useEffect(() => {
    if (!scope) return;
    let live = true;
    setFound(null);
    setError(null);
    api.GET("/api/v1/sightings/{sighting_id}/similar/", {
      params: { path: { sighting_id: sighting.id }, query: { limit: 12, ...(scope === "camera" ? { camera: [sighting.camera.id] } : {}) } },
    }).then(({ data, error: err, response }) => {
      if (!live) return;
      if (data) setFound(data.results as Similar[]);
      else setError(errorMessage(err, `Could not find similar sightings (${response.status})`));
    });
    return () => { live = false; };
  }, [scope, sighting.id]);
  return (
    <section class="similar" aria-labelledby="similar-h" data-testid="similar">
      <div class="row">
        <h2 id="similar-h">Looks similar</h2>
        <button type="button" aria-pressed={scope === "camera"} onClick={() => setScope("camera")} data-testid="similar-camera">
          Find similar on this camera
        </button>
        <button type="button" aria-pressed={scope === "all"} onClick={() => setScope("all")} data-testid="similar-all">
          On all cameras
        </button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {scope && !found && !error && <p class="muted" aria-live="polite">Looking…</p>}
      {found && found.length === 0 && (
        <p class="muted" data-testid="similar-empty">No similar {sighting.tag} sightings. (Footage analysed before
          appearance search has nothing to compare.)</p>
      )}
      {found && found.length > 0 && (
        <ul class="grid similar-grid">
          {found.map((s) => (
            <li key={s.id}>
              <a class="card" href={`/sightings/${s.id}`} onClick={linkClick} data-testid="similar-result" data-id={s.id}>
                <div class="thumb"><AuthImg src={s.thumbnail_url} alt={`${s.tag} on ${s.camera.name}`} /></div>
                <div class="meta">
                  <time class="when" dateTime={s.start}>{formatTime(s.start)}</time>
                  <span>{s.tag}</span>
                  <span class="conf" title={`Confidence ${formatConfidence(s.confidence)}`}>
                    {Math.round(s.similarity * 100)}% alike
                  </span>
                  <span class="cam" title={s.camera.name}>{s.camera.name}</span>
                </div>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
