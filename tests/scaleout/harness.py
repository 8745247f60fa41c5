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

Its pieces: :mod:`.processes` (the cluster, a role's process), :mod:`.clients` (feed clients, the search
load) and :mod:`.deployment` (the site and its checks); this module runs the scenario.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .clients import FeedClient, FeedClients, SearchLoad
from .deployment import HEARTBEAT_TIMEOUT_S, LEASE_TTL_S, PRODUCTION_RULE, Deployment
from .processes import ElasticsearchCluster, Process, database_url, free_port, log, wait_until

__all__ = ["HEARTBEAT_TIMEOUT_S", "LEASE_TTL_S", "PRODUCTION_RULE", "TEST_PROCESS_SETTINGS", "Deployment",
           "ElasticsearchCluster", "FeedClient", "FeedClients", "Outcome", "Process", "SearchLoad", "database_url",
           "free_port", "log", "measured", "percentile", "run", "summary", "wait_until"]


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
