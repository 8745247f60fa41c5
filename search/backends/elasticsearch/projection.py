"""The projector that keeps Elasticsearch in step with the event log, and the zero-downtime rebuild.

For every ``object.detected`` event it writes one detection document (``_id`` = the event's key) and, for
tracked detections, rewrites the track's sighting summary (``_id`` = the track id). Faces and plates
(``PRIVACY_LABELS``: logged for masking only) get neither. The summary is a read-modify-write: this
projector is the only writer, the previous summary is read with a realtime ``mget``, and it records
``last_seq``, the highest event already folded in, so a replay after a crash (the checkpoint did not
advance) skips what it already counted. Detection documents are idempotent by id. Together:
catching up twice, or rebuilding from zero, gives the same index.

A ``clip.expired`` event (retention) deletes the clip's detection documents and the sightings whose best
moment was in the clip: found by a search, deleted by id in bulk.

Writes use the bulk API and read its answer item by item: 429 and 5xx are retried with exponential backoff
and jitter; any other refusal (a poison document) is set aside in the dead-letter index with its reason and
logged, never skipped silently. 401/403/404 concern the cluster (a write block, rights), not the document,
and halt the batch. When Elasticsearch cannot be reached or keeps failing, ``apply`` raises, so the checkpoint
does not advance and ``catch_up`` resumes from it later.

It must never use scripts, update/delete-by-query or reindex (absent from the dev distribution), and never
log credentials or whole documents.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from elasticsearch import Elasticsearch

from backend.eventlog import projections
from backend.eventlog.models import Event, EventType, ProjectionCheckpoint
from backend.eventlog.projections import Projection
from backend.eventlog.schema import PRIVACY_LABELS, detection_thumbnail, epoch_ms

from ...sightings import RuleBook, SightingSummary, begin, fold, folded, starting
from . import indices
from .client import Names, month_of_ms, previous_month

log = logging.getLogger(__name__)

PROJECTION_NAME = "search.elasticsearch"
_CHUNK_OPS = 4000
#: Track summaries remembered between batches (about 1 KiB each).
_SUMMARY_CACHE = 50_000
#: Refusals that concern the cluster, not the document: 401/403 (auth, index write blocks), 404 (no index).
_HALT = frozenset({401, 403, 404})


class ProjectionWriteError(RuntimeError):
    """Elasticsearch kept refusing writes with a transient status; the batch must be replayed."""


def detection_document(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "key": event.key,
        "time": epoch_ms(event.time),
        "camera_id": event.camera_id,
        "clip_id": event.clip_id,
        "label": event.label,
        "confidence": event.confidence,
        "track": event.track,
        "offset_ms": event.offset_ms,
        "model": event.model,
        "x1": event.x1,
        "y1": event.y1,
        "x2": event.x2,
        "y2": event.y2,
        "thumbnail": detection_thumbnail(event),
    }


class ElasticsearchProjection(Projection):
    name = PROJECTION_NAME
    transactional = False
    # Fewer, larger bulk requests: each batch also costs a generation lookup and a checkpoint write.
    batch_size = 10_000

    #: Attempts for an item answered 429/5xx before the batch is abandoned (and replayed later).
    max_attempts = 6
    base_backoff_s = 0.2
    max_backoff_s = 10.0

    def __init__(self, *, client: Elasticsearch, names: Names, generation: int | None = None,
                 replicas: int = 0) -> None:
        # ``generation`` pins the writer to a generation being rebuilt; ``None`` follows the live one.
        # ``replicas``: of the indices this writer creates (``indices.ensure_templates``).
        self.client = client
        self.names = names
        self.replicas = replicas
        self._pinned = generation
        self._known_indices: set[str] = set()
        self._ready_prefixes: set[str] = set()
        # Summaries this writer wrote last, by (index prefix, generation, track): a track's next detections
        # usually come in the next batch, and reading the summary back would cost an mget (and a shard
        # refresh) per batch. Only written once Elasticsearch has acknowledged the batch; dropped whole on
        # any failure.
        self._summaries: OrderedDict[tuple[str, int, int], tuple[str, dict[str, Any]]] = OrderedDict()
        self._pending: dict[tuple[str, int, int], tuple[str, dict[str, Any]]] = {}

    def lag(self) -> int:
        return projections.lag(self.name)

    # -- writing ---------------------------------------------------------------------------------------

    def _prepare(self) -> tuple[int, bool]:
        """(generation to write, whether it is the live one), creating templates and generation 1 if new."""
        client, names = self.client, self.names
        if names.prefix not in self._ready_prefixes:
            indices.ensure_templates(client, names, replicas=self.replicas)
            self._ready_prefixes.add(names.prefix)
        live = indices.live_generation(client, names)
        if live is None:
            live = 1
            indices.set_live_generation(client, names, live)
        if self._pinned is not None:
            return self._pinned, self._pinned == live
        return live, True

    def _ensure_partition(self, index: str, live: bool) -> None:
        if index in self._known_indices:
            return
        if not self.client.indices.exists(index=index):
            indices.create_partition(self.client, self.names, index, live=live)
        self._known_indices.add(index)

    def apply(self, events: Sequence[Event]) -> None:
        # Faces and plates are in the log for masking only: no detection document, no sighting.
        detections = [e for e in events if e.type == EventType.OBJECT_DETECTED and e.label not in PRIVACY_LABELS]
        appearances = [e for e in events if e.type == EventType.OBJECT_APPEARANCE]
        expired = [e for e in events if e.type == EventType.CLIP_EXPIRED and e.clip_id is not None]
        if detections or appearances:
            self._index(detections, appearances)
        if expired:
            # After the batch's detections: an expired clip's detections never follow its expiry in the log.
            self._forget_clips(expired)

    def _index(self, detections: Sequence[Event], appearances: Sequence[Event] = ()) -> None:
        generation, live = self._prepare()
        names = self.names
        ops: list[tuple[dict[str, Any], dict[str, Any] | None, Event]] = []
        for event in detections:
            index = names.partition(indices.DETECTIONS, generation, month_of_ms(epoch_ms(event.time)))
            ops.append(({"index": {"_index": index, "_id": event.key}}, detection_document(event), event))
        # In log order: a track's colours named afterwards fold after the detections before them.
        ops.extend(self._sighting_ops(sorted([*detections, *appearances], key=lambda e: e.seq), generation))
        for index in {meta[next(iter(meta))]["_index"] for meta, _, _ in ops}:
            self._ensure_partition(index, live)
        chunks = [ops[start : start + _CHUNK_OPS] for start in range(0, len(ops), _CHUNK_OPS)]
        try:
            # Two requests in flight: Python encodes one chunk while Elasticsearch indexes the other. Every
            # chunk is awaited (and its first error raised) before the checkpoint can move.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-bulk") as pool:
                for future in [pool.submit(self._write, chunk) for chunk in chunks]:
                    future.result()
        except BaseException:
            self._summaries.clear()
            raise
        finally:
            pending, self._pending = self._pending, {}
        for key, value in pending.items():
            self._summaries[key] = value
            self._summaries.move_to_end(key)
        while len(self._summaries) > _SUMMARY_CACHE:
            self._summaries.popitem(last=False)

    def _forget_clips(self, expiries: Sequence[Event]) -> None:
        """Retention: delete the clips' detection documents and the sightings whose best moment was in them.

        Found with a search and deleted by id in bulk (no delete-by-query: see the module docstring), after a
        refresh so that documents written by this batch are found too. Replaying it deletes nothing more.
        """
        generation, _ = self._prepare()
        names = self.names
        clip_ids = sorted({e.clip_id for e in expiries if e.clip_id is not None})
        wanted = [
            (names.family_pattern(indices.DETECTIONS, generation), "clip_id"),
            (names.family_pattern(indices.SIGHTINGS, generation), "best_clip_id"),
        ]
        # Any summary of this generation may be one being deleted: read them back from the index instead.
        self._summaries.clear()
        for pattern, field in wanted:
            while True:
                self.client.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
                found = self.client.search(
                    index=pattern, query={"terms": {field: clip_ids}}, size=_CHUNK_OPS, source=False,
                    ignore_unavailable=True, allow_no_indices=True,
                )["hits"]["hits"]
                if not found:
                    break
                self._write([({"delete": {"_index": hit["_index"], "_id": hit["_id"]}}, None, expiries[-1])
                             for hit in found])

    def _sighting_ops(
        self, detections: Sequence[Event], generation: int
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None, Event]]:
        names = self.names
        by_track = folded(detections)
        if not by_track:
            return
        # A summary lives in its start month: look where it can be (the months of this batch's detections of
        # the track and the month before; a track does not outlive a month boundary by more than that).
        # Months whose index does not exist come back as per-document index_not_found errors: cheaper than
        # listing the partitions on every batch.
        docs: list[dict[str, Any]] = []
        found: dict[int, tuple[str, dict[str, Any]]] = {}
        for track, track_events in by_track.items():
            cached = self._summaries.get((names.prefix, generation, track))
            if cached is not None:
                found[track] = cached
                continue
            months = {month_of_ms(epoch_ms(e.time)) for e in track_events}
            months.add(previous_month(min(months)))
            # "includes *": Elasticsearch 9 leaves dense vectors (the embedding) out of _source otherwise, and the
            # summary written back would lose it.
            docs.extend(
                {"_index": names.partition(indices.SIGHTINGS, generation, month), "_id": str(track),
                 "_source": {"includes": ["*"]}}
                for month in sorted(months)
            )
        for doc in self.client.mget(docs=docs)["docs"] if docs else []:
            if doc.get("found"):
                found[int(doc["_id"])] = (doc["_index"], doc["_source"])
            elif "error" in doc and doc["error"].get("type") != "index_not_found_exception":
                # Without the previous summary we would count its detections again: fail the batch instead.
                raise ProjectionWriteError(
                    f"could not read sighting {doc['_id']}: {doc['error'].get('type')}"
                )
        rules = RuleBook.load({e.camera_id for e in detections} | {d["camera_id"] for _, d in found.values()})
        for track, track_events in by_track.items():
            old_index, document = found.get(track, (None, None))
            last_seq = document["last_seq"] if document is not None else 0
            fresh = [e for e in track_events if e.seq > last_seq]
            if document is None:
                fresh = starting(fresh)
            if not fresh:
                continue  # a replay of events already folded in (or colours of a track it does not have)
            summary = (SightingSummary.from_document(document) if document is not None
                       else begin(SightingSummary, track, fresh[0]))
            rule = rules.rule(summary.camera_id, summary.label)
            for event in fresh:
                fold(summary, event, rule)
            summary.last_seq = fresh[-1].seq
            document = summary.to_document()
            index = names.partition(indices.SIGHTINGS, generation, month_of_ms(summary.start_ms))
            self._pending[(names.prefix, generation, track)] = (index, document)
            yield {"index": {"_index": index, "_id": str(track)}}, document, fresh[-1]
            if old_index is not None and old_index != index:
                # An earlier detection arrived late and moved the start into another month.
                yield {"delete": {"_index": old_index, "_id": str(track)}}, None, fresh[-1]

    def _write(self, ops: list[tuple[dict[str, Any], dict[str, Any] | None, Event]]) -> None:
        pending = ops
        for attempt in range(self.max_attempts):
            body: list[dict[str, Any]] = []
            for meta, doc, _ in pending:
                body.append(meta)
                if doc is not None:
                    body.append(doc)
            response = self.client.bulk(operations=body)
            if not response["errors"]:
                return
            retry, poison = [], []
            for op, item in zip(pending, response["items"], strict=True):
                result = next(iter(item.values()))
                status = result.get("status", 500)
                if status < 300 or (status == 404 and "delete" in item):
                    continue
                if status == 429 or status >= 500:
                    retry.append(op)
                elif status in _HALT:
                    # Not the document's fault (a write block, missing rights): setting it aside would empty
                    # the stream into the dead-letter index. Stop; the checkpoint stays put.
                    error = result.get("error") or {}
                    raise ProjectionWriteError(
                        f"Elasticsearch refused writes ({status} {error.get('type')}); "
                        "the checkpoint stays put and catch_up will replay the batch"
                    )
                else:
                    poison.append((op, result))
            if poison:
                # A refused summary is not what the cache would remember: forget the batch's summaries.
                self._pending.clear()
                self._summaries.clear()
                self._set_aside(poison)
            if not retry:
                return
            pending = retry
            if attempt + 1 < self.max_attempts:
                delay = min(self.max_backoff_s, self.base_backoff_s * 2**attempt)
                time.sleep(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 (jitter, not crypto)
        raise ProjectionWriteError(
            f"Elasticsearch refused {len(pending)} document(s) with a transient status after "
            f"{self.max_attempts} attempts; the checkpoint stays put and catch_up will replay the batch"
        )

    def _set_aside(
        self, poison: list[tuple[tuple[dict[str, Any], dict[str, Any] | None, Event], dict]]
    ) -> None:
        names = self.names
        body: list[dict[str, Any]] = []
        now = int(datetime.now(tz=UTC).timestamp() * 1000)
        for (meta, doc, event), result in poison:
            action = next(iter(meta))
            kind = (
                indices.SIGHTINGS
                if f"-{indices.SIGHTINGS}-" in meta[action]["_index"]
                else indices.DETECTIONS
            )
            error = result.get("error") or {}
            reason = str(error.get("reason", ""))[:2000]
            log.error(
                "search.elasticsearch set aside %s %s (event #%s): %s: %s",
                kind,
                meta[action]["_id"],
                event.seq,
                error.get("type"),
                reason[:300],
            )
            body.append(
                {"index": {"_index": names.deadletter, "_id": f"{kind}:{meta[action]['_id']}:{event.seq}"}}
            )
            body.append(
                {
                    "kind": kind,
                    "doc_id": meta[action]["_id"],
                    "index": meta[action]["_index"],
                    "seq": event.seq,
                    "status": result.get("status"),
                    "error_type": error.get("type"),
                    "reason": reason,
                    "at": now,
                    # A bounded excerpt: enough to see what was wrong, never an unbounded copy.
                    "document": json.dumps(doc, default=str)[:4000] if doc is not None else None,
                }
            )
        response = self.client.bulk(operations=body, refresh="wait_for")
        if response["errors"]:
            raise ProjectionWriteError("could not record refused documents in the dead-letter index")

    # -- resets and rebuilds ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop everything (``projections.rebuild``: with downtime). Prefer :func:`rebuild_index`."""
        indices.drop_everything(self.client, self.names)
        self._known_indices.clear()
        self._ready_prefixes.clear()
        self._summaries.clear()

    def refresh(self) -> None:
        self.client.indices.refresh(
            index=f"{self.names.prefix}-*", allow_no_indices=True, ignore_unavailable=True
        )


