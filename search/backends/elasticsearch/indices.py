"""Index layout in Elasticsearch: templates, monthly partitions, generations, aliases and retention.

Layout (``P`` is the prefix)::

    P-g<gen>-detections-YYYY.MM   one document per detection event, _id = the event's key
    P-g<gen>-sightings-YYYY.MM    one summary document per track, _id = the track id, in its start month
    P-detections, P-sightings     read aliases over the live generation's partitions
    P-meta                        doc "generation": which generation the projector writes to
    P-deadletter                  documents Elasticsearch refused, with the reason

A *generation* is one complete copy of the index built from the log; a zero-downtime rebuild builds the next
one beside the live one and swaps the aliases in one ``update_aliases`` call. Retention deletes whole
monthly partitions. Mappings come from composable index templates, so an index created by any path gets them.

Nothing here may delete documents one by one (retention's per-clip deletions are the projector's, by id in
bulk) or use scripts or *-by-query APIs (the dev distribution has no
painless or reindex modules, and partition drops are what make retention cheap). Deletions name indices
explicitly: clusters run with ``action.destructive_requires_name``.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from elasticsearch.dsl import Boolean, Date, DenseVector, Double, Float, Integer, Keyword, Long, Mapping

from backend.eventlog.schema import EMBEDDING_DIMS

from .client import Names

DETECTIONS = "detections"
SIGHTINGS = "sightings"
FAMILIES = (DETECTIONS, SIGHTINGS)
# Times are epoch milliseconds end to end, as in the database backend: sort values, search_after values and
# histogram keys come back as exact integers.
_MS = "epoch_millis"


def detection_mapping() -> Mapping:
    m = Mapping()
    m.meta("dynamic", "strict")
    for name, field in {
        "seq": Long(),
        "key": Keyword(),
        "time": Date(format=_MS),
        "camera_id": Integer(),
        "clip_id": Integer(),
        "label": Keyword(),
        "confidence": Float(),
        "track": Long(),
        "offset_ms": Integer(),
        "model": Keyword(),
        "x1": Float(index=False),
        "y1": Float(index=False),
        "x2": Float(index=False),
        "y2": Float(index=False),
        "thumbnail": Keyword(index=False, doc_values=False),
    }.items():
        m.field(name, field)
    return m


#: Summary fields added with the confirmation rule: put into existing partitions too (``ensure_templates``),
#: whose strict mapping would refuse them otherwise.
CONFIRMATION_FIELDS = {
    "confirmed": Boolean(),
    "hits": Integer(),
    "recent": Float(index=False, doc_values=False),
}


#: The best detection's named colours (``analysis.colors``), added with appearance search: put into existing
#: partitions too; their summaries without them have no colour.
APPEARANCE_FIELDS = {
    "upper_color": Keyword(), "lower_color": Keyword(), "color": Keyword(),
    # "Find similar": kNN over the best detection's appearance descriptor (HNSW, cosine: unit vectors).
    "embedding": DenseVector(dims=EMBEDDING_DIMS, index=True, similarity="cosine"),
}


def sighting_mapping() -> Mapping:
    m = Mapping()
    m.meta("dynamic", "strict")
    for name, field in {
        # Double, not float: ranking and search_after cursors compare the stored value with the one a
        # client saw in a result, and a float32 round trip would break ties differently from the database.
        "id": Long(),
        "camera_id": Integer(),
        "label": Keyword(),
        "confidence": Double(),
        "start": Date(format=_MS),
        "end": Date(format=_MS),
        "best": Date(format=_MS),
        "best_seq": Long(),
        "best_clip_id": Integer(),
        "best_offset_ms": Integer(),
        "x1": Double(index=False),
        "y1": Double(index=False),
        "x2": Double(index=False),
        "y2": Double(index=False),
        "detections": Integer(),
        "model": Keyword(),
        "thumbnail": Keyword(index=False, doc_values=False),
        "last_seq": Long(index=False),
        # The confirmation rule's state (search/sightings.py): searches read confirmed summaries only.
        **CONFIRMATION_FIELDS,
        **APPEARANCE_FIELDS,
    }.items():
        m.field(name, field)
    return m


def index_settings(replicas: int = 0) -> dict[str, Any]:
    """Every index's settings: one shard, ``replicas`` copies of it on other nodes (``ELASTICSEARCH_REPLICAS``)."""
    return {"number_of_shards": 1, "number_of_replicas": replicas, "refresh_interval": "1s"}


