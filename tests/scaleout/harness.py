"""A scaled-out Sightline on this machine, for real: the harness of ``test_scaleout.py`` and
``benchmarks/bench_scaleout.py``.

Every role is a real process on loopback, as ``docker/compose.yaml`` runs them: a three-node Elasticsearch
cluster (``scripts/services/elasticsearch.sh cluster-start``: its own ports, data directories and 512 MiB
heaps; indices with one replica, ``SIGHTLINE_ELASTICSEARCH_REPLICAS``), two ASGI web processes (daphne), two
Celery analysis workers, two recorders sharing the cameras by lease (``run_recorder``), one projector
(``run_projector``, ``SIGHTLINE_PROJECT_INLINE=0``), all on one PostgreSQL database, one Redis (broker and
channel layer) and one data directory, the way the shared volumes are in a deployment. Cameras are the
recorder tests' RTSP server (GStreamer, digest auth), one process per camera.

The harness starts, kills (SIGKILL) and restarts them, drives them (uploads through both web processes,
searches against both, WebSocket clients of the live feed that move from one web process to the other by
``after=``), and checks the outcome afterwards (:meth:`Deployment.verify`): every detection of the log
indexed exactly once, the sighting summaries in Elasticsearch equal to the database projection and to the
sighting rule folded afresh from the log, the search API of each web process returning every sighting
once, no camera recorded by two recorders at once, every feed client's messages in order, once, and
complete, and no clip left unfinished. It writes nothing outside its own data directory and index prefix
(whose indices it deletes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ES_SCRIPT = REPO / "scripts" / "services" / "elasticsearch.sh"
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def log(message: str) -> None:
    """One line of the run's record (pytest shows it with -s, and on failure)."""
    print(f"[scaleout {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------------- ES


@dataclass
class ElasticsearchCluster:
    """The cluster of ``elasticsearch.sh cluster-start``: node i on HTTP port ``first_port + i - 1``."""

    nodes: int = 3
    first_port: int = 9301
    heap: str = "512m"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "ES_CLUSTER_NODES": str(self.nodes), "ES_CLUSTER_PORT": str(self.first_port),
                "ES_HEAP": self.heap}

    def script(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([str(ES_SCRIPT), *args], env=self._env(), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"elasticsearch.sh {' '.join(args)} failed: {(done.stdout + done.stderr)[-3000:]}")
        return done.stdout.strip()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.first_port + i}" for i in range(self.nodes)]

    @property
    def url(self) -> str:
        """What ``ELASTICSEARCH_URL`` is set to: every node, comma-separated."""
        return ",".join(self.urls)

    def start(self) -> None:
        self.script("cluster-start", timeout=400)

    def stop(self) -> None:
        self.script("cluster-stop", timeout=200)

    def kill_node(self, node: int) -> None:
        self.script("node", str(node), "kill")

    def start_node(self, node: int) -> None:
        self.script("node", str(node), "start")

    def health(self, **params: str) -> dict[str, Any]:
        """``_cluster/health`` from the first node that answers (``{}`` when none does)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        for url in self.urls:
            try:
                with urllib.request.urlopen(f"{url}/_cluster/health?{query}", timeout=30) as answer:  # noqa: S310
                    return dict(json.loads(answer.read()))
            except OSError:
                continue
        return {}

    def green(self, timeout_s: int = 1) -> bool:
        health = self.health(wait_for_status="green", wait_for_nodes=str(self.nodes), timeout=f"{timeout_s}s")
        return health.get("status") == "green" and health.get("number_of_nodes") == self.nodes


# ---------------------------------------------------------------------------------------------- processes


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    #: Every incarnation's start (monotonic), for the recorders' take-over check.
    started: list[float] = field(default_factory=list)

    def start(self) -> Process:
        out = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        self.started.append(time.monotonic())
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> float:
        """SIGKILL (a crash: no clean-up, no lease release); returns when it happened (monotonic)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        at = time.monotonic()
        self.popen.wait(30)
        return at

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(30)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def database_url() -> str:
    """This process's database as a URL the other processes connect to (the test database in pytest)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


# ---------------------------------------------------------------------------------------------- live feed


@dataclass
class FeedClient:
    """A WebSocket client of ``/ws/detections/`` that remembers every message and resumes by ``after=``."""

    name: str
    token: str
    port: int
    position: int
    sightings: list[tuple[int, int]] = field(default_factory=list)  # (seq, sighting id) in arrival order
    connects: int = 0
    pong_seq: int = -1
    gaps: int = 0
    errors: list[str] = field(default_factory=list)
    _ws: Any = None
    _stop: bool = False

    async def run(self) -> None:
        import websockets

        while not self._stop:
            url = f"ws://127.0.0.1:{self.port}/ws/detections/?token={self.token}&after={self.position}"
            try:
                async with websockets.connect(url, max_size=2**23, open_timeout=30) as ws:
                    self._ws = ws
                    self.connects += 1
                    async for raw in ws:
                        self._handle(json.loads(raw))
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if not self._stop:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.5)
            finally:
                self._ws = None

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("seq") is None:
            self.errors.append(f"message without seq: {message}")
            return
        if message["type"] == "sighting":
            self.sightings.append((message["seq"], message["sighting"]["id"]))
        elif message["type"] in ("gap", "error"):
            self.errors.append(f"{message['type']}: {message}")
            self.gaps += message["type"] == "gap"
        elif message["type"] == "pong":
            self.pong_seq = message["seq"]
        # Every message's seq is a resume point: everything up to it has been delivered (or did not match).
        self.position = message["seq"]

    async def bounce(self, port: int) -> None:
        """Disconnect, and come back on ``port`` (the other web process) after the last message processed."""
        self.port = port
        if self._ws is not None:
            await self._ws.close()

    async def ping(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(json.dumps({"type": "ping"}))

    async def close(self) -> None:
        self._stop = True
        if self._ws is not None:
            await self._ws.close()


class FeedClients:
    """Feed clients on one event loop in a thread of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="feed-clients", daemon=True)
        self.thread.start()
        self.clients: list[FeedClient] = []
        self._tasks: list[Any] = []

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, client: FeedClient) -> FeedClient:
        async def start() -> Any:
            return asyncio.ensure_future(client.run())

        self._tasks.append(self._call(start()))
        self.clients.append(client)
        return client

    def bounce(self, client: FeedClient, port: int) -> None:
        self._call(client.bounce(port))

    def caught_up(self, seq: int) -> bool:
        """Whether every client has read the log up to ``seq`` (asks each with a ping)."""
        for client in self.clients:
            if client.pong_seq < seq:
                self._call(client.ping())
        return all(client.pong_seq >= seq for client in self.clients)

    def close(self) -> None:
        async def stop_all() -> None:
            for client in self.clients:
                await client.close()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._call(stop_all(), timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# ------------------------------------------------------------------------------------------------ searches


class SearchLoad:
    """Searches against every web process in turn, in a thread, timing each (``latencies_ms``)."""

    def __init__(self, deployment: Deployment, token: str, pause_s: float = 0.3) -> None:
        import requests

        self.deployment, self.pause_s = deployment, pause_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.latencies_ms: list[float] = []
        self.by_port: dict[int, int] = {}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="search-load", daemon=True)

    def start(self) -> SearchLoad:
        self._thread.start()
        return self

    def _run(self) -> None:
        queries = [{"tag": "person"}, {}, {"tag": "person", "min_confidence": "0.6"}, {"sort": "time"}]
        n = 0
        while not self._stop.is_set():
            port = self.deployment.web_ports[n % len(self.deployment.web_ports)]
            params = queries[n % len(queries)]
            n += 1
            started = time.monotonic()
            try:
                answer = self.session.get(f"http://127.0.0.1:{port}/api/v1/search/", params=params, timeout=30)
                elapsed = (time.monotonic() - started) * 1000
                if answer.status_code == 200:
                    self.latencies_ms.append(elapsed)
                    self.by_port[port] = self.by_port.get(port, 0) + 1
                else:
                    self.failures.append(f"{port} {answer.status_code} {answer.text[:200]}")
            except Exception as exc:  # a web process being restarted, a timeout: counted, not fatal
                self.failures.append(f"{port} {type(exc).__name__}: {exc}")
            self._stop.wait(self.pause_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


# ------------------------------------------------------------------------------------------------ the site


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


def percentile(values: list[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    return data[min(len(data) - 1, round(q * (len(data) - 1)))]


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms ({len(values)})"


@contextlib.contextmanager
def measured(deployment: Deployment, name: str) -> Iterator[dict[str, float]]:
    """Time a fault's recovery: the block sets ``box['from']`` (the fault) and returns once recovered."""
    box: dict[str, float] = {}
    yield box
    took = time.monotonic() - box["from"]
    deployment.recoveries[name] = took
    log(f"recovered from {name} in {took:.1f} s")


# ------------------------------------------------------------------------------------------------ the run


#: What the test process itself must run with (``settings.SIGHTLINE.model_copy(update=...)``): the production
#: rule, as the other processes, and no inline projection (the projector owns both).
TEST_PROCESS_SETTINGS: dict[str, Any] = {**PRODUCTION_RULE, "PROJECT_INLINE": False}


@dataclass
class Outcome:
    deployment: Deployment
    report: dict[str, Any]
    searches: SearchLoad
    attempts_after_worker_kill: int = 0
    #: What the killed recorder wrote once started again (while the other held both cameras' leases).
    restarted_recorder_log: str = ""
    replicas: dict[str, str] = field(default_factory=dict)
    cluster_green: bool = False
    timings: dict[str, float] = field(default_factory=dict)


def run(*, work: Path, database: str, redis: str, cluster: ElasticsearchCluster, admin: Any, vtest: Path,
        secret_key: str, uploads: int = 4, upload_seconds: float = 4.0, outage_s: float = 10.0,
        settle_s: float = 5.0, keep_cluster: bool = False) -> Outcome:
    """The whole scenario: start the site, drive it, inject the four faults, drain, verify, stop.

    ``admin``: a user (in this process's database, which the site's ``database`` URL names) whose token the
    clients use. Every process started is stopped, whatever happens; the cluster too unless ``keep_cluster``.
    """
    import requests
    from knox.models import AuthToken

    from analysis.transcode import transcode_to_h264
    from backend.cameras.models import Camera
    from backend.clips.models import Clip
    from tests.recorder.conftest import RtspServer, make_camera

    began = time.monotonic()
    timings: dict[str, float] = {}
    footage = work / "footage"
    footage.mkdir(parents=True, exist_ok=True)
    clips = [transcode_to_h264(vtest, footage / f"upload-{i}.mp4", max_seconds=upload_seconds,
                               start_seconds=i * upload_seconds) for i in range(uploads)]
    stream = transcode_to_h264(vtest, footage / "stream.mp4", max_seconds=8, gop=10)
    prefix = f"scaleout{os.getpid()}"
    deployment = Deployment(data_dir=work / "data", database=database, redis=redis, cluster=cluster,
                            prefix=prefix, secret_key=secret_key)
    servers: list[RtspServer] = []
    feed = FeedClients()
    searches: SearchLoad | None = None
    started = time.monotonic()
    cluster.start()
    timings["cluster start"] = time.monotonic() - started
    log(f"Elasticsearch cluster of {cluster.nodes} green at {cluster.url} in {timings['cluster start']:.1f} s")
    try:
        # Cameras: two live ones on their own RTSP servers, each leased to one recorder to begin with (so
        # that they share the cameras rather than the first to start taking both); two for uploads.
        live = []
        for n in (1, 2):
            servers.append(RtspServer(stream).start())
            camera = make_camera(servers[-1], f"Live {n}")
            Camera.objects.filter(pk=camera.pk).update(
                analysis_fps=1.0, privacy_mask="none", lease_owner=f"recorder-{n}",
                lease_expires_at=datetime.now(UTC) + timedelta(seconds=120))
            live.append(camera.pk)
        upload_cameras = [Camera.objects.create(name=f"Uploads {n}", privacy_mask="none").pk for n in (1, 2)]
        token = AuthToken.objects.create(admin)[1]

        started = time.monotonic()
        for n in (1, 2):
            deployment.start_web(f"web-{n}")
        for n in (1, 2):
            deployment.start_worker(f"worker-{n}")
        deployment.start_projector()
        for n in (1, 2):
            deployment.start_recorder(f"recorder-{n}")
        deployment.wait_for_web()
        web1, web2 = deployment.web_ports
        feed_start = deployment.head()
        for n, port in enumerate((web1, web1, web2, web2)):
            feed.add(FeedClient(f"client-{n + 1}", token, port, feed_start))
        wait_until(lambda: all(c.connects for c in feed.clients), 60, "the feed clients to connect")
        wait_until(lambda: all("ready." in deployment.processes[f"worker-{n}"].tail(20000) for n in (1, 2)), 240,
                   "both workers to be ready")
        wait_until(lambda: all(Clip.objects.filter(camera_id=pk, source=Clip.Source.RECORDING).exists()
                               for pk in live), 120, "a recorded segment of each live camera")
        holders = dict(Camera.objects.filter(pk__in=live).values_list("pk", "lease_owner"))
        timings["site start"] = time.monotonic() - started
        log(f"site up in {timings['site start']:.1f} s: web :{web1} :{web2}, leases {holders}")
        if sorted(holders.values()) != ["recorder-1", "recorder-2"]:
            raise AssertionError(f"the recorders do not share the cameras: {holders}")
        searches = SearchLoad(deployment, token).start()

        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        for i, path in enumerate(clips):
            port = deployment.web_ports[i % 2]
            with path.open("rb") as fh:
                answer = session.post(
                    f"http://127.0.0.1:{port}/api/v1/clips/", files={"file": (path.name, fh, "video/mp4")},
                    data={"camera": upload_cameras[i % 2], "started_at": f"2026-12-0{1 + i // 2}T08:00:0{i}Z"},
                    timeout=120)
            if answer.status_code != 202:
                raise AssertionError(f"upload {i} to :{port}: {answer.status_code} {answer.text[:300]}")
        log(f"{len(clips)} uploads of {upload_seconds:g} s accepted (202) by both web processes")

        # Fault 1: a worker SIGKILLed while it analyses (its own report, host:pid, says it is busy). Its clip
        # then runs again on the other worker (a second attempt); a kill that came just as the job ended
        # (nothing ran again) is tried again, at most three times.
        attempts = 0
        for _ in range(3):
            name, busy = wait_until(lambda: deployment.busy_worker(), 240, "a worker busy with a clip",
                                    interval=0.1)
            with measured(deployment, "worker SIGKILL (its clip done by the other worker)") as box:
                box["from"] = deployment.processes[name].kill()
                if feed.clients[0].connects == 1:
                    feed.bounce(feed.clients[0], web2)  # a client drops and comes back on the other web process
                wait_until(lambda busy=busy: not Clip.objects.filter(pk__in=busy).exclude(status=Clip.Status.DONE)
                           .exists(),
                           300, f"clips {busy} to be finished after {name} was killed")
            deployment.restart(name)
            attempts = max(Clip.objects.filter(pk__in=busy).values_list("attempts", flat=True))
            if attempts >= 2:
                break
            log(f"{name} was killed as its job ended (nothing ran again); again")

        # Fault 2: a recorder SIGKILLed: its camera is taken over once its lease lapses, by the other one.
        mine = list(Camera.objects.filter(pk__in=live, lease_owner="recorder-1").values_list("pk", flat=True))
        with measured(deployment, "recorder SIGKILL (its camera recording again, by the other recorder)") as box:
            box["from"] = deployment.processes["recorder-1"].kill()
            killed_at = datetime.now(UTC)
            wait_until(lambda: all(
                Camera.objects.filter(pk=pk, lease_owner="recorder-2").exists()
                and Clip.objects.filter(camera_id=pk, source=Clip.Source.RECORDING, started_at__gt=killed_at).exists()
                for pk in mine), 120, f"cameras {mine} to be recorded by recorder-2")
        recorder_log = deployment.processes["recorder-1"].log_path
        offset = recorder_log.stat().st_size
        deployment.restart("recorder-1")  # it must find every camera leased, and record none

        # Fault 3: an Elasticsearch node SIGKILLed (the first of the URL), brought back after the outage.
        with measured(deployment, "Elasticsearch node SIGKILL (projector writing again on the others)") as box:
            head = deployment.head()
            box["from"] = time.monotonic()
            cluster.kill_node(1)
            feed.bounce(feed.clients[2], web1)
            wait_until(lambda: deployment.head() > head, 120, "new events after the node was killed")
            later = deployment.head()
            wait_until(lambda: deployment.projected(later), 180, "the projector to index again without the node")
        # (The kill was real: the cluster counts one node fewer, once it has a master again if it was it.)
        wait_until(lambda: cluster.health().get("number_of_nodes") == cluster.nodes - 1, 60,
                   "the cluster to count one node fewer")
        time.sleep(max(0.0, outage_s - (time.monotonic() - box["from"])))
        with measured(deployment, "Elasticsearch node back (cluster green, 3 nodes)") as box:
            box["from"] = time.monotonic()
            cluster.start_node(1)
            wait_until(lambda: cluster.green(2), 300, "the cluster to be green with every node again", interval=0)

        # Fault 4: the projector SIGKILLed and started again.
        # (Recovered once what was appended after the kill, which only the new process can have read, is
        # projected by both projections.)
        with measured(deployment, "projector SIGKILL and restart (both projections past the kill)") as box:
            box["from"] = deployment.processes["projector"].kill()
            head = deployment.head()
            deployment.restart("projector")
            wait_until(lambda: deployment.head() > head, 120, "new events after the projector was killed")
            later = deployment.head()
            wait_until(lambda: deployment.projected(later), 180, "the restarted projector to catch up")
        feed.bounce(feed.clients[1], web2)
        feed.bounce(feed.clients[3], web1)
        time.sleep(settle_s)

        # Drain: the recorders stop (finishing their segments), the site finishes what it has.
        started = time.monotonic()
        searches.stop()
        for n in (1, 2):
            deployment.processes[f"recorder-{n}"].stop(60)
        wait_until(lambda: not Clip.objects.exclude(status__in=[Clip.Status.DONE, Clip.Status.FAILED]).exists(),
                   300, "every clip to be analysed")
        head = deployment.head()
        wait_until(lambda: deployment.projected(head), 180, "the projections to reach the head")
        wait_until(lambda: feed.caught_up(head), 120, "every feed client to reach the head", interval=0.5)
        timings["drain"] = time.monotonic() - started
        dead = deployment.dead()
        if dead:
            raise AssertionError("processes died on their own:\n" + "\n".join(dead))

        report = deployment.verify(feed_start=feed_start, feed=feed, token=token)
        restarted_log = recorder_log.read_text(errors="replace")[offset:]
        client = deployment.es_client()
        replicas = {index: body["settings"]["index"]["number_of_replicas"]
                    for index, body in client.indices.get_settings(index=f"{prefix}-*").items()}
        green = cluster.green(10)
        timings["total"] = time.monotonic() - began
        return Outcome(deployment, report, searches, attempts, restarted_log, replicas, green, timings)
    except BaseException:
        for name, process in deployment.processes.items():
            log(f"--- {name} log tail ---\n{process.tail(2000)}")
        raise
    finally:
        if searches is not None:
            searches.stop()
        feed.close()
        deployment.stop_all()
        for server in servers:
            server.kill()
        deployment.drop_indices()
        if not keep_cluster:
            with contextlib.suppress(Exception):
                cluster.stop()
