"""Search over the ``Sighting`` table with the Django ORM: the embedded default's backend."""

from __future__ import annotations

from django.db.models import Count, F, Max, Min, Q, QuerySet, Value
from django.db.models.fields import BigIntegerField

from search.models import Sighting

from .base import (
    Facets,
    Histogram,
    SearchBackend,
    SearchPage,
    SearchQuery,
    SightingHit,
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
        model=row.model, thumbnail=row.thumbnail,
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
        lo, hi = query.start_ms, query.end_ms
        if lo is None or hi is None:
            bounds = qs.aggregate(lo=Min("start_ms"), hi=Max("start_ms"))
            lo = lo if lo is not None else bounds["lo"]
            hi = hi if hi is not None else bounds["hi"]
        if lo is None or hi is None:
            return Facets(tags=tags, cameras=cameras, histogram=Histogram(interval_ms=3_600_000, buckets=[]))
        interval = choose_interval(lo, hi)
        bucket = F("start_ms") / Value(interval, output_field=BigIntegerField())
        rows = qs.annotate(bucket=bucket).values_list("bucket").annotate(n=Count("*")).order_by("bucket")
        return Facets(
            tags=tags, cameras=cameras,
            histogram=Histogram(interval_ms=interval, buckets=[(int(b) * interval, n) for b, n in rows]),
        )

    def get(self, sighting_id: int) -> SightingHit | None:
        row = Sighting.objects.filter(id=sighting_id).first()
        return None if row is None else sighting_hit(row)