def ensure_templates(client: Elasticsearch, names: Names, *, replicas: int = 0) -> None:
    """Create or update the index templates and the small bookkeeping indices (idempotent).

    ``replicas`` goes into the templates (so into every partition created from now on) and the bookkeeping
    indices created here; existing indices keep their own number."""
    settings = index_settings(replicas)
    # Distinct priorities: ES refuses two same-priority templates whose wildcards could both match a name,
    # and "P-g*-detections-*" / "P-g*-sightings-*" could in theory; our own names never match both.
    for priority, family, mapping in (
        (100, DETECTIONS, detection_mapping()),
        (101, SIGHTINGS, sighting_mapping()),
    ):
        client.indices.put_index_template(
            name=f"{names.prefix}-{family}",
            index_patterns=[names.family_pattern(family)],
            template={"settings": settings, "mappings": mapping.to_dict()},
            priority=priority,
        )
    # Partitions created before the confirmation rule: adding fields to a mapping is allowed, and their
    # summaries without them count as confirmed (``SightingSummary.from_document``, the search filter).
    client.indices.put_mapping(
        index=names.family_pattern(SIGHTINGS), allow_no_indices=True, ignore_unavailable=True,
        properties={name: field.to_dict() for name, field in {**CONFIRMATION_FIELDS, **APPEARANCE_FIELDS}.items()},
    )
    for index, mappings in (
        (names.meta, {"dynamic": False, "properties": {"generation": {"type": "long"}}}),
        (
            names.deadletter,
            {
                "dynamic": False,
                "properties": {
                    "kind": {"type": "keyword"},
                    "doc_id": {"type": "keyword"},
                    "index": {"type": "keyword"},
                    "seq": {"type": "long"},
                    "status": {"type": "integer"},
                    "error_type": {"type": "keyword"},
                    "reason": {"type": "text"},
                    "at": {"type": "date"},
                },
            },
        ),
    ):
        if not client.indices.exists(index=index):
            try:
                client.indices.create(index=index, settings=settings, mappings=mappings)
            except Exception as exc:  # another process created it first
                if "resource_already_exists" not in str(exc):
                    raise


def live_generation(client: Elasticsearch, names: Names) -> int | None:
    try:
        doc = client.get(index=names.meta, id="generation")
    except NotFoundError:
        return None
    return int(doc["_source"]["generation"])


def set_live_generation(client: Elasticsearch, names: Names, generation: int) -> None:
    client.index(index=names.meta, id="generation", document={"generation": generation}, refresh=True)


def partitions(
    client: Elasticsearch, names: Names, *, generation: int | None = None, family: str | None = None
) -> list[str]:
    """Concrete partition names, sorted."""
    pattern = names.family_pattern(family, generation) if family else names.generation_pattern(generation)
    found = client.indices.get(
        index=pattern, allow_no_indices=True, ignore_unavailable=True, expand_wildcards="all"
    )
    return sorted(i for i in found if names.parse(i) is not None)


def generations(client: Elasticsearch, names: Names) -> set[int]:
    return {parsed[0] for i in partitions(client, names) if (parsed := names.parse(i)) is not None}


def create_partition(client: Elasticsearch, names: Names, index: str, *, live: bool) -> None:
    """Create one partition; a live generation's partition joins the read alias at once."""
    parsed = names.parse(index)
    assert parsed is not None
    family = parsed[1]
    body: dict[str, Any] = {}
    if live:
        alias = names.sightings_alias if family == SIGHTINGS else names.detections_alias
        body["aliases"] = {alias: {}}
    try:
        client.indices.create(index=index, **body)
    except Exception as exc:  # a concurrent writer created it: fine, the template gave it the same mapping
        if "resource_already_exists" not in str(exc):
            raise


def swap_aliases(client: Elasticsearch, names: Names, old: int | None, new: int) -> None:
    """Point the read aliases at generation ``new`` instead of ``old``, atomically (one request)."""
    actions: list[dict[str, Any]] = []
    for index in partitions(client, names, generation=new):
        family = names.parse(index)[1]  # type: ignore[index]
        alias = names.sightings_alias if family == SIGHTINGS else names.detections_alias
        actions.append({"add": {"index": index, "alias": alias}})
    if old is not None:
        for index in partitions(client, names, generation=old):
            family = names.parse(index)[1]  # type: ignore[index]
            alias = names.sightings_alias if family == SIGHTINGS else names.detections_alias
            actions.append({"remove": {"index": index, "alias": alias, "must_exist": False}})
    if actions:
        client.indices.update_aliases(actions=actions)


def delete_generation(client: Elasticsearch, names: Names, generation: int) -> list[str]:
    doomed = partitions(client, names, generation=generation)
    if doomed:
        client.indices.delete(index=",".join(doomed))
    return doomed


def _month_start(month: str) -> datetime:
    year, mon = (int(p) for p in month.split("."))
    return datetime(year, mon, 1, tzinfo=UTC)


def _next_month_start(month: str) -> datetime:
    start = _month_start(month)
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def drop_partitions_before(client: Elasticsearch, names: Names, cutoff: datetime) -> list[str]:
    """Retention: delete every monthly partition that lies wholly before ``cutoff``; return their names.

    Whole months only: a month that ``cutoff`` falls inside is kept. A sighting lives in the month it started.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    doomed = []
    for index in partitions(client, names):
        parsed = names.parse(index)
        if parsed is None:
            continue
        try:
            ends = _next_month_start(parsed[2])
        except ValueError:
            continue
        if ends <= cutoff:
            doomed.append(index)
    if doomed:
        client.indices.delete(index=",".join(doomed))
    return doomed


def drop_everything(client: Elasticsearch, names: Names) -> None:
    """Delete every index and template of this prefix (a non-incremental reset, and test teardown)."""
    found = client.indices.get(
        index=f"{names.prefix}-*", allow_no_indices=True, ignore_unavailable=True, expand_wildcards="all"
    )
    if found:
        client.indices.delete(index=",".join(sorted(found)))
    for family in FAMILIES:
        with contextlib.suppress(NotFoundError):
            client.indices.delete_index_template(name=f"{names.prefix}-{family}")
