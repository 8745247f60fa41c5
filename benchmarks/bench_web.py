"""Resident memory and start-up time of a web process (daphne, the embedded default) serving searches.

A fresh data directory gets 5,000 synthetic detections (500 sightings). daphne serves it; the benchmark
waits for the first answer (start-up), then takes a token, runs 20 searches with facets and reads the
schema, and reads the process's resident set (``VmRSS``) from ``/proc``. Baseline in the same run: the same
server started by an interpreter that first imports the detector stack (``analysis.detectors.registry``:
torch, SciPy, the TFJS loader), which is what a web process imported until the web path stopped importing
the analysis tasks' detector. Each variant runs ``--runs`` times; medians are reported.

Usage: python -m benchmarks.bench_web
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks._django import machine

REPO = Path(__file__).resolve().parents[1]
_SEED = """
from datetime import UTC, datetime, timedelta
from django.contrib.auth.models import User
from backend.cameras.models import Camera
from backend.eventlog.log import EventLog
from tests.factories import detection
u = User.objects.create_superuser("bench", "bench@example.com", "bench-pass-123")
camera = Camera.objects.create(name="Bench")
labels = ["person", "car", "bicycle"]
EventLog.append([detection(1, camera.pk, 1 + i // 10, i * 500, 0.3 + (i % 70) / 100, label=labels[i % 3],
                           ordinal=i % 10) for i in range(5000)])
"""
_WITH_DETECTOR = ("import analysis.detectors.registry, sys; from daphne.cli import CommandLineInterface; "
                  "sys.argv[0] = 'daphne'; CommandLineInterface.entrypoint()")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kb / 1024


def serve_and_measure(env: dict[str, str], prefix: list[str]) -> tuple[float, float]:
    """(seconds from start to the first answer, MB resident after the searches)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([*prefix, "-b", "127.0.0.1", "-p", str(port), "backend.sightline.asgi:application"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/api/v1/", timeout=2).read()  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # it answers (401 without a login)
            except OSError:
                time.sleep(0.05)
        startup_s = time.perf_counter() - started
        req = urllib.request.Request(url + "/api/v1/auth/token/",  # noqa: S310
                                     data=b"username=bench&password=bench-pass-123")
        token = json.loads(urllib.request.urlopen(req).read())["token"]  # noqa: S310
        for i in range(20):
            query = ["tag=person", "tag=car&min_confidence=0.5", "sort=-time", "camera=1"][i % 4]
            search = urllib.request.Request(f"{url}/api/v1/search/?{query}",  # noqa: S310
                                            headers={"Authorization": f"Token {token}"})
            body = json.loads(urllib.request.urlopen(search).read())  # noqa: S310
            assert body["facets"] is not None
        schema = urllib.request.Request(url + "/api/v1/schema/", headers={"Authorization": f"Token {token}"})  # noqa: S310
        urllib.request.urlopen(schema).read()  # noqa: S310
        return startup_s, _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="sightline-bench-web-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings", "SIGHTLINE_DATA_DIR": data_dir,
           "SIGHTLINE_SECRET_KEY": "benchmark-only-" + "x" * 40, "PYTHONPATH": str(REPO)}
    for name in ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"):
        env.pop(name, None)
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["shell", "-c", _SEED]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=REPO, env=env, check=True,
                       capture_output=True)
    variants = {"web process": [sys.executable, "-m", "daphne"],
                "baseline: same, detector stack imported": [sys.executable, "-c", _WITH_DETECTOR]}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.runs):  # interleaved, so neither variant alone gets a warm page cache
        for name, prefix in variants.items():
            results[name].append(serve_and_measure(env, prefix))
    print(f"Machine: {machine()}; daphne, embedded default (SQLite), 500 sightings; medians of {args.runs} runs")
    print("| process | start-up to first answer | resident after 20 searches |")
    print("|---|---|---|")
    medians = {}
    for name, runs in results.items():
        startup = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        medians[name] = (startup, rss)
        print(f"| {name} | {startup:.2f} s | {rss:.0f} MB |")
    (web_s, web_mb), (base_s, base_mb) = medians.values()
    print(f"| web / baseline | {web_s / base_s:.2f} | {web_mb / base_mb:.2f} |")


if __name__ == "__main__":
    main()
