"""Benchmark of the Elasticsearch search backend: projector throughput and search latency.

(a) Indexing: the projector (``catch_up`` of ``ElasticsearchProjection``: reads the SQLite event log, folds
    sighting summaries, bulk-writes) against a raw ``helpers.bulk`` of the same documents into the same
    layout, measured in the same run. Target: the projector reaches at least 70% of the raw rate.
(b) Search latency p50/p95 over 1,000,000 synthetic detections (many cameras, tracks of 10-30 detections,
    COCO labels skewed towards person and car, a month of time). To keep generation fast these are
    bulk-loaded straight into Elasticsearch in the document shapes the projector writes, not through the
    event log.

Prints markdown tables. Needs a running Elasticsearch (``scripts/services/elasticsearch.sh start``); the URL
comes from ``SIGHTLINE_BENCH_ELASTICSEARCH_URL`` (default http://127.0.0.1:9201). Uses its own index
prefixes and SQLite database in a temporary folder; deletes its indices at the end unless ``--keep``.

    python benchmarks/bench_elasticsearch.py [--events 60000] [--detections 1000000] [--queries 300]
        [--replicas 0] [--skip-indexing]

``--detections`` may list several sizes (``1000000,10000000``): each is loaded afresh and measured in turn, in
one run. On a cluster (``SIGHTLINE_BENCH_ELASTICSEARCH_URL`` naming its nodes, comma-separated;
``scripts/services/elasticsearch.sh cluster-url``) ``--replicas 1`` gives every partition its replica after
the bulk load and force merge — as an operator loads a large backfill: without replicas, then with them —
and waits for the cluster to be green before searching; the time that takes is reported.

Never point it at a production cluster: it creates and deletes indices under its prefixes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABELS = ["person", "car", "truck", "bicycle", "motorcycle", "bus", "dog", "backpack", "handbag", "cat"]
WEIGHTS = [0.52, 0.24, 0.06, 0.05, 0.04, 0.03, 0.025, 0.015, 0.01, 0.01]
START = datetime(2026, 10, 16, tzinfo=UTC)
SPAN_MS = 30 * 86_400_000


def setup_django(url: str) -> None:
    data = tempfile.mkdtemp(prefix="sightline-bench-")
    os.environ["SIGHTLINE_DATA_DIR"] = data
    os.environ["ELASTICSEARCH_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings_test")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def synthetic_tracks(
    detections: int, seed: int = 7
) -> Iterator[tuple[int, int, str, list[tuple[int, float]]]]:
    """(track, camera, label, [(time_ms, confidence), ...]) until ``detections`` detections are made."""
    rnd = random.Random(seed)
    start_ms = int(START.timestamp() * 1000)
    made, track = 0, 0
    while made < detections:
        track += 1
        n = min(rnd.randint(10, 30), detections - made)
        t0 = start_ms + rnd.randrange(SPAN_MS)
        step = rnd.choice((100, 200, 500))
        points = [(t0 + i * step, round(rnd.uniform(0.3, 0.99), 4)) for i in range(n)]
        yield track, rnd.randrange(1, 301), rnd.choices(LABELS, WEIGHTS)[0], points
        made += n


def append_log(events: int) -> None:
    from backend.eventlog.log import EventLog, NewEvent
    from backend.eventlog.models import EventType

    batch: list[NewEvent] = []
    for track, camera, label, points in synthetic_tracks(events, seed=11):
        for i, (at, conf) in enumerate(points):
            batch.append(
                NewEvent(
                    key=f"det:{track}:bench:{at}:{i}",
                    type=EventType.OBJECT_DETECTED,
                    time=datetime.fromtimestamp(at / 1000, tz=UTC),
                    camera_id=camera,
                    clip_id=track,
                    label=label,
                    confidence=conf,
                    x1=0.1,
                    y1=0.2,
                    x2=0.3,
                    y2=0.6,
                    track=track,
                    offset_ms=i * 200,
                    model="bench",
                )
            )
        if len(batch) >= 5000:
            EventLog.append(batch, project=False)
            batch = []
    if batch:
        EventLog.append(batch, project=False)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_indexing(url: str, events: int) -> list[tuple[str, str]]:
    from elasticsearch import helpers

    from backend.eventlog import projections
    from backend.eventlog.models import Event
    from search.backends.elasticsearch import ElasticsearchProjection
    from search.backends.elasticsearch import indices as idx
    from search.backends.elasticsearch.client import Names, get_client, month_of_ms
    from search.backends.elasticsearch.projection import detection_document
    from search.sightings import RuleBook, SightingSummary, begin, fold

    client = get_client(url)
    append_log(events)
    n = Event.objects.count()
    proj_names, raw_names = Names("bench-proj"), Names("bench-raw")
    for names in (proj_names, raw_names):
        idx.drop_everything(client, names)

    # The same documents the projector writes, prepared outside the timing: detections plus each track's
    # final summary (the projector may write a summary more than once when a track spans batches).
    docs: list[dict[str, Any]] = []
    summaries: dict[int, SightingSummary] = {}
    rules = RuleBook.load([])  # the synthetic cameras have no tracked objects: the site defaults for all
    for event in Event.objects.order_by("seq").iterator(chunk_size=5000):
        month = month_of_ms(int(event.time.timestamp() * 1000))
        docs.append(
            {"_index": (idx.DETECTIONS, month), "_id": event.key, "_source": detection_document(event)}
        )
        summary = summaries.get(event.track) or begin(SightingSummary, event.track, event)  # type: ignore[arg-type]
        rule = rules.rule(summary.camera_id, summary.label)
        summaries[event.track] = fold(summary, event, rule)  # type: ignore[index]
        summary.last_seq = event.seq
    for track, summary in summaries.items():
        docs.append(
            {"_index": (idx.SIGHTINGS, month_of_ms(summary.start_ms)), "_id": str(track),
             "_source": summary.to_document()}
        )

    def raw_run(names: Names) -> float:
        idx.ensure_templates(client, names)
        mine = [{**d, "_index": names.partition(d["_index"][0], 1, d["_index"][1])} for d in docs]
        for index in {d["_index"] for d in mine}:
            idx.create_partition(client, names, index, live=True)
        return timed(lambda: helpers.bulk(client.options(request_timeout=120), mine, chunk_size=4000))

    # Raw before and after the projector, so neither side alone gets a cold or a warm cluster.
    raw_first = raw_run(raw_names)
    projection = ElasticsearchProjection(client=client, names=proj_names)
    projection_s = timed(lambda: projections.catch_up(projection))
    idx.drop_everything(client, raw_names)
    raw_s = (raw_first + raw_run(raw_names)) / 2
    for names in (proj_names, raw_names):
        idx.drop_everything(client, names)
    return [
        (
            "projector (catch_up, SQLite log -> ES)",
            f"{n / projection_s:,.0f} events/s ({projection_s:.1f} s)",
        ),
        ("raw helpers.bulk, same documents", f"{n / raw_s:,.0f} events/s ({raw_s:.1f} s)"),
        ("projector / raw", f"{raw_s / projection_s:.0%} (target >= 70%)"),
    ]


def load_million(url: str, detections: int) -> tuple[Any, int]:
    from elasticsearch import helpers

    from search.backends.elasticsearch import indices as idx
    from search.backends.elasticsearch.client import Names, get_client, month_of_ms

    client = get_client(url)
    names = Names("bench-search")
    idx.drop_everything(client, names)
    idx.ensure_templates(client, names)
    idx.set_live_generation(client, names, 1)
    sightings = 0

    def actions() -> Iterator[dict[str, Any]]:
        nonlocal sightings
        seq = 0
        for track, camera, label, points in synthetic_tracks(detections):
            best = max(points, key=lambda p: p[1])  # max() keeps the first of equal confidences
            for i, (at, conf) in enumerate(points):
                seq += 1
                yield {
                    "_index": names.partition(idx.DETECTIONS, 1, month_of_ms(at)),
                    "_id": f"det:{track}:bench:{at}:{i}",
                    "_source": {
                        "seq": seq,
                        "key": f"det:{track}:bench:{at}:{i}",
                        "time": at,
                        "camera_id": camera,
                        "clip_id": track,
                        "label": label,
                        "confidence": conf,
                        "track": track,
                        "offset_ms": i * 200,
                        "model": "bench",
                        "x1": 0.1,
                        "y1": 0.2,
                        "x2": 0.3,
                        "y2": 0.6,
                        "thumbnail": f"thumbnails/{track}/{i * 200:09d}-000.jpg",
                    },
                }
            sightings += 1
            start = points[0][0]
            yield {
                "_index": names.partition(idx.SIGHTINGS, 1, month_of_ms(start)),
                "_id": str(track),
                "_source": {
                    "id": track,
                    "camera_id": camera,
                    "label": label,
                    "confidence": best[1],
                    "start": start,
                    "end": points[-1][0],
                    "best": best[0],
                    "best_seq": seq,
                    "best_clip_id": track,
                    "best_offset_ms": 0,
                    "x1": 0.1,
                    "y1": 0.2,
                    "x2": 0.3,
                    "y2": 0.6,
                    "detections": len(points),
                    "model": "bench",
                    "thumbnail": f"thumbnails/{track}/000000000-000.jpg",
                    "last_seq": seq,
                },
            }

    for family in idx.FAMILIES:
        for month in ("2026.10", "2026.11"):
            idx.create_partition(client, names, names.partition(family, 1, month), live=True)
    client.indices.put_settings(index=names.generation_pattern(1), settings={"refresh_interval": "-1"})
    helpers.bulk(client.options(request_timeout=600), actions(), chunk_size=5000)
    client.indices.put_settings(index=names.generation_pattern(1), settings={"refresh_interval": "1s"})
    client.indices.refresh(index=names.generation_pattern(1))
    client.options(request_timeout=3600).indices.forcemerge(
        index=names.generation_pattern(1), max_num_segments=1
    )
    return names, sightings


def bench_search(url: str, detections: int, queries: int,
                 replicas: int = 0) -> tuple[list[tuple[str, str]], int, float, float]:

    from search.backends.base import SearchQuery
    from search.backends.elasticsearch import ElasticsearchSearchBackend
    from search.backends.elasticsearch import indices as idx
    from search.backends.elasticsearch.client import get_client

    t0 = time.perf_counter()
    names, sightings = load_million(url, detections)
    load_s = time.perf_counter() - t0
    replicas_s = 0.0
    if replicas:
        t1 = time.perf_counter()
        client = get_client(url).options(request_timeout=3600)
        client.indices.put_settings(index=names.generation_pattern(1), settings={"number_of_replicas": replicas})
        client.cluster.health(index=names.generation_pattern(1), wait_for_status="green", timeout="3600s")
        replicas_s = time.perf_counter() - t1
    backend = ElasticsearchSearchBackend(get_client(url), names)
    rnd = random.Random(3)
    day = timedelta(days=1)

    def one_day(at: datetime) -> SearchQuery:
        return SearchQuery(start=at, end=at + day, sort="-time")

    def cursor_page() -> SearchQuery:
        first = backend.search(SearchQuery(tags=("person",)), facets=False)
        return SearchQuery(tags=("person",), cursor=first.next_cursor)

    kinds: dict[str, Callable[[], SearchQuery]] = {
        "default (best first, facets)": lambda: SearchQuery(),
        "tag=person": lambda: SearchQuery(tags=("person",)),
        "3 cameras + tag car": lambda: SearchQuery(
            cameras=tuple(rnd.sample(range(1, 301), 3)), tags=("car",)
        ),
        "one day, sort -time": lambda: one_day(START + rnd.randrange(29) * day),
        "min_confidence 0.9, 50 visible cameras": lambda: SearchQuery(
            min_confidence=0.9, visible_cameras=frozenset(rnd.sample(range(1, 301), 50))
        ),
        "second page (cursor), tag person": cursor_page,
    }
    rows, every = [], []
    for label, make in kinds.items():
        for _ in range(10):  # warm caches the way a running service has them
            backend.search(make())
        samples = []
        for _ in range(queries // len(kinds)):
            query = make()
            t = time.perf_counter()
            backend.search(query)
            samples.append((time.perf_counter() - t) * 1000)
        every += samples
        rows.append((label, samples))
    table = [(label, f"{statistics.median(s):.1f}", f"{_p95(s):.1f}") for label, s in rows]
    table.append(("all", f"{statistics.median(every):.1f}", f"{_p95(every):.1f}"))
    if not os.environ.get("BENCH_KEEP"):
        idx.drop_everything(get_client(url), names)
    return table, sightings, load_s, replicas_s  # type: ignore[return-value]


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000, help="events for the indexing comparison")
    parser.add_argument("--detections", default="1000000",
                        help="detections for search latency; several sizes comma-separated")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the search benchmark's indices")
    parser.add_argument("--replicas", type=int, default=0, help="replicas given after the load (a cluster)")
    parser.add_argument("--skip-indexing", action="store_true", help="search latency only")
    args = parser.parse_args()
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"
    url = os.environ.get("SIGHTLINE_BENCH_ELASTICSEARCH_URL", "http://127.0.0.1:9201")
    setup_django(url)
    from search.backends.elasticsearch.client import get_client

    client = get_client(url)
    nodes = client.nodes.stats(metric="jvm")["nodes"].values()
    heaps = sorted({n["jvm"]["mem"]["heap_max_in_bytes"] // 2**20 for n in nodes})
    print(f"machine: {os.cpu_count()} cores; Elasticsearch {client.info()['version']['number']}, {len(nodes)} "
          f"node(s), {'/'.join(map(str, heaps))} MiB heap; replicas after the load: {args.replicas}\n")
    if not args.skip_indexing:
        indexing = bench_indexing(url, args.events)
        print(f"### Indexing ({args.events:,} detection events)\n\n| what | rate |\n|---|---|")
        for name, value in indexing:
            print(f"| {name} | {value} |")
    for detections in (int(n) for n in args.detections.split(",")):
        table, sightings, load_s, replicas_s = bench_search(url, detections, args.queries, args.replicas)
        replicated = f", replicas green {replicas_s:.0f} s after" if args.replicas else ""
        print(
            f"\n### Search latency ({detections:,} detections = {sightings:,} sightings, bulk-loaded and merged "
            f"in {load_s:.0f} s{replicated}; ms per search incl. facets, {args.queries // 6} runs each)\n"
        )
        print("| query | p50 ms | p95 ms |\n|---|---|---|")
        for row in table:
            print(f"| {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
