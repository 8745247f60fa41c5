"""The scale-out harness's processes: the Elasticsearch cluster, a role's process (start, SIGKILL, stop, its
log) and small waiting helpers (``tests/scaleout/harness.py``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ES_SCRIPT = REPO / "scripts" / "services" / "elasticsearch.sh"

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

