"""``ws /ws/detections/``: live sightings and analysis progress, resumable without gaps or doubles.

Protocol (the front end and integrators rely on it exactly)::

    ?tag=person&tag=car&camera=3&min_confidence=0.6&after=<seq>    all optional; see ``params``
    server → {"type": "sighting", "seq", "source": recording|upload, "sighting": <as in the search API,
              current state>}   (source: where its best moment was filmed, see ``feed``)
             {"type": "progress", "seq", "clip", "camera", "status": analysing|done|failed, "progress",
              "error"}     (progress is 0 when started, 1 when completed or failed; error "" unless failed)
             {"type": "gap", "seq", "from", "to"}   replay skipped the events in (from, to]; it resumes at to
             {"type": "ready", "seq"}               the backlog after ``after`` has been replayed
             {"type": "heartbeat", "seq"}           after 15 s without any other message
             {"type": "pong", "seq"}                the answer to {"type": "ping"}
             {"type": "error", "seq", "field", "message"}
    close 4401: not authenticated (or the user was deactivated while connected)
    close 4400: a bad query parameter, after an error message naming it (its ``seq`` is null)

Every message's ``seq`` is a valid resume point: everything up to it has been delivered (or did not match),
so reconnecting with ``after=<seq of the last message processed>`` delivers each later event exactly once.
Without ``after`` the feed starts at the log head. ``after`` beyond the head is kept as is (never moved
back, which could send doubles). A backlog over 2,000 log events is cut: ``gap`` then the newest 2,000.

Authentication is accept-then-close (4401), not a refused handshake, because a browser reports no HTTP
status for a refused WebSocket handshake but does report the close code.

Design: pull, not push. The consumer reads the log by ``seq`` from the database (one query per batch of up
to 500 events, plus one for their sightings and one for camera names) whenever it is woken: by the
channel-layer group message that ``notify.on_log_appended`` sends after each append commits, or by the
process-wide :class:`HeadWatcher` that polls the log head every 0.5 s (the in-memory layer never carries a
Celery worker's notifications to the web process). A lost notification therefore costs latency, never data.

This consumer must never send a sighting or progress of a camera the user may not see *now*: visibility is
re-read from a fresh user row at most ``permission_ttl_s`` (5 s) before each batch is built, so a revoked
grant takes effect within that time, and a deactivated user is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import feed, notify
from .params import FeedParams, InvalidParams, parse_params

log = logging.getLogger(__name__)

CLOSE_BAD_PARAMS = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_INTERNAL_ERROR = 1011


class HeadWatcher:
    """One poller per event loop (so per process) that wakes every subscribed consumer when the head moves.

    Polling once per process instead of once per connection keeps an idle feed at two cheap queries a
    second however many clients are connected; consumers query only when there is something to read.
    """

    poll_s: ClassVar[float] = 0.5
    _by_loop: ClassVar[dict[asyncio.AbstractEventLoop, HeadWatcher]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subscribers: set[asyncio.Event] = set()
        self._head = -1
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def current(cls) -> HeadWatcher:
        loop = asyncio.get_running_loop()
        watcher = cls._by_loop.get(loop)
        if watcher is None:
            watcher = cls._by_loop[loop] = cls(loop)
        return watcher

    def subscribe(self, wake: asyncio.Event) -> None:
        self._subscribers.add(wake)
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run())

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._subscribers.discard(wake)
        if not self._subscribers:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self._by_loop.pop(self._loop, None)

    def bump(self, head: int) -> None:
        if head > self._head:
            self._head = head
            for wake in self._subscribers:
                wake.set()

    async def _run(self) -> None:
        while self._subscribers:
            try:
                self.bump(await database_sync_to_async(feed.readable_head)())
            except Exception:
                # A database hiccup must not end the poller: consumers would stall until the next append.
                log.warning("live feed: could not read the log head", exc_info=True)
            await asyncio.sleep(self.poll_s)


class DetectionFeedConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    heartbeat_s: ClassVar[float] = 15.0
    permission_ttl_s: ClassVar[float] = 5.0
    max_frame_bytes: ClassVar[int] = 4096

    _pump: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None
    _joined_group = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.params: FeedParams = parse_params(self.scope.get("query_string", b""))
        except InvalidParams as exc:
            await self.send_json({"type": "error", "seq": None, "field": exc.field, "message": exc.message})
            await self.close(code=CLOSE_BAD_PARAMS)
            return
        self._user_id: int = user.pk
        self._visible: frozenset[int] | None = frozenset()
        self._checked_at = float("-inf")  # Forces a fresh read before the first batch.
        self._position = 0
        self._send_lock = asyncio.Lock()
        self._last_sent = time.monotonic()
        self._wake = asyncio.Event()
        if self.channel_layer is not None:
            try:
                await self.channel_layer.group_add(notify.GROUP, self.channel_name)
                self._joined_group = True
            except Exception:
                log.warning("live feed: channel layer unavailable; relying on polling", exc_info=True)
        HeadWatcher.current().subscribe(self._wake)
        self._pump = asyncio.create_task(self._run())

    async def disconnect(self, code: int) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._wake is not None:
            HeadWatcher.current().unsubscribe(self._wake)
        if self._joined_group:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(notify.GROUP, self.channel_name)

    async def log_appended(self, message: dict[str, Any]) -> None:
        """Channel-layer message ``log.appended``: only a wake-up; the log itself says what is new."""
        if self._wake is not None:
            self._wake.set()

    # Client → server -----------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self._pump is None:
            return  # Rejected connection, closing.
        if text_data is None:
            await self._error("binary frames are not supported; send JSON text")
            return
        if len(text_data) > self.max_frame_bytes or len(text_data.encode("utf-8", "replace")) > self.max_frame_bytes:
            await self._error(f"frame too large (the limit is {self.max_frame_bytes} bytes)")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("malformed JSON")
            return
        if isinstance(content, dict) and content.get("type") == "ping":
            await self._send({"type": "pong"})
        # Anything else is ignored on purpose: the feed has no other client messages (yet).

    async def _error(self, message: str) -> None:
        await self._send({"type": "error", "field": None, "message": message})

    # Server → client -----------------------------------------------------------------------------------

    async def _send(self, message: dict[str, Any], position: int | None = None,
                    batch: list[dict[str, Any]] | None = None) -> None:
        """Send under one lock, stamping ``seq`` on control messages from the position reached so far.

        The lock keeps a pong or error from overtaking a batch with an older ``seq``: a client that
        resumes from the last ``seq`` it saw would otherwise get doubles.
        """
        async with self._send_lock:
            for item in batch or ():
                await self.send_json(item)
            if position is not None:
                self._position = max(self._position, position)
            if message:
                await self.send_json({"seq": self._position, **message} if "seq" not in message else message)
            if message or batch:
                self._last_sent = time.monotonic()

    @database_sync_to_async
    def _read(self, position: int, bound: int | None) -> feed.Batch:
        now = time.monotonic()
        if now - self._checked_at >= self.permission_ttl_s:
            self._visible = feed.load_visibility(self._user_id)
            self._checked_at = now
        return feed.read_batch(self.params, self._visible, position, bound)

    async def _drain(self, upto: int | None) -> None:
        """Send everything readable after the position, up to ``upto`` (default: the head at each read)."""
        while True:
            batch = await self._read(self._position, upto)
            await self._send({}, batch.position, batch.messages)
            if batch.position >= batch.bound:
                return

    async def _run(self) -> None:
        try:
            await self._stream()
        except feed.AccessRevoked:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live feed: stream for user %s failed", self._user_id)
            await self.close(code=CLOSE_INTERNAL_ERROR)

    async def _stream(self) -> None:
        assert self._wake is not None
        head = await database_sync_to_async(feed.readable_head)()
        after = self.params.after
        if after is None:
            self._position = head
        else:
            self._position = after
            if head > after:
                start = await database_sync_to_async(feed.replay_start)(after, head)
                if start is not None:
                    await self._send({"type": "gap", "seq": start, "from": after, "to": start}, start)
                await self._drain(head)
        await self._send({"type": "ready"})
        while True:
            idle = time.monotonic() - self._last_sent
            try:
                await asyncio.wait_for(self._wake.wait(), max(self.heartbeat_s - idle, 0.0))
            except TimeoutError:
                if time.monotonic() - self._last_sent >= self.heartbeat_s:
                    await self._send({"type": "heartbeat"})
                continue
            self._wake.clear()
            await self._drain(None)
