"""Live feed latency: from an event's commit (``EventLog.append`` returns) to its arrival at a WebSocket client.

Setup: the real ASGI application served by daphne in a subprocess, on a throw-away SQLite database; this
process appends one detection at a time (random gaps of 0–40 ms) to the same database and receives the
feed with the ``websockets`` client (token auth), timing both ends with the same monotonic clock.

Two rows, measured in the same run:
- **in-memory channel layer** (the embedded default, the baseline): daphne runs in another process, so the
  append's notification cannot reach it and only the 0.5 s poll wakes the feed;
- **Redis channel layer** (server mode), when ``redis-server`` is installed or ``SIGHTLINE_BENCH_REDIS_URL``
  is set: the notification wakes the feed at once.
The "append" column is the appender's cost, notification included.

Usage: python -m benchmarks.bench_live [--events 500] [--clients 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    layer: str
    delays_ms: list[float]
    append_ms: list[float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port}")


@contextmanager
def redis_server():  # type: ignore[no-untyped-def]
    """A private Redis for the run (never a shared one), or the one named by SIGHTLINE_BENCH_REDIS_URL."""
    if os.environ.get("SIGHTLINE_BENCH_REDIS_URL"):
        yield os.environ["SIGHTLINE_BENCH_REDIS_URL"]
        return
    if not shutil.which("redis-server"):
        yield None
        return
    port, workdir = free_port(), tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def daphne(redis_url: str | None):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings"}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = open(Path(os.environ["SIGHTLINE_DATA_DIR"]) / f"daphne-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "backend.sightline.asgi:application"], cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def use_layer(redis_url: str | None) -> None:
    """Point this process's notifications at the same channel layer as the server."""
    from channels.layers import channel_layers
    from django.conf import settings

    settings.CHANNEL_LAYERS = (
        {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}}
        if redis_url else {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
    channel_layers.backends.clear()


async def measure(port: int, token: str, camera_id: int, events: int, clients: int, first_track: int,
                  rng: random.Random) -> tuple[list[float], list[float]]:
    import websockets
    from django.db import connection

    from backend.eventlog.log import EventLog
    from tests.factories import detection

    committed: dict[int, float] = {}
    arrived: dict[int, float] = {}  # First client only: the others are load.
    append_ms: list[float] = []
    url = f"ws://127.0.0.1:{port}/ws/detections/?token={token}"
    sockets = [await websockets.connect(url, max_size=2**22) for _ in range(clients)]
    for ws in sockets:
        while json.loads(await ws.recv())["type"] != "ready":
            pass

    async def receive(ws, record: bool) -> None:  # type: ignore[no-untyped-def]
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            if record and message["type"] == "sighting":
                arrived[message["seq"]] = now
                if len(arrived) == events:
                    return

    def append_all() -> None:
        try:
            for i in range(events):
                track = first_track + i
                event = detection(track, camera_id, track=track, offset_ms=0, confidence=0.9)
                started = time.monotonic()
                EventLog.append([event])
                done = time.monotonic()
                committed[EventLog.head()] = done
                append_ms.append((done - started) * 1000)
                time.sleep(rng.uniform(0, 0.04))
        finally:
            connection.close()

    receivers = [asyncio.create_task(receive(ws, i == 0)) for i, ws in enumerate(sockets)]
    await asyncio.to_thread(append_all)
    await asyncio.wait_for(receivers[0], timeout=30)
    for ws in sockets:
        await ws.close()
    for task in receivers[1:]:
        task.cancel()
    delays = [(arrived[seq] - at) * 1000 for seq, at in committed.items()]
    return delays, append_ms


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    setup("live")
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from backend.cameras.models import Camera

    admin = User.objects.create_superuser("bench", password="bench-password-123")
    token = Token.objects.create(user=admin).key
    camera = Camera.objects.create(name="Bench", site="HQ")
    rng = random.Random(7)
    results: list[Result] = []
    with redis_server() as redis_url:
        layers: list[tuple[str, str | None]] = [("in-memory (poll 0.5 s), baseline", None)]
        if redis_url:
            layers.append(("Redis (notification)", redis_url))
        for index, (name, url) in enumerate(layers):
            use_layer(url)
            with daphne(url) as port:
                delays, appends = asyncio.run(measure(port, token, camera.id, args.events, args.clients,
                                                      1 + index * args.events, rng))
            results.append(Result(name, delays, appends))

    base = statistics.median(results[0].delays_ms)
    print(f"\nLive feed delay, commit → WebSocket client, {args.events} events, {args.clients} client(s); "
          f"daphne + SQLite on {machine()}\n")
    print("| channel layer | events | p50 ms | p95 ms | max ms | p50 vs baseline | append p50 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        p50 = statistics.median(r.delays_ms)
        print(f"| {r.layer} | {len(r.delays_ms)} | {p50:.1f} | {pct(r.delays_ms, 95):.1f} | "
              f"{max(r.delays_ms):.1f} | {p50 / base:.2f}x | {statistics.median(r.append_ms):.2f} |")


if __name__ == "__main__":
    main()
