"""The JSON shape of a sighting and of a search page: one definition for the REST API and the live feed."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.cameras.models import Camera

from .backends.base import SearchPage, SightingHit


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def sighting_to_dict(hit: SightingHit, camera_names: dict[int, str]) -> dict[str, object]:
    offset_s = round(hit.best_offset_ms / 1000, 3)
    return {
        "id": hit.id, "tag": hit.label, "confidence": hit.confidence,
        "camera": {"id": hit.camera_id, "name": camera_names.get(hit.camera_id, "")},
        "start": _iso(hit.start_ms), "end": _iso(hit.end_ms), "best_time": _iso(hit.best_ms),
        "box": list(hit.box), "detections": hit.detections, "model": hit.model, "clip": hit.best_clip_id,
        "offset_s": offset_s, "colors": hit.colors(),
        "thumbnail_url": f"/api/v1/sightings/{hit.id}/thumbnail/",
        "clip_url": f"/api/v1/clips/{hit.best_clip_id}/video/#t={offset_s}",
    }


def page_to_dict(page: SearchPage) -> dict[str, object]:
    ids = {h.camera_id for h in page.results}
    if page.facets:
        ids |= set(page.facets.cameras)
    names = dict(Camera.objects.filter(id__in=ids).values_list("id", "name"))
    facets = None
    if page.facets:
        f = page.facets
        facets = {
            "tags": dict(sorted(f.tags.items(), key=lambda kv: (-kv[1], kv[0]))),
            "colors": {a: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for a, c in f.colors.items()},
            "cameras": [{"id": c, "name": names.get(c, ""), "count": n}
                        for c, n in sorted(f.cameras.items(), key=lambda kv: (-kv[1], kv[0]))],
            "histogram": {"interval_s": f.histogram.interval_ms // 1000,
                          "buckets": [{"start": _iso(s), "count": n} for s, n in f.histogram.buckets]},
        }
    return {"results": [sighting_to_dict(h, names) for h in page.results], "next_cursor": page.next_cursor,
            "facets": facets}
