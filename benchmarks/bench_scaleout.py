"""Scale-out: the scale-out test's run, measured (``tests/scaleout/harness.py``), and the three-node cluster's
ingestion against a single node's.

One run of the harness: a three-node Elasticsearch cluster (one replica), two web processes, two workers, two
recorders on two live RTSP cameras, one projector, on a fresh PostgreSQL database and Redis; uploads through
both web processes while the cameras record; a worker, a recorder, an Elasticsearch node and the projector
killed (SIGKILL) and brought back. Measured:

- **search while ingesting**: every search of the run's search load (both web processes in turn, four mixed
  queries, facets included, a pause of 0.3 s between them), p50 and p95, and how many failed;
- **recovery per fault**, as the harness defines each (the killed worker's clip done, the killed recorder's
  camera recorded again by the other, the projector indexing again without the killed node, the cluster
  green again once the node is back, the restarted projector at the head);
- **lost / doubled**: detections of the log without their document / documents more than events (and the
  harness's other checks: sightings, search answers, recordings, feed, clips);
- **ingestion**: ``--events`` synthetic detection events appended to the same log, then the projector
  (``catch_up`` of ``ElasticsearchProjection``, the code ``run_projector`` runs) indexing the whole log into
  the cluster (one replica: every write acknowledged by two nodes) and into the single node of
  ``scripts/services/elasticsearch.sh`` (no replica), twice each, alternated, in the same run: events/s and
  cluster ÷ single node.

Needs PostgreSQL and Redis (``scripts/services/postgres.sh start``, ``redis.sh start``), the single node
(``elasticsearch.sh start``), the RTSP server's system packages, and ports 9301-9303 and 9401-9403 free.
Prints markdown tables.

    python -m benchmarks.bench_scaleout [--events 60000] [--uploads 4]

It creates and drops its own database and index prefixes, and starts and stops the cluster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def service_url(name: str) -> str:
    return subprocess.run([str(REPO / "scripts" / "services" / f"{name}.sh"), "url"], check=True,
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000, help="synthetic detection events for ingestion")
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--upload-seconds", type=float, default=4.0)
    args = parser.parse_args()

    import psycopg

    server = os.environ.get("SIGHTLINE_BENCH_DATABASE_URL", service_url("postgres"))
    redis = os.environ.get("SIGHTLINE_BENCH_REDIS_URL", service_url("redis"))
    single = os.environ.get("SIGHTLINE_BENCH_ELASTICSEARCH_URL", service_url("elasticsearch"))
    name = f"sightline_bench_scaleout_{os.getpid()}"
    base, _, _ = server.rpartition("/")
    with psycopg.connect(server, autocommit=True) as admin_db:
        admin_db.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    os.environ["REDIS_URL"] = redis
    os.environ["SIGHTLINE_PROJECT_INLINE"] = "0"
    from tests.scaleout import harness

    rule = harness.PRODUCTION_RULE
    os.environ.update({"SIGHTLINE_TRACKED_LABELS": ",".join(rule["TRACKED_LABELS"]),  # type: ignore[arg-type]
                       "SIGHTLINE_CONFIRM_MIN_SCORE": str(rule["CONFIRM_MIN_SCORE"]),
                       "SIGHTLINE_CONFIRM_THRESHOLD": str(rule["CONFIRM_THRESHOLD"]),
                       "SIGHTLINE_CONFIRM_MIN_HITS": str(rule["CONFIRM_MIN_HITS"])})
    try:
        run(args, redis, single)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin_db:
            admin_db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace, redis: str, single: str) -> None:
    from benchmarks._django import machine, setup

    setup("scaleout")
    from django.conf import settings
    from django.contrib.auth.models import Group, User

    from backend.eventlog import projections
    from backend.eventlog.models import Event, ProjectionCheckpoint
    from benchmarks.bench_elasticsearch import append_log
    from search.backends.elasticsearch import ElasticsearchProjection, indices
    from search.backends.elasticsearch.client import Names, get_client
    from tests.scaleout import harness

    admin = User.objects.create_user("bench-admin", password="bench-only-password-1", is_staff=True,
                                     is_superuser=True)
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    cluster = harness.ElasticsearchCluster()
    work = Path(tempfile.mkdtemp(prefix="sightline-bench-scaleout-"))
    outcome = harness.run(work=work, database=os.environ["DATABASE_URL"], redis=redis, cluster=cluster, admin=admin,
                          vtest=VTEST, secret_key=settings.SECRET_KEY, uploads=args.uploads,
                          upload_seconds=args.upload_seconds, keep_cluster=True)
    try:
        report, searches = outcome.report, outcome.searches
        run_events = Event.objects.count()
        append_log(args.events)
        total = Event.objects.count()

        def ingest(url: str, replicas: int, label: str) -> float:
            prefix = f"bench{label}{os.getpid()}"
            names = Names(prefix)
            client = get_client(url)
            projection = ElasticsearchProjection(client=client, names=names, replicas=replicas)
            projection.name = f"bench.{label}"  # its own checkpoint, from zero
            ProjectionCheckpoint.objects.filter(name=projection.name).delete()
            indices.drop_everything(client, names)
            started = time.monotonic()
            projections.catch_up(projection)
            took = time.monotonic() - started
            indices.drop_everything(client, names)
            ProjectionCheckpoint.objects.filter(name=projection.name).delete()
            return total / took

        rates: dict[str, list[float]] = {"cluster": [], "single": []}
        for label in ("single", "cluster", "cluster", "single"):
            url, replicas = (cluster.url, 1) if label == "cluster" else (single, 0)
            rates[label].append(ingest(url, replicas, label))
    finally:
        cluster.stop()

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    print(f"\nMachine: {machine()}; Elasticsearch 9 (maven flavour), 3 nodes × 512 MiB heap, one replica")
    print(f"Run: {args.uploads} uploads of {args.upload_seconds:g} s, 2 live cameras (2 s segments, 1 frame/s "
          f"analysed), {report['recorded_segments']} segments, {report['clips']} clips, {run_events} events, "
          f"{report['detections']} detections, {report['sightings']} sightings; "
          f"{outcome.timings['total']:.0f} s in all\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| search while ingesting (both web processes) | {harness.summary(searches.latencies_ms)}; "
          f"{len(searches.failures)} failed |")
    for fault, seconds in outcome.deployment.recoveries.items():
        print(f"| recovery: {fault} | {seconds:.1f} s |")
    print(f"| lost / doubled detections | {report['lost']} / {report['doubled']} |")
    print(f"| other problems found | {len(report['problems'])} {report['problems'][:3]} |")
    print(f"| ingestion, projector → 3 nodes, 1 replica ({total} events) | "
          f"{', '.join(f'{r:,.0f}' for r in rates['cluster'])} events/s |")
    print(f"| ingestion, projector → single node, no replica | "
          f"{', '.join(f'{r:,.0f}' for r in rates['single'])} events/s |")
    print(f"| cluster ÷ single node | {mean(rates['cluster']) / mean(rates['single']):.2f} |")
    if report["problems"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
