"""Chaos: Elasticsearch down for ``--outage`` seconds during ingestion; lost and doubled counts (goal 0/0) and
the backlog's drain time divided by the outage.

A throw-away SQLite data directory, a real ``manage.py run_projector`` process writing to the node of
``scripts/services/elasticsearch.sh``, and this process appending detection events (tracks of 20 detections
over 4 cameras) at ``--rate`` a second, as analyses would. After ``--before`` seconds the node's JVM is
SIGKILLed (``elasticsearch.sh kill``: no flush, no shutdown hooks); ``--outage`` seconds later it is started
again on its data, and ingestion goes on for ``--after`` seconds. Measured:

- **lost**: detection events in the log without their document in Elasticsearch;
- **doubled**: detection documents more than events, plus detections counted twice in sighting summaries
  (the sum of the summaries' counts against the tracked events);
- **drain**: from the node answering again to the projector being less than one second of ingestion behind,
  divided by the outage (the projector's backoff, at most ``run_projector``'s default 30 s, is part of it);
- the peak lag, in events.

Usage: python -m benchmarks.chaos_elasticsearch [--outage 120] [--rate 200]

It kills and restarts the local development node: never point it at a cluster that matters.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]
ES = REPO / "scripts" / "services" / "elasticsearch.sh"
TRACK_LENGTH = 20
CAMERAS = 4


def es(action: str) -> str:
    return subprocess.run([str(ES), action], check=True, capture_output=True, text=True, timeout=300).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=120.0, help="seconds Elasticsearch is down")
    parser.add_argument("--rate", type=int, default=200, help="detection events appended per second")
    parser.add_argument("--before", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=60.0)
    args = parser.parse_args()

    es("start")
    url = es("url")
    prefix = f"chaos{os.getpid()}"
    os.environ.update({"SIGHTLINE_SEARCH_BACKEND": "elasticsearch", "ELASTICSEARCH_URL": url,
                       "SIGHTLINE_ELASTICSEARCH_INDEX_PREFIX": prefix, "SIGHTLINE_PROJECT_INLINE": "0"})
    data_dir = setup("chaos-es")
    from django.conf import settings
    from django.db import connection

    from backend.eventlog import projections
    from backend.eventlog.log import EventLog, NewEvent
    from backend.eventlog.models import Event, EventType
    from backend.eventlog.schema import detection_key
    from search.backends.elasticsearch import Names, get_client, indices
    from search.backends.elasticsearch.projection import PROJECTION_NAME

    names = Names(prefix)
    log_path = Path(data_dir) / "projector.log"
    env = {**os.environ, "SIGHTLINE_DATA_DIR": data_dir, "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY}
    with log_path.open("w") as out:
        projector = subprocess.Popen([sys.executable, "manage.py", "run_projector", "--report-every", "10"],
                                     cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    stop = threading.Event()
    appended = [0]
    start = datetime(2026, 11, 2, tzinfo=UTC)

    def ingest() -> None:
        n = 0
        try:
            while not stop.is_set():
                tick = time.monotonic()
                batch = []
                for _ in range(max(1, args.rate // 10)):
                    track, frame = divmod(n, TRACK_LENGTH)
                    offset = frame * 100
                    camera = track % CAMERAS + 1
                    batch.append(NewEvent(
                        key=detection_key(track + 1, "chaos", offset, 0), type=EventType.OBJECT_DETECTED,
                        time=start + timedelta(seconds=track, milliseconds=offset), camera_id=camera,
                        clip_id=track + 1, label="person", confidence=0.3 + (n % 70) / 100, x1=0.1, y1=0.1,
                        x2=0.3, y2=0.5, track=track + 1, offset_ms=offset, model="chaos"))
                    n += 1
                EventLog.append(batch)
                appended[0] = n
                stop.wait(max(0.0, 0.1 - (time.monotonic() - tick)))
        finally:
            connection.close()

    def lag() -> int:
        return projections.lag(PROJECTION_NAME)

    peak = [0]
    ingestion = threading.Thread(target=ingest, name="ingest")
    try:
        ingestion.start()
        time.sleep(args.before)
        print(f"lag before the outage: {lag()} events", flush=True)
        es("kill")
        killed = time.monotonic()
        while time.monotonic() - killed < args.outage:
            peak[0] = max(peak[0], lag())
            time.sleep(0.5)
        es("start")
        back = time.monotonic()
        drained = None
        while time.monotonic() - back < args.after or drained is None:
            current = lag()
            peak[0] = max(peak[0], current)
            if drained is None and current < args.rate:
                drained = time.monotonic() - back
            if time.monotonic() - back > args.after + 600:
                break
            time.sleep(0.2)
        stop.set()
        ingestion.join()
        deadline = time.monotonic() + 300
        while lag() and time.monotonic() < deadline:
            time.sleep(0.2)
        final_lag = lag()
    finally:
        stop.set()
        projector.send_signal(signal.SIGTERM)
        try:
            projector.wait(timeout=60)
        except subprocess.TimeoutExpired:
            projector.kill()

    client = get_client(url)
    client.indices.refresh(index=f"{prefix}-*", allow_no_indices=True)
    events = Event.objects.filter(type=EventType.OBJECT_DETECTED).count()
    documents = client.count(index=names.detections_alias)["count"]
    counted = 0
    from elasticsearch import helpers

    for hit in helpers.scan(client, index=names.sightings_alias, query={"query": {"match_all": {}}},
                            _source=["detections"]):
        counted += hit["_source"]["detections"]
    lost = max(0, events - documents)
    doubled = max(0, documents - events) + max(0, counted - events)
    indices.drop_everything(client, names)

    print(f"\nMachine: {machine()}; Elasticsearch {url}, killed (SIGKILL) for {args.outage:.0f} s")
    print(f"Ingestion: {args.rate} detection events/s, {events} appended in all; projector: run_projector")
    print("\n| lost | doubled | peak lag (events) | drain after the node is back | drain ÷ outage | final lag |")
    print("|---|---|---|---|---|---|")
    drain = "n/a" if drained is None else f"{drained:.1f} s"
    ratio = "n/a" if drained is None else f"{drained / args.outage:.2f}"
    print(f"| {lost} | {doubled} | {peak[0]} | {drain} | {ratio} | {final_lag} |")
    if lost or doubled or final_lag:
        print(f"projector log: {log_path}")
        sys.exit(1)


if __name__ == "__main__":
    main()
