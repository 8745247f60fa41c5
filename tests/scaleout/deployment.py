"""The scale-out harness's deployment: every role's processes on one database, broker, data directory and
cluster, started, killed and checked afterwards (:meth:`Deployment.verify`; ``tests/scaleout/harness.py``)."""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from .clients import FeedClients
from .processes import ElasticsearchCluster, Process, free_port, wait_until

#: The production confirmation rule (the test settings confirm every track): the feed's and search's
#: answers then depend on it, as on a site.
PRODUCTION_RULE = {"TRACKED_LABELS": ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
                   "CONFIRM_MIN_SCORE": 0.3, "CONFIRM_THRESHOLD": 0.5, "CONFIRM_MIN_HITS": 3}
#: A killed worker's job is handed out again after this long without its heartbeat (default 120 s).
HEARTBEAT_TIMEOUT_S = 4
#: Recorder leases: a killed recorder's cameras are taken over once its leases lapse.
LEASE_TTL_S = 6.0
#: Segment times come from the connection's wall clock plus the stream's timestamps: consecutive segments
#: of one connection meet exactly, so anything beyond rounding is two recordings at once.
_OVERLAP_TOLERANCE = timedelta(seconds=0.25)


class Deployment:
    """Every role of a server-mode site as processes of this machine, on one database, Redis and cluster."""

    def __init__(self, *, data_dir: Path, database: str, redis: str, cluster: ElasticsearchCluster,
                 prefix: str, secret_key: str, replicas: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir, self.cluster, self.prefix = data_dir, cluster, prefix
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SIGHTLINE_", "ELASTICSEARCH_URL", "REDIS_URL", "DATABASE_URL"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "backend.sightline.settings",
            "DATABASE_URL": database, "REDIS_URL": redis, "ELASTICSEARCH_URL": cluster.url,
            "SIGHTLINE_ELASTICSEARCH_INDEX_PREFIX": prefix, "SIGHTLINE_ELASTICSEARCH_REPLICAS": str(replicas),
            "SIGHTLINE_PROJECT_INLINE": "0", "SIGHTLINE_SECRET_KEY": secret_key,
            "SIGHTLINE_DATA_DIR": str(data_dir), "SIGHTLINE_CELERY_ALWAYS_EAGER": "0",
            "SIGHTLINE_ANALYSIS_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
            "SIGHTLINE_JOB_SWEEP_EVERY_S": "1", "SIGHTLINE_ANALYSIS_REDISPATCH_S": "10",
            "SIGHTLINE_ANALYSIS_MAX_ATTEMPTS": "5", "SIGHTLINE_CAMERA_ALLOW_LOOPBACK": "1",
            "SIGHTLINE_FACE_DETECTION": "0", "SIGHTLINE_LIVE_VIEW": "0", "SIGHTLINE_DISK_FREE_FLOOR_BYTES": "0",
            "SIGHTLINE_ALLOWED_HOSTS": "127.0.0.1,localhost", "SIGHTLINE_TORCH_THREADS": "1",
            "SIGHTLINE_LOG_FORMAT": "json",
            # No admission refusals (tests/clips test them): on this shared 2-core machine the workers'
            # measured rate can fall below what the live cameras need, and uploads would get 503.
            "SIGHTLINE_ANALYSIS_MAX_DELAY_S": "0",
            "SIGHTLINE_TRACKED_LABELS": ",".join(PRODUCTION_RULE["TRACKED_LABELS"]),  # type: ignore[arg-type]
            "SIGHTLINE_CONFIRM_MIN_SCORE": str(PRODUCTION_RULE["CONFIRM_MIN_SCORE"]),
            "SIGHTLINE_CONFIRM_THRESHOLD": str(PRODUCTION_RULE["CONFIRM_THRESHOLD"]),
            "SIGHTLINE_CONFIRM_MIN_HITS": str(PRODUCTION_RULE["CONFIRM_MIN_HITS"]),
            **(extra_env or {}),
        })
        self.env = env
        self.processes: dict[str, Process] = {}
        self.web_ports: list[int] = []
        #: Recovery after each fault, seconds, by name (logged as they are measured).
        self.recoveries: dict[str, float] = {}

    # -- roles --------------------------------------------------------------------------------------------

    def _process(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.env, self.logs / f"{name}.log")
        self.processes[name] = process
        return process.start()

    def start_web(self, name: str) -> int:
        port = free_port()
        self._process(name, [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "backend.sightline.asgi:application"])
        self.web_ports.append(port)
        return port

    def start_worker(self, name: str) -> Process:
        return self._process(name, [sys.executable, "-m", "celery", "-A", "backend.sightline", "worker", "-Q",
                                    "analysis", "-c", "1", "--pool=solo", "-n", f"{name}@%h", "--loglevel=INFO"])

    def start_recorder(self, name: str) -> Process:
        """Owner id = ``name``, so the test can hand it a camera's lease and read who holds what."""
        return self._process(name, [sys.executable, "manage.py", "run_recorder", "--owner", name,
                                    "--segment-seconds", "2", "--lease-ttl", str(LEASE_TTL_S), "--poll", "1",
                                    "--read-timeout", "5"])

    def start_projector(self, name: str = "projector") -> Process:
        return self._process(name, [sys.executable, "manage.py", "run_projector", "--interval", "0.2",
                                    "--max-backoff", "2", "--report-every", "5"])

    def restart(self, name: str) -> Process:
        return self.processes[name].start()

    def wait_for_web(self, timeout: float = 120) -> None:
        def ready() -> bool:
            for port in self.web_ports:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                        if answer.status != 200:
                            return False
                except OSError:
                    return False
            return True

        wait_until(ready, timeout, "both web processes to answer /readyz", interval=0.5)

    def busy_worker(self) -> tuple[str, list[int]] | None:
        """(name, clips analysing) when one of our workers reports itself busy while clips are analysing."""
        from django.utils import timezone

        from backend.clips.models import AnalysisWorker, Clip

        pids = {p.popen.pid: name for name, p in self.processes.items()
                if name.startswith("worker") and p.alive() and p.popen is not None}
        recent = timezone.now() - timedelta(seconds=HEARTBEAT_TIMEOUT_S)
        for worker in AnalysisWorker.objects.filter(seen_at__gte=recent).exclude(current_priority=""):
            name = pids.get(int(worker.name.rsplit(":", 1)[-1]))
            clips = list(Clip.objects.filter(status=Clip.Status.ANALYSING, frames_analysed__gt=0)
                         .values_list("pk", flat=True))
            if name is not None and clips:
                return name, clips
        return None

    def dead(self) -> list[str]:
        """Roles that exited without being told to (a crash the test did not cause)."""
        return [f"{name} (rc {p.popen.returncode}):\n{p.tail(1500)}" for name, p in self.processes.items()
                if p.popen is not None and p.popen.poll() is not None and p.popen.returncode not in (0, -9, -15)]

    def stop_all(self) -> None:
        # Recorders first (they finish and register their segments), then everything else at once.
        for name in [n for n in self.processes if n.startswith("recorder")]:
            self.processes[name].stop(60)
        for process in self.processes.values():
            if process.alive():
                assert process.popen is not None
                process.popen.terminate()
        for process in self.processes.values():
            process.stop(30)

    # -- state --------------------------------------------------------------------------------------------

    @staticmethod
    def head() -> int:
        from backend.eventlog.log import EventLog

        return EventLog.head()

    @staticmethod
    def checkpoints() -> dict[str, int]:
        from backend.eventlog.models import ProjectionCheckpoint
        from search.backends.elasticsearch.projection import PROJECTION_NAME
        from search.projection import SightingProjection

        rows = dict(ProjectionCheckpoint.objects.values_list("name", "position"))
        return {name: rows.get(name, 0) for name in (SightingProjection.name, PROJECTION_NAME)}

    def projected(self, seq: int) -> bool:
        """Both projections (database sightings, Elasticsearch) have read the log up to ``seq``."""
        return min(self.checkpoints().values()) >= seq

    def es_client(self) -> Any:
        from search.backends.elasticsearch.client import get_client

        return get_client(self.cluster.url)

    def drop_indices(self) -> None:
        from search.backends.elasticsearch import indices
        from search.backends.elasticsearch.client import Names

        with contextlib.suppress(Exception):
            indices.drop_everything(self.es_client(), Names(self.prefix))

    # -- the outcome --------------------------------------------------------------------------------------

    def verify(self, *, feed_start: int, feed: FeedClients | None, token: str) -> dict[str, Any]:
        """Everything the run must have kept: a report of counts and of every problem found (``problems``)."""
        import requests
        from elasticsearch import helpers

        from backend.clips.models import Clip
        from backend.eventlog.models import Event, EventType
        from backend.eventlog.schema import PRIVACY_LABELS
        from backend.live import feed as live_feed
        from backend.live.params import FeedParams
        from search.backends.elasticsearch.client import Names
        from search.models import PendingTrack, Sighting
        from search.sightings import RuleBook, SightingSummary, begin, fold

        problems: list[str] = []
        report: dict[str, Any] = {"problems": problems}
        names = Names(self.prefix)
        client = self.es_client()
        client.indices.refresh(index=f"{self.prefix}-*", allow_no_indices=True)

        # Every detection of the log: one document, none without its event.
        detections = Event.objects.filter(type=EventType.OBJECT_DETECTED).exclude(label__in=sorted(PRIVACY_LABELS))
        keys = list(detections.values_list("key", flat=True))
        everything = {"query": {"match_all": {}}}
        docs = [hit["_id"] for hit in helpers.scan(client, index=names.detections_alias, query=everything,
                                                   _source=False)]
        report["detections"], report["detection_documents"] = len(keys), len(docs)
        report["lost"] = len(set(keys) - set(docs))
        report["doubled"] = (len(docs) - len(set(docs))) + len(set(docs) - set(keys))
        if report["lost"] or report["doubled"]:
            problems.append(f"detections: {report['lost']} not indexed, {report['doubled']} indexed twice or "
                            f"without an event (of {len(keys)})")

        # The sighting rule folded afresh from the log, per track: what both projections must hold.
        events = list(detections.filter(track__isnull=False).order_by("seq"))
        rules = RuleBook.load({e.camera_id for e in events})
        folded: dict[int, SightingSummary] = {}
        confirmed_at: dict[int, int] = {}
        for event in events:
            assert event.track is not None
            summary = folded.get(event.track) or begin(SightingSummary, event.track, event)
            folded[event.track] = fold(summary, event, rules.rule(summary.camera_id, summary.label))
            if summary.confirmed and event.track not in confirmed_at:
                confirmed_at[event.track] = event.seq

        def shape(s: Any) -> tuple[Any, ...]:
            return (s.camera_id, s.label, s.detections, round(s.confidence, 6), s.best_seq)

        expected = {t: shape(s) for t, s in folded.items() if s.confirmed}
        pending = {t for t, s in folded.items() if not s.confirmed}
        database = {s.id: shape(s) for s in Sighting.objects.all()}
        database_pending = set(PendingTrack.objects.values_list("id", flat=True))
        es_confirmed: dict[int, tuple[Any, ...]] = {}
        es_pending: set[int] = set()
        es_summaries = 0
        for hit in helpers.scan(client, index=names.sightings_alias, query=everything):
            es_summaries += 1
            doc = SightingSummary.from_document(hit["_source"])
            if doc.confirmed:
                es_confirmed[doc.id] = shape(doc)
            else:
                es_pending.add(doc.id)
        report.update(sightings=len(expected), pending_tracks=len(pending), es_summaries=es_summaries)
        if es_summaries != len(es_confirmed) + len(es_pending):
            problems.append(f"{es_summaries} summary documents for {len(es_confirmed) + len(es_pending)} tracks")
        for what, got in (("database projection", database), ("Elasticsearch", es_confirmed)):
            if got != expected:
                wrong = sorted(t for t in set(got) | set(expected) if got.get(t) != expected.get(t))
                problems.append(f"{what}: {len(wrong)} sightings differ from the rule folded from the log, e.g. "
                                f"{[(t, got.get(t), expected.get(t)) for t in wrong[:3]]}")
        for what, got_pending in (("database", database_pending), ("Elasticsearch", es_pending)):
            if got_pending != pending:
                problems.append(f"{what}: pending tracks {len(got_pending)} != {len(pending)} from the log")

        # The search API of every web process: each sighting once.
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        for port in self.web_ports:
            ids: list[int] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"page_size": 100, "facets": "false"}
                if cursor:
                    params["cursor"] = cursor
                page = session.get(f"http://127.0.0.1:{port}/api/v1/search/", params=params, timeout=60).json()
                ids += [r["id"] for r in page["results"]]
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            if len(ids) != len(set(ids)) or set(ids) != set(expected):
                problems.append(f"search on web :{port}: {len(ids)} results, {len(set(ids))} distinct, "
                                f"{len(expected)} sightings expected")
            report[f"search_results_{port}"] = len(ids)

        # Recordings: per camera, no two segments overlap (two recorders at once would make them).
        recordings = Clip.objects.filter(source=Clip.Source.RECORDING).order_by("camera_id", "started_at")
        report["recorded_segments"] = recordings.count()
        overlaps = []
        previous: Any = None
        for clip in recordings:
            if previous is not None and previous.camera_id == clip.camera_id and \
                    clip.started_at < previous.ends_at - _OVERLAP_TOLERANCE:
                overlaps.append((clip.camera_id, previous.pk, clip.pk,
                                 round((previous.ends_at - clip.started_at).total_seconds(), 2)))
            previous = clip
        if overlaps:
            problems.append(f"overlapping segments (camera, clip, clip, seconds): {overlaps[:5]}")

        # No clip stuck or failed.
        unfinished = list(Clip.objects.exclude(status=Clip.Status.DONE).values_list("pk", "status", "error"))
        report["clips"] = Clip.objects.count()
        if unfinished:
            problems.append(f"clips not done: {unfinished[:5]}")

        # The feed: every client got, in order and once, every message of a confirmed sighting from the
        # detection that confirmed it on; earlier detections of the track only if it was confirmed by the
        # time the client read them (a replay after confirmation sends them, a live read before does not).
        if feed is not None:
            end = self.head()
            allowed: list[tuple[int, int]] = []
            position = feed_start
            while position < end:
                batch = live_feed.read_batch(FeedParams(), None, position, end)
                allowed += [(m["seq"], m["sighting"]["id"]) for m in batch.messages if m["type"] == "sighting"]
                position = batch.position
            required = [(seq, track) for seq, track in allowed if seq >= confirmed_at.get(track, seq + 1)]
            report["feed_messages_required"] = len(required)
            allowed_set = set(allowed)
            for client in feed.clients:
                got = client.sightings
                seqs = [seq for seq, _ in got]
                if seqs != sorted(set(seqs)):
                    problems.append(f"feed {client.name}: messages out of order or twice")
                if not set(got) <= allowed_set:
                    problems.append(f"feed {client.name}: {len(set(got) - allowed_set)} messages the log does not "
                                    f"give, e.g. {sorted(set(got) - allowed_set)[:3]}")
                missing = sorted(set(required) - set(got))
                if missing:
                    problems.append(f"feed {client.name}: {len(missing)} of {len(required)} messages missing, "
                                    f"e.g. {missing[:3]}")
                if client.gaps:
                    problems.append(f"feed {client.name}: {client.gaps} gaps in its replay")
                report[f"feed_{client.name}"] = {"messages": len(got), "connects": client.connects}
        return report


# ------------------------------------------------------------------------------------------------ helpers

