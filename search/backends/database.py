"""Search over the ``Sighting`` table with the Django ORM: the embedded default's backend."""

from __future__ import annotations

import numpy as np
from django.db.models import Count, F, Max, Min, Q, QuerySet, Value
from django.db.models.fields import BigIntegerField

from backend.eventlog.schema import COLOR_ATTRIBUTES
from search.models import Sighting
from search.sightings import unpack_embedding

from .base import (
    Facets,
    Histogram,
    SearchBackend,
    SearchPage,
    SearchQuery,
    SightingHit,
    SimilarHit,
    SimilarQuery,
    choose_interval,
    decode_cursor,
    encode_cursor,
    sort_key,
)

_ORDER = {"-confidence": ("-confidence", "-id"), "-time": ("-start_ms", "-id"), "time": ("start_ms", "id")}


def sighting_hit(row: Sighting) -> SightingHit:
    """The backend-neutral value of one ``Sighting`` row."""
    return SightingHit(
        id=row.id, label=row.label, confidence=row.confidence, camera_id=row.camera_id, start_ms=row.start_ms,
        end_ms=row.end_ms, best_ms=row.best_ms, best_clip_id=row.best_clip_id,
        best_offset_ms=row.best_offset_ms, box=(row.x1, row.y1, row.x2, row.y2), detections=row.detections,
        model=row.model, thumbnail=row.thumbnail, upper_color=row.upper_color, lower_color=row.lower_color,
        color=row.color,
    )


class DatabaseSearchBackend(SearchBackend):
    name = "database"

    def _filtered(self, query: SearchQuery, *, skip: str = "") -> QuerySet[Sighting]:
        qs = Sighting.objects.all()
        if query.tags and skip != "tags":
            qs = qs.filter(label__in=query.tags)
        if skip == "cameras":
            if query.visible_cameras is not None:
                qs = qs.filter(camera_id__in=query.visible_cameras)
        else:
            cameras = query.effective_cameras()
            if cameras is not None:
                qs = qs.filter(camera_id__in=cameras)
        for attribute, values in query.color_filters().items():
            if skip != attribute:
                qs = qs.filter(**{f"{attribute}__in": values})
        if query.min_confidence > 0:
            qs = qs.filter(confidence__gte=query.min_confidence)
        # A sighting matches a time range when the time it covers overlaps the range. No sighting lasts
        # longer than the longest one, which bounds the scan on the start_ms index from below.
        start_ms, end_ms = query.start_ms, query.end_ms
        if start_ms is not None:
            qs = qs.filter(end_ms__gte=start_ms, start_ms__gte=start_ms - self._longest_ms())
        if end_ms is not None:
            qs = qs.filter(start_ms__lt=end_ms)
        return qs

    @staticmethod
    def _longest_ms() -> int:
        return Sighting.objects.order_by("-duration_ms").values_list("duration_ms", flat=True).first() or 0

    def search(self, query: SearchQuery, *, facets: bool = True) -> SearchPage:
        qs = self._filtered(query)
        page_qs = qs
        if query.cursor:
            value, ident = decode_cursor(query.cursor, query.sort)
            if query.sort == "-confidence":
                page_qs = qs.filter(Q(confidence__lt=value) | Q(confidence=value, id__lt=ident))
            elif query.sort == "-time":
                page_qs = qs.filter(Q(start_ms__lt=value) | Q(start_ms=value, id__lt=ident))
            else:
                page_qs = qs.filter(Q(start_ms__gt=value) | Q(start_ms=value, id__gt=ident))
        rows = list(page_qs.order_by(*_ORDER[query.sort])[: query.page_size + 1])
        hits = [sighting_hit(r) for r in rows[: query.page_size]]
        next_cursor = (
            encode_cursor(query.sort, sort_key(hits[-1], query.sort)) if len(rows) > query.page_size else None
        )
        return SearchPage(results=hits, next_cursor=next_cursor, facets=self._facets(query, qs) if facets else None)

    def _facets(self, query: SearchQuery, qs: QuerySet[Sighting]) -> Facets:
        tags = dict(self._filtered(query, skip="tags").values_list("label").annotate(n=Count("*")))
        cameras = dict(self._filtered(query, skip="cameras").values_list("camera_id").annotate(n=Count("*")))
        colors = {a: dict(self._filtered(query, skip=a).exclude(**{a: ""}).values_list(a).annotate(n=Count("*")))
                  for a in COLOR_ATTRIBUTES}
        lo, hi = query.start_ms, query.end_ms
        if lo is None or hi is None:
            bounds = qs.aggregate(lo=Min("start_ms"), hi=Max("start_ms"))
            lo = lo if lo is not None else bounds["lo"]
            hi = hi if hi is not None else bounds["hi"]
        if lo is None or hi is None:
            return Facets(tags=tags, cameras=cameras, histogram=Histogram(interval_ms=3_600_000, buckets=[]),
                          colors=colors)
        interval = choose_interval(lo, hi)
        bucket = F("start_ms") / Value(interval, output_field=BigIntegerField())
        rows = qs.annotate(bucket=bucket).values_list("bucket").annotate(n=Count("*")).order_by("bucket")
        return Facets(
            tags=tags, cameras=cameras, colors=colors,
            histogram=Histogram(interval_ms=interval, buckets=[(int(b) * interval, n) for b, n in rows]),
        )

    def similar(self, query: SimilarQuery) -> list[SimilarHit]:
        """Exact search: every candidate's descriptor against the sighting's (one matrix product). The filters
        (label, cameras, time) run in the database first, so it reads only the candidates."""
        row = Sighting.objects.filter(id=query.of).values_list("label", "embedding").first()
        target = unpack_embedding(row[1]) if row else None
        if row is None or target is None:
            return []
        candidates = (self._filtered(query.as_search(row[0])).exclude(id=query.of).exclude(embedding=None)
                      .values_list("id", "embedding"))
        ids: list[int] = []
        chunks: list[bytes] = []
        for ident, raw in candidates.iterator(chunk_size=2000):
            ids.append(ident)
            chunks.append(bytes(raw or b""))
        if not ids:
            return []
        scores = np.frombuffer(b"".join(chunks), dtype="<f4").reshape(len(ids), -1) @ target
        order = np.lexsort((np.asarray(ids), -scores))[: query.limit]
        rows = Sighting.objects.in_bulk([ids[i] for i in order])
        return [SimilarHit(hit=sighting_hit(rows[ids[i]]), similarity=round(float(min(max(scores[i], 0.0), 1.0)), 4))
                for i in order]

    def get(self, sighting_id: int) -> SightingHit | None:
        row = Sighting.objects.filter(id=sighting_id).first()
        return None if row is None else sighting_hit(row)
