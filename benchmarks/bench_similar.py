"""Latency of "find similar" (``backend.similar``) on both search backends, by how many sightings there are.

Synthetic sightings with appearance descriptors shaped like analysis's (non-negative, unit length: square roots
of random colour histograms), on 20 cameras over a month, 80 % people; loaded straight into the backend's
store (the ``Sighting`` table of a fresh SQLite database; an Elasticsearch sightings partition in the
documents the projector writes), not through the event log, to keep loading fast. Each query asks for the 20
most similar to a random person sighting: over every camera, and over one camera and one day.

    python -m benchmarks.bench_similar [--database 100000] [--elasticsearch 0] [--queries 200]

``--elasticsearch N`` needs a running Elasticsearch (``SIGHTLINE_BENCH_ELASTICSEARCH_URL``, default
http://127.0.0.1:9201) and uses its own index prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

START = datetime(2026, 10, 16, tzinfo=UTC)
SPAN_MS = 30 * 86_400_000
CAMERAS = 20


def descriptors(n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit descriptors like analysis's: square roots of sparse histograms."""
    hist = rng.dirichlet(np.full(dims, 0.05), size=n)
    return np.sqrt(hist).astype("<f4")


def rows(n: int, dims: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    vectors = descriptors(n, dims, rng)
    start_ms = int(START.timestamp() * 1000)
    for i in range(n):
        at = start_ms + int(rng.integers(0, SPAN_MS))
        yield {"id": i + 1, "camera_id": int(rng.integers(1, CAMERAS + 1)),
               "label": "person" if rng.random() < 0.8 else "car", "confidence": float(rng.random()),
               "start_ms": at, "end_ms": at + 5000, "embedding": vectors[i]}


def timed(fn: Callable[[], Any], queries: int) -> tuple[float, float]:
    samples = []
    for _ in range(queries):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def bench(backend: Any, persons: list[int], queries: int) -> list[tuple[str, float, float]]:
    from search.backends.base import SimilarQuery

    pick = random.Random(2)
    out = []
    everywhere = timed(lambda: backend.similar(SimilarQuery(of=pick.choice(persons))), queries)
    out.append(("every camera", *everywhere))

    def one_day() -> None:
        day = START + timedelta(days=pick.randrange(30))
        backend.similar(SimilarQuery(of=pick.choice(persons), cameras=(pick.randrange(1, CAMERAS + 1),), start=day,
                                     end=day + timedelta(days=1)))

    out.append(("one camera, one day", *timed(one_day, queries)))
    return out


def database(n: int, queries: int) -> list[tuple[str, float, float]]:
    from search.backends.database import DatabaseSearchBackend
    from search.models import Sighting

    batch, persons = [], []
    for r in rows(n, 128):
        if r["label"] == "person":
            persons.append(r["id"])
        batch.append(Sighting(id=r["id"], camera_id=r["camera_id"], label=r["label"], confidence=r["confidence"],
                              start_ms=r["start_ms"], end_ms=r["end_ms"], best_ms=r["start_ms"], best_seq=r["id"],
                              best_clip_id=1, best_offset_ms=0, x1=0.1, y1=0.2, x2=0.3, y2=0.6, duration_ms=5000,
                              model="bench", embedding=r["embedding"].tobytes()))
        if len(batch) == 5000:
            Sighting.objects.bulk_create(batch)
            batch = []
    Sighting.objects.bulk_create(batch)
    return bench(DatabaseSearchBackend(), persons, queries)


def elasticsearch(url: str, n: int, queries: int) -> list[tuple[str, float, float]]:
    from elasticsearch import helpers

    from search.backends.elasticsearch import ElasticsearchSearchBackend
    from search.backends.elasticsearch import indices as idx
    from search.backends.elasticsearch.client import Names, get_client, month_of_ms

    client = get_client(url)
    names = Names("bench-similar")
    idx.drop_everything(client, names)
    idx.ensure_templates(client, names)
    idx.set_live_generation(client, names, 1)
    for month in ("2026.10", "2026.11"):
        idx.create_partition(client, names, names.partition(idx.SIGHTINGS, 1, month), live=True)
    persons: list[int] = []

    def actions() -> Iterator[dict[str, Any]]:
        for r in rows(n, 128):
            if r["label"] == "person":
                persons.append(r["id"])
            yield {"_index": names.partition(idx.SIGHTINGS, 1, month_of_ms(r["start_ms"])), "_id": str(r["id"]),
                   "_source": {"id": r["id"], "camera_id": r["camera_id"], "label": r["label"],
                               "confidence": r["confidence"], "start": r["start_ms"], "end": r["end_ms"],
                               "best": r["start_ms"], "best_seq": r["id"], "best_clip_id": 1, "best_offset_ms": 0,
                               "x1": 0.1, "y1": 0.2, "x2": 0.3, "y2": 0.6, "detections": 5, "model": "bench",
                               "thumbnail": "", "last_seq": r["id"], "confirmed": True, "hits": 5,
                               "embedding": [float(v) for v in r["embedding"]]}}

    try:
        helpers.bulk(client.options(request_timeout=600), actions(), chunk_size=2000)
        client.indices.refresh(index=names.generation_pattern(1))
        client.options(request_timeout=1800).indices.forcemerge(index=names.generation_pattern(1),
                                                                max_num_segments=1)
        return bench(ElasticsearchSearchBackend(client, names), persons, queries)
    finally:
        idx.drop_everything(client, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=int, default=100_000, help="sightings on SQLite (0: skip)")
    parser.add_argument("--elasticsearch", type=int, default=0, help="sightings on Elasticsearch (0: skip)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from benchmarks._django import machine, setup

    setup("similar")
    print(f"machine: {machine()}")
    print("| backend | sightings | query | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    if args.database:
        for what, p50, p95 in database(args.database, args.queries):
            print(f"| SQLite (exact) | {args.database:,} | {what} | {p50:.1f} | {p95:.1f} |")
    if args.elasticsearch:
        url = os.environ.get("SIGHTLINE_BENCH_ELASTICSEARCH_URL", "http://127.0.0.1:9201")
        for what, p50, p95 in elasticsearch(url, args.elasticsearch, args.queries):
            print(f"| Elasticsearch (HNSW, exact re-rank) | {args.elasticsearch:,} | {what} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
