"""The scale-out harness's clients: live-feed WebSocket clients that move between web processes, and a
search load against both (``tests/scaleout/harness.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .deployment import Deployment

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