def _replay(target: ElasticsearchProjection, after: int, upto: int, batch: int) -> int:
    done, position = 0, after
    while True:
        events = list(Event.objects.filter(seq__gt=position, seq__lte=upto).order_by("seq")[:batch])
        if not events:
            return done
        target.apply(events)
        position = events[-1].seq
        done += len(events)


def rebuild_index(client: Elasticsearch, names: Names, *, batch: int = projections.DEFAULT_BATCH,
                  replicas: int = 0) -> dict[str, int]:
    """Build a new generation from the whole log while searches keep using the old one, then swap.

    1. Replay the log up to its head into generation N+1 (no alias: invisible to searches).
    2. Holding the projection's checkpoint row (the live projector cannot run a batch meanwhile), replay
       what was appended since, swap both aliases in one request, make N+1 the written generation and
       move the checkpoint to the head.
    3. Delete generation N.
    """
    live_writer = ElasticsearchProjection(client=client, names=names, replicas=replicas)
    old, _ = live_writer._prepare()
    # Leftovers of a rebuild that died half-way are neither live nor useful.
    for stale in indices.generations(client, names) - {old}:
        indices.delete_generation(client, names, stale)
    new = max(indices.generations(client, names) | {old}) + 1
    target = ElasticsearchProjection(generation=new, client=client, names=names, replicas=replicas)
    head = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    replayed = _replay(target, 0, head, batch)
    with transaction.atomic():
        checkpoint, _ = ProjectionCheckpoint.objects.get_or_create(name=PROJECTION_NAME)
        # Locks the row on PostgreSQL (SQLite serialises writers by itself): no live batch interleaves.
        checkpoint = ProjectionCheckpoint.objects.select_for_update().get(name=PROJECTION_NAME)
        final = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        replayed += _replay(target, head, final, batch)
        client.indices.refresh(
            index=names.generation_pattern(new), allow_no_indices=True, ignore_unavailable=True
        )
        indices.swap_aliases(client, names, old, new)
        indices.set_live_generation(client, names, new)
        checkpoint.position = final
        checkpoint.save(update_fields=["position", "updated_at"])
    indices.delete_generation(client, names, old)
    log.info("search.elasticsearch rebuilt generation %s from %s events (was %s)", new, replayed, old)
    return {"generation": new, "previous": old, "events": replayed, "position": final}
