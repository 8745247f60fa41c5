"""Search over the sighting summaries in Elasticsearch, with the same answers as the database backend.

Filters: tag and camera go into ``post_filter`` so the facet aggregations can leave out their own filter
(tag counts ignore the tag filter, camera counts ignore the camera filter); visibility, confidence and the
time range go into the query, so they apply to everything. The histogram uses the database backend's bounds
(the query's start and end when both are given, otherwise min/max start of the filtered set: one more
request, since a histogram's interval must be known before it runs). Cursors are ``search_after`` values
written with :func:`encode_cursor`, so they have the database backend's format.

Reads only through the read alias; never writes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from elasticsearch import Elasticsearch
from elasticsearch.dsl import Q, Search
from elasticsearch.dsl.query import Query

from backend.eventlog.schema import COLOR_ATTRIBUTES

from ..base import (
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
from . import indices
from .client import Names, get_client
from .projection import ElasticsearchProjection, rebuild_index

if TYPE_CHECKING:
    from backend.eventlog.projections import Projection
    from backend.sightline.config import SightlineSettings

_SORT: dict[str, list[Any]] = {
    "-confidence": [{"confidence": "desc"}, {"id": "desc"}],
    "-time": [{"start": "desc"}, {"id": "desc"}],
    "time": [{"start": "asc"}, {"id": "asc"}],
}
#: Facet sizes: COCO has 80 labels; a deployment with more cameras than this sees the top ones only.
TAG_FACET_SIZE = 200
CAMERA_FACET_SIZE = 5000
COLOR_FACET_SIZE = 20  # the palette has 12
_EMPTY_HISTOGRAM = Histogram(interval_ms=3_600_000, buckets=[])


def _hit(source: dict[str, Any]) -> SightingHit:
    return SightingHit(
        id=source["id"],
        label=source["label"],
        confidence=source["confidence"],
        camera_id=source["camera_id"],
        start_ms=source["start"],
        end_ms=source["end"],
        best_ms=source["best"],
        best_clip_id=source["best_clip_id"],
        best_offset_ms=source["best_offset_ms"],
        box=(source["x1"], source["y1"], source["x2"], source["y2"]),
        detections=source["detections"],
        model=source["model"],
        thumbnail=source.get("thumbnail") or "",
        upper_color=source.get("upper_color") or "",
        lower_color=source.get("lower_color") or "",
        color=source.get("color") or "",
    )


#: Confirmed tracks only (search/sightings.py). "Not false" rather than "true": summaries written before the
#: rule have no ``confirmed`` and were sightings, as ``SightingSummary.from_document`` reads them.
_CONFIRMED = ~Q("term", confirmed=False)

#: alias -> (when read, histogram interval for the index's whole span): a guess, never an answer.
_BOUNDS: dict[str, tuple[float, int | None]] = {}
_BOUNDS_TTL_S = 5.0


class ElasticsearchSearchBackend(SearchBackend):
    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, names: Names, *, replicas: int = 0) -> None:
        self.client = client
        self.names = names
        self.replicas = replicas

    @classmethod
    def from_settings(cls, conf: SightlineSettings) -> ElasticsearchSearchBackend:
        if not conf.ELASTICSEARCH_URL:
            raise ValueError("the Elasticsearch search backend needs ELASTICSEARCH_URL")
        client = get_client(conf.ELASTICSEARCH_URL, username=conf.ELASTICSEARCH_USERNAME,
                            password=conf.ELASTICSEARCH_PASSWORD,
                            ca_certs=str(conf.ELASTICSEARCH_CA_CERTS) if conf.ELASTICSEARCH_CA_CERTS else None)
        return cls(client, Names(conf.ELASTICSEARCH_INDEX_PREFIX), replicas=conf.ELASTICSEARCH_REPLICAS)

    def projections(self) -> list[Projection]:
        return [ElasticsearchProjection(client=self.client, names=self.names, replicas=self.replicas)]

    def ping(self) -> bool:
        return bool(self.client.options(request_timeout=2, max_retries=0).ping())

    def rebuild(self, *, batch: int) -> str:
        result = rebuild_index(self.client, self.names, batch=batch, replicas=self.replicas)
        return (f"generation {result['generation']} is live (replaced {result['previous']}); "
                f"{result['events']} events replayed, checkpoint at {result['position']}")

    def drop_partitions_before(self, cutoff: datetime) -> list[str]:
        """Retention: delete the monthly partitions wholly before ``cutoff``; return their names."""
        return indices.drop_partitions_before(self.client, self.names, cutoff)

    def _search(self) -> Search:
        """Over the confirmed summaries: every search, facet, histogram and ``get`` starts here."""
        # A missing alias (nothing indexed yet) answers empty rather than 404.
        return Search(using=self.client, index=self.names.sightings_alias).params(
            ignore_unavailable=True,
            allow_no_indices=True,
        ).filter(_CONFIRMED)

    @staticmethod
    def _color_filters(query: SearchQuery) -> dict[str, Query]:
        return {a: Q("terms", **{a: list(v)}) for a, v in query.color_filters().items()}

    @staticmethod
    def _filters(query: SearchQuery) -> tuple[list[Query], list[Query], list[Query]]:
        """(always-applied, tag, camera) filters (the colour filters: :meth:`_color_filters`)."""
        common: list[Query] = []
        if query.visible_cameras is not None:
            common.append(Q("terms", camera_id=sorted(query.visible_cameras)))
        if query.min_confidence > 0:
            common.append(Q("range", confidence={"gte": query.min_confidence}))
        # A sighting matches a time range when the time it covers overlaps the range.
        if query.start is not None:
            common.append(Q("range", end={"gte": query.start_ms}))
        if query.end is not None:
            common.append(Q("range", start={"lt": query.end_ms}))
        tags = [Q("terms", label=list(query.tags))] if query.tags else []
        cameras = [Q("terms", camera_id=list(query.cameras))] if query.cameras else []
        return common, tags, cameras

    def search(self, query: SearchQuery, *, facets: bool = True) -> SearchPage:
        common, tags, cameras = self._filters(query)
        colors = self._color_filters(query)
        chosen = [*colors.values()]
        s = (self._search().query(Q("bool", filter=common)).sort(*_SORT[query.sort])
             .source(excludes=["embedding", "recent"]))
        # The facet filters go after the aggregations: each facet leaves its own filter out.
        if tags or cameras or chosen:
            s = s.post_filter(Q("bool", filter=tags + cameras + chosen))
        extra: dict[str, Any] = {"size": query.page_size + 1, "track_total_hits": False}
        if query.cursor:
            extra["search_after"] = list(decode_cursor(query.cursor, query.sort))
        s = s.extra(**extra)
        both_bounds = query.start_ms is not None and query.end_ms is not None
        if facets:
            s.aggs.bucket("tags", "filter", Q("bool", filter=cameras + chosen)).bucket(
                "terms", "terms", field="label", size=TAG_FACET_SIZE
            )
            s.aggs.bucket("cameras", "filter", Q("bool", filter=tags + chosen)).bucket(
                "terms", "terms", field="camera_id", size=CAMERA_FACET_SIZE
            )
            for attribute in COLOR_ATTRIBUTES:
                rest = [f for a, f in colors.items() if a != attribute]
                s.aggs.bucket(f"color:{attribute}", "filter", Q("bool", filter=tags + cameras + rest)).bucket(
                    "terms", "terms", field=attribute, size=COLOR_FACET_SIZE
                )
            everything = s.aggs.bucket("all", "filter", Q("bool", filter=tags + cameras + chosen))
            if both_bounds:
                interval = choose_interval(query.start_ms, query.end_ms)  # type: ignore[arg-type]
                everything.bucket("histogram", self._histogram(interval))
            else:
                everything.metric("lo", "min", field="start").metric("hi", "max", field="start")
                # The interval depends on the filtered bounds, known only from this answer. Guess it from the
                # whole index's bounds (usually right for broad searches); _facets asks again when it is not.
                guess = self._guess_interval()
                if guess is not None:
                    everything.bucket("guess", self._histogram(guess))
        response = s.execute().to_dict()
        rows = [h["_source"] for h in response["hits"]["hits"]]
        hits = [_hit(r) for r in rows[: query.page_size]]
        next_cursor = (
            encode_cursor(query.sort, sort_key(hits[-1], query.sort)) if len(rows) > query.page_size else None
        )
        return SearchPage(
            results=hits,
            next_cursor=next_cursor,
            facets=self._facets(query, response.get("aggregations", {})) if facets else None,
        )

    @staticmethod
    def _histogram(interval: int) -> dict[str, Any]:
        # Fixed intervals are rounded from the epoch, like the database's integer division of epoch ms.
        return {"date_histogram": {"field": "start", "fixed_interval": f"{interval}ms", "min_doc_count": 1},
                "meta": {"interval": interval}}

    def _guess_interval(self) -> int | None:
        """The histogram interval for the whole index's time span (refreshed every few seconds)."""
        alias = self.names.sightings_alias
        cached = _BOUNDS.get(alias)
        now = time.monotonic()
        if cached is None or now - cached[0] > _BOUNDS_TTL_S:
            s = self._search().extra(size=0, track_total_hits=False)
            s.aggs.metric("lo", "min", field="start").metric("hi", "max", field="start")
            aggs = s.execute().to_dict().get("aggregations", {})
            lo, hi = aggs.get("lo", {}).get("value"), aggs.get("hi", {}).get("value")
            cached = (now, None if lo is None or hi is None else choose_interval(int(lo), int(hi)))
            _BOUNDS[alias] = cached
        return cached[1]

    def _facets(self, query: SearchQuery, aggs: dict[str, Any]) -> Facets:
        if "tags" not in aggs:  # no index yet: the database backend's answer for an empty table
            both = query.start_ms is not None and query.end_ms is not None
            interval = choose_interval(query.start_ms, query.end_ms) if both else 3_600_000  # type: ignore[arg-type]
            return Facets(tags={}, cameras={}, histogram=Histogram(interval_ms=interval, buckets=[]))
        tags = {b["key"]: b["doc_count"] for b in aggs["tags"]["terms"]["buckets"]}
        cameras = {int(b["key"]): b["doc_count"] for b in aggs["cameras"]["terms"]["buckets"]}
        colors = {a: {b["key"]: b["doc_count"] for b in aggs[f"color:{a}"]["terms"]["buckets"] if b["key"]}
                  for a in COLOR_ATTRIBUTES}
        everything = aggs["all"]
        if "histogram" in everything:
            interval = choose_interval(query.start_ms, query.end_ms)  # type: ignore[arg-type]
            raw = everything["histogram"]["buckets"]
        else:
            lo = query.start_ms if query.start_ms is not None else everything["lo"]["value"]
            hi = query.end_ms if query.end_ms is not None else everything["hi"]["value"]
            if lo is None or hi is None or everything["doc_count"] == 0:
                return Facets(tags=tags, cameras=cameras, histogram=_EMPTY_HISTOGRAM, colors=colors)
            interval = choose_interval(int(lo), int(hi))
            if "guess" in everything and everything["guess"].get("meta", {}).get("interval") == interval:
                raw = everything["guess"]["buckets"]
            else:
                common, tag_f, cam_f = self._filters(query)
                s = (
                    self._search()
                    .query(Q("bool", filter=common + tag_f + cam_f + [*self._color_filters(query).values()]))
                    .extra(size=0, track_total_hits=False)
                )
                s.aggs.bucket("histogram", self._histogram(interval))
                raw = s.execute().to_dict()["aggregations"]["histogram"]["buckets"]
        buckets = [(int(b["key"]), b["doc_count"]) for b in raw]
        return Facets(tags=tags, cameras=cameras, histogram=Histogram(interval_ms=interval, buckets=buckets),
                      colors=colors)

    def similar(self, query: SimilarQuery) -> list[SimilarHit]:
        """Approximate kNN (HNSW) over the descriptors, filtered by label, cameras, time and visibility inside
        the kNN search (so ``limit`` hits come back however selective the filters)."""
        found = (self._search().query(Q("term", id=query.of)).source(["label", "embedding"]).extra(size=1)
                 .execute().to_dict()["hits"]["hits"])
        if not found or not found[0]["_source"].get("embedding"):
            return []
        source = found[0]["_source"]
        search = query.as_search(source["label"])
        common, tags, cameras = self._filters(search)
        filters = [_CONFIRMED, *common, *tags, *cameras, ~Q("term", id=query.of)]
        body = {
            "knn": {"field": "embedding", "query_vector": source["embedding"], "k": query.limit,
                    "num_candidates": max(100, 10 * query.limit), "filter": Q("bool", filter=filters).to_dict()},
            "size": query.limit, "_source": {"includes": ["*"], "excludes": ["recent"]},  # with the vectors
        }
        response = self.client.search(index=self.names.sightings_alias, ignore_unavailable=True,
                                      allow_no_indices=True, **body)  # type: ignore[arg-type]
        # The index keeps the vectors quantised (int8 HNSW): its scores rank the candidates roughly; the
        # similarity reported (and the final order) is the exact dot product of the stored descriptors.
        target = np.asarray(source["embedding"], dtype=np.float64)
        hits = []
        for h in response["hits"]["hits"]:
            exact = float(np.asarray(h["_source"].pop("embedding"), dtype=np.float64) @ target)
            hits.append(SimilarHit(hit=_hit(h["_source"]), similarity=round(min(max(exact, 0.0), 1.0), 4)))
        return sorted(hits, key=lambda h: (-h.similarity, h.hit.id))

    def get(self, sighting_id: int) -> SightingHit | None:
        response = self._search().query(Q("term", id=sighting_id)).extra(size=1).execute().to_dict()
        hits = response["hits"]["hits"]
        return _hit(hits[0]["_source"]) if hits else None
