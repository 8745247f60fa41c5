"""Search latency of the database backend over 1,000,000 synthetic detections, facets included.

Data: 1,000,000 ``object.detected`` events (40 cameras, 30 days, tracks of 5–40 detections, labels skewed
like real CCTV: mostly person and car) appended through the event log and projected into sightings by the
real projection. Queries: a mix of what the UI sends (tag, camera, time range, minimum confidence, each
sort order, second pages). Baseline in the same run: the naive per-track GROUP BY over the detection rows
that a table without the sighting projection would need for one page.

Usage: python -m benchmarks.bench_search [--detections N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from benchmarks._django import machine, setup

LABELS = ["person"] * 55 + ["car"] * 25 + ["bicycle"] * 6 + ["truck"] * 6 + ["motorcycle"] * 4 + ["dog"] * 4
T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
CAMERAS = 40


def generate(n: int, rng: random.Random):  # type: ignore[no-untyped-def]
    from backend.eventlog.log import NewEvent
    from backend.eventlog.models import EventType

    made = 0
    track = 0
    while made < n:
        track += 1
        camera = rng.randrange(1, CAMERAS + 1)
        label = rng.choice(LABELS)
        length = min(rng.randint(5, 40), n - made)
        start = T0 + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        peak = rng.betavariate(2, 3)
        clip = track // 50 + 1
        for i in range(length):
            conf = round(max(0.3, min(0.99, peak + rng.gauss(0, 0.05))), 5)
            x = rng.uniform(0, 0.8)
            yield NewEvent(
                key=f"det:{clip}:bench:{track}:{i}", type=EventType.OBJECT_DETECTED,
                time=start + timedelta(milliseconds=500 * i), camera_id=camera, clip_id=clip, label=label,
                confidence=conf, x1=x, y1=0.2, x2=x + 0.1, y2=0.6, track=track, offset_ms=500 * i, model="bench",
            )
            made += 1


def queries(rng: random.Random):  # type: ignore[no-untyped-def]
    from search.backends.base import SearchQuery

    for _ in range(60):
        start = T0 + timedelta(days=rng.uniform(0, DAYS - 3))
        yield SearchQuery(tags=("person",))
        yield SearchQuery(tags=("car", "truck"), min_confidence=0.5)
        yield SearchQuery(cameras=tuple(rng.sample(range(1, CAMERAS + 1), 3)), sort="-time")
        yield SearchQuery(start=start, end=start + timedelta(days=2), tags=("person",))
        yield SearchQuery(visible_cameras=frozenset(rng.sample(range(1, CAMERAS + 1), 10)), min_confidence=0.6)
        yield SearchQuery(sort="time", start=start, end=start + timedelta(hours=6))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load(detections: int) -> float:
    """Append ``detections`` synthetic detections through the event log (and so the projection)."""
    from backend.eventlog.log import EventLog

    rng = random.Random(7)
    started = time.perf_counter()
    batch = []
    for event in generate(detections, rng):
        batch.append(event)
        if len(batch) == 5000:
            EventLog.append(batch)
            batch = []
    if batch:
        EventLog.append(batch)
    from backend.eventlog.maintenance import refresh_planner_statistics

    refresh_planner_statistics(full=True)  # as `manage.py optimize_database` does after a bulk import
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detections", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = setup("search")
    from django.db import connection

    from search.backends.database import DatabaseSearchBackend
    from search.models import Sighting

    load_s = load(args.detections)
    sightings = Sighting.objects.count()

    backend = DatabaseSearchBackend()
    for q in list(queries(random.Random(1)))[:12]:  # warm the page cache
        backend.search(q)
    timings, second_pages = [], []
    for q in queries(random.Random(2)):
        t = time.perf_counter()
        page = backend.search(q)
        timings.append((time.perf_counter() - t) * 1000)
        if page.next_cursor:
            t = time.perf_counter()
            backend.search(_with_cursor(q, page.next_cursor), facets=False)
            second_pages.append((time.perf_counter() - t) * 1000)

    # Baseline: one page of "person" ranked by best confidence straight from the detection rows.
    naive = []
    sql = ("SELECT track, MAX(confidence) AS best, MIN(time), MAX(time), COUNT(*) FROM eventlog_event "
           "WHERE type = 10 AND label = 'person' GROUP BY track ORDER BY best DESC LIMIT 50")
    for _ in range(5):
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchall()
        naive.append((time.perf_counter() - t) * 1000)

    p50, p95 = percentile(timings, 50), percentile(timings, 95)
    naive_ms = statistics.median(naive)
    print(f"Machine: {machine()}; database: {connection.vendor}")
    print(f"Loaded {args.detections:,} detections ({sightings:,} sightings) through the event log and the "
          f"projection in {load_s:.0f} s ({args.detections / load_s:,.0f} detections/s)\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| search with facets, p50 | {p50:.1f} ms |")
    print(f"| search with facets, p95 | {p95:.1f} ms |")
    print(f"| next page (cursor, no facets), p95 | {percentile(second_pages, 95):.1f} ms |")
    print(f"| baseline: naive per-track GROUP BY, one page, median | {naive_ms:.0f} ms |")
    print(f"| search p95 / baseline | {p95 / naive_ms:.3f} |")
    print(f"\n(data kept in {data_dir}: `python -m benchmarks.bench_ui --data-dir {data_dir}` reuses it)")


def _with_cursor(query, cursor):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(query, cursor=cursor)


if __name__ == "__main__":
    main()
