"""``ws /ws/detections/`` end to end, through the real ASGI application (origin check, auth, routing).

The tests are plain functions that drive an async scenario with ``async_to_sync`` (no pytest-asyncio):
the consumer's database calls then run on the test's thread and connection. ``transaction=True`` because
the feed reads what other connections committed, exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from knox.models import AuthToken

from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import Event, EventType
from backend.live import feed
from backend.live.consumers import DetectionFeedConsumer, HeadWatcher
from backend.sightline.asgi import application
from search import get_backend
from search.representation import sighting_to_dict
from tests.factories import T0, detection
from tests.services import service_unavailable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _role_groups(transactional_db):
    """The roles' groups come from a data migration, which a transactional test's flush removes."""
    from django.contrib.auth.models import Group

    from backend.accounts.roles import ROLE_GROUPS

    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
REPO = Path(__file__).resolve().parents[2]
ORIGIN = (b"origin", b"http://localhost")
Msg = dict[str, Any]


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new in-memory layer per test: its queues belong to the event loop that first used them."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
    assert not HeadWatcher._by_loop, "a consumer was left connected"


@pytest.fixture
def base(transactional_db) -> int:
    """The last seq handed out before the test: a flush empties the log but does not reset the sequence."""
    probe = EventLog.append([NewEvent(key="probe", type=EventType.CAMERA_ONLINE, time=T0)])
    assert probe == 1
    seq = EventLog.head()
    Event.objects.filter(key="probe").delete()
    return seq


@pytest.fixture
def tokens(personas) -> dict[str, str]:
    return {name: AuthToken.objects.create(user)[1] for name, user in personas.items()}


def progress(clip_id: int, camera_id: int, kind: EventType = EventType.ANALYSIS_PROGRESS, **data: Any) -> NewEvent:
    return NewEvent(key=f"{kind.label}:{clip_id}:{sorted(data.items())}", type=kind, time=T0,
                    camera_id=camera_id, clip_id=clip_id, data=data)


append = database_sync_to_async(EventLog.append)


async def connect(query: str = "", *, token: str | None = None, headers: list[tuple[bytes, bytes]] | None = None,
                  expect_ready: bool = True) -> tuple[WebsocketCommunicator, list[Msg]]:
    """Open the feed; with ``expect_ready`` return it and the messages up to and including ``ready``."""
    params = "&".join(p for p in (query, f"token={token}" if token else "") if p)
    comm = WebsocketCommunicator(application, f"/ws/detections/?{params}", headers=headers or [])
    _open.append(comm)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    backlog = await receive_until(comm, lambda m: m["type"] == "ready") if expect_ready else []
    return comm, backlog


async def receive_until(comm: WebsocketCommunicator, done: Callable[[Msg], bool], timeout: float = 8) -> list[Msg]:
    messages: list[Msg] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await comm.receive_json_from(timeout=max(deadline - time.monotonic(), 0.01))
        messages.append(message)
        if done(message):
            return messages


async def close_code(comm: WebsocketCommunicator) -> int:
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return int(output["code"])


_open: list[WebsocketCommunicator] = []


def scenario(fn: Callable[[], Any]) -> None:
    """Run an async test body; whatever happens, disconnect every client it opened (else the loop hangs)."""

    async def body() -> None:
        try:
            await fn()
        finally:
            while _open:
                with contextlib.suppress(Exception):
                    await _open.pop().disconnect()

    async_to_sync(body)()


def current(sighting_id: int) -> Msg:
    from backend.cameras.models import Camera

    hit = get_backend().get(sighting_id)
    assert hit is not None
    return sighting_to_dict(hit, dict(Camera.objects.values_list("id", "name")))


# Authentication ------------------------------------------------------------------------------------------

def test_unauthenticated_or_bad_token_is_closed_with_4401(personas):
    async def run() -> None:
        for token in (None, "not-a-token"):
            comm, _ = await connect(token=token, headers=[ORIGIN], expect_ready=False)
            assert await close_code(comm) == 4401
            await comm.disconnect()

    scenario(run)


def test_token_auth_without_origin_header(tokens):
    async def run() -> None:
        comm, backlog = await connect(token=tokens["admin"])
        assert backlog == [{"type": "ready", "seq": 0}]  # An empty log.
        await comm.disconnect()

    scenario(run)


def test_session_cookie_auth_needs_an_allowed_origin(personas):
    web = Client()
    web.force_login(personas["colleague"])
    cookie = (b"cookie", f"sessionid={web.cookies['sessionid'].value}".encode())

    async def run() -> None:
        comm, backlog = await connect(headers=[cookie, ORIGIN])
        assert backlog[-1]["type"] == "ready"
        await comm.disconnect()
        for origin in ([(b"origin", b"http://evil.example")], []):  # Cross-site, or no origin at all.
            denied = WebsocketCommunicator(application, "/ws/detections/", headers=[cookie, *origin])
            _open.append(denied)
            connected, _ = await denied.connect(timeout=5)
            assert not connected
            await denied.disconnect()

    scenario(run)


def test_deactivated_user_is_disconnected(personas, tokens, cameras, monkeypatch):
    monkeypatch.setattr(DetectionFeedConsumer, "permission_ttl_s", 0.0)
    lobby, _ = cameras

    async def run() -> None:
        comm, _ = await connect(token=tokens["colleague"])
        personas["colleague"].is_active = False
        await database_sync_to_async(personas["colleague"].save)()
        await append([detection(1, lobby.id, track=1, offset_ms=0, confidence=0.9)])
        assert await close_code(comm) == 4401
        await comm.disconnect()

    scenario(run)


# Parameters and client frames ----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field"), [
    ("tag=Person", "tag"), ("tag=a%20b&tag=", None), ("camera=0", "camera"), ("camera=lobby", "camera"),
    ("min_confidence=1.5", "min_confidence"), ("min_confidence=nan", "min_confidence"),
    ("min_confidence=x", "min_confidence"), ("after=-1", "after"), ("after=3.5", "after"),
    ("after=1&after=2", "after"),
])
def test_bad_params_get_an_error_naming_the_field_then_4400(tokens, query, field):
    async def run() -> None:
        comm, _ = await connect(query, token=tokens["admin"], expect_ready=False)
        first = await comm.receive_json_from(timeout=5)
        if field is None:  # Control case: valid (a blank value counts as absent).
            assert first["type"] == "ready"
        else:
            assert first["type"] == "error" and first["field"] == field and first["message"], first
            assert await close_code(comm) == 4400
        await comm.disconnect()

    scenario(run)


def test_ping_pong_and_garbage_frames_do_not_kill_the_connection(tokens):
    async def run() -> None:
        comm, _ = await connect(token=tokens["admin"])
        await comm.send_to(text_data="{not json")
        assert (await comm.receive_json_from())["message"] == "malformed JSON"
        await comm.send_to(text_data='{"type": "ping", "pad": "' + "x" * 5000 + '"}')
        assert "too large" in (await comm.receive_json_from())["message"]
        await comm.send_to(bytes_data=b"\x00\xff")
        assert "binary" in (await comm.receive_json_from())["message"]
        for ignored in ({"type": "subscribe"}, [1, 2], "ping", None):
            await comm.send_json_to(ignored)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from() == {"type": "pong", "seq": 0}
        await comm.disconnect()

    scenario(run)


def test_heartbeat_when_idle_carries_the_position(base, tokens, cameras, monkeypatch):
    monkeypatch.setattr(DetectionFeedConsumer, "heartbeat_s", 0.3)
    lobby, _ = cameras
    EventLog.append([detection(1, lobby.id, track=1, offset_ms=0, confidence=0.9)])

    async def run() -> None:
        comm, backlog = await connect("tag=car", token=tokens["admin"])
        assert backlog == [{"type": "ready", "seq": base + 1}]
        assert await comm.receive_json_from(timeout=3) == {"type": "heartbeat", "seq": base + 1}
        await comm.disconnect()

    scenario(run)


# What is sent ----------------------------------------------------------------------------------------------

def test_filters_apply_to_the_sightings_current_state(base, tokens, cameras):
    lobby, vault = cameras
    EventLog.append([
        detection(1, lobby.id, track=1, offset_ms=0, confidence=0.9),                   # match
        detection(1, lobby.id, track=2, offset_ms=0, confidence=0.9, ordinal=1, label="car"),  # tag
        detection(2, vault.id, track=3, offset_ms=0, confidence=0.9),                   # camera
        detection(1, lobby.id, track=4, offset_ms=0, confidence=0.3, ordinal=2),        # confidence
        detection(1, lobby.id, track=5, offset_ms=0, confidence=0.3, ordinal=3),        # best is 0.8 (later)
        progress(1, lobby.id, progress=0.5),                                            # no tag filter
        progress(2, vault.id, progress=0.5),                                            # camera
    ])
    EventLog.append([detection(1, lobby.id, track=5, offset_ms=40, confidence=0.8)])

    async def run() -> None:
        query = f"tag=person&camera={lobby.id}&min_confidence=0.5&after=0"
        comm, backlog = await connect(query, token=tokens["admin"])
        found = [m for m in backlog if m["type"] == "sighting"]
        assert [(m["seq"], m["sighting"]["id"]) for m in found] == [(base + 1, 1), (base + 5, 5), (base + 8, 5)]
        # The sighting's current state, both times (its best detection came later).
        assert found[1]["sighting"] == found[2]["sighting"] == await sync_to_async(current)(5)
        assert found[1]["sighting"]["confidence"] == 0.8
        assert [m for m in backlog if m["type"] == "progress"] == [
            {"type": "progress", "seq": base + 6, "clip": 1, "camera": lobby.id, "status": "analysing",
             "progress": 0.5, "error": ""}]
        assert backlog[-1] == {"type": "ready", "seq": base + 8}
        await comm.disconnect()

    scenario(run)


def test_replay_after_then_live(base, tokens, cameras):
    lobby, _ = cameras
    EventLog.append([detection(1, lobby.id, track=t, offset_ms=0, confidence=0.9, ordinal=t) for t in (1, 2, 3)])

    async def run() -> None:
        comm, backlog = await connect(f"after={base + 1}", token=tokens["admin"])
        assert [(m["type"], m["seq"]) for m in backlog] == [("sighting", base + 2), ("sighting", base + 3),
                                                         ("ready", base + 3)]
        await append([detection(1, lobby.id, track=4, offset_ms=40, confidence=0.7),
                      progress(1, lobby.id, EventType.ANALYSIS_FAILED, reason="unreadable video")])
        live = await receive_until(comm, lambda m: m["seq"] == base + 5, timeout=3)
        # Clip 1 is no clip here: its source is unknown (null); see test_feed_source.py.
        assert live[0] == {"type": "sighting", "seq": base + 4, "source": None,
                           "sighting": await sync_to_async(current)(4)}
        assert live[1] == {"type": "progress", "seq": base + 5, "clip": 1, "camera": lobby.id, "status": "failed",
                           "progress": 1.0, "error": "unreadable video"}
        await comm.disconnect()

    scenario(run)


def test_a_backlog_over_the_replay_limit_is_announced_as_a_gap(base, tokens, cameras, monkeypatch):
    monkeypatch.setattr(feed, "REPLAY_LIMIT", 5)
    lobby, _ = cameras
    EventLog.append([detection(1, lobby.id, track=t, offset_ms=0, confidence=0.9, ordinal=t) for t in range(8)])

    async def run() -> None:
        comm, backlog = await connect("after=0", token=tokens["admin"])
        assert backlog[0] == {"type": "gap", "seq": base + 3, "from": 0, "to": base + 3}
        assert [m["seq"] for m in backlog[1:]] == [base + k for k in (4, 5, 6, 7, 8, 8)]
        await comm.disconnect()

    scenario(run)


def test_reconnecting_with_the_last_seq_gives_no_gap_and_no_double_during_a_burst(tokens, cameras):
    lobby, vault = cameras

    def burst() -> None:
        try:
            for i in range(40):
                EventLog.append([detection(100 + i, (lobby, vault)[j % 2].id, track=1000 * i + j, offset_ms=j,
                                           confidence=0.5 + j / 100, ordinal=j) for j in range(10)])
                time.sleep(0.01)
        finally:
            connection.close()  # This thread's own connection.

    async def run() -> None:
        received: list[int] = []
        comm, _ = await connect("after=0", token=tokens["admin"])
        appending = asyncio.ensure_future(sync_to_async(burst, thread_sensitive=False)())
        while len(received) < 120:  # Drop the connection mid-burst, as a flaky network would.
            message = await comm.receive_json_from(timeout=8)
            if message["type"] == "sighting":
                received.append(message["seq"])
        await comm.disconnect()
        comm, backlog = await connect(f"after={received[-1]}", token=tokens["admin"])
        received += [m["seq"] for m in backlog if m["type"] == "sighting"]
        await appending
        head = await database_sync_to_async(EventLog.head)()
        if received[-1] < head:
            more = await receive_until(comm, lambda m: m["seq"] >= head, timeout=8)
            received += [m["seq"] for m in more if m["type"] == "sighting"]
        await comm.disconnect()
        expected = await database_sync_to_async(
            lambda: list(Event.objects.order_by("seq").values_list("seq", flat=True)))()
        assert len(expected) == 400
        assert received == expected

    scenario(run)


def test_a_user_never_receives_what_they_may_not_see_even_after_a_revoked_grant(base, personas, tokens, cameras,
                                                                                 monkeypatch):
    monkeypatch.setattr(DetectionFeedConsumer, "permission_ttl_s", 0.0)
    lobby, vault = cameras
    EventLog.append([detection(1, lobby.id, track=1, offset_ms=0, confidence=0.9),
                     detection(2, vault.id, track=2, offset_ms=0, confidence=0.9),
                     progress(2, vault.id, EventType.ANALYSIS_STARTED, model="m")])

    async def run() -> None:
        colleague, _ = await connect("after=0", token=tokens["colleague"])
        outsider, out_backlog = await connect("after=0", token=tokens["outsider"])
        # Asking for the vault explicitly changes nothing.
        asking, ask_backlog = await connect(f"after=0&camera={vault.id}", token=tokens["colleague"])
        assert out_backlog == [{"type": "ready", "seq": base + 3}]
        assert ask_backlog == [{"type": "ready", "seq": base + 3}]

        await append([detection(3, vault.id, track=3, offset_ms=0, confidence=0.9),
                      progress(3, vault.id, progress=0.5), progress(4, lobby.id, progress=0.25)])
        live = await receive_until(colleague, lambda m: m["seq"] == base + 6)
        assert [(m["type"], m.get("camera")) for m in live] == [("progress", lobby.id)]

        await database_sync_to_async(lobby.granted_users.remove)(personas["colleague"])
        await append([detection(4, lobby.id, track=4, offset_ms=0, confidence=0.9),
                      progress(4, lobby.id, progress=0.5)])
        for comm in (colleague, outsider, asking):
            assert await comm.receive_nothing(timeout=1.2)  # Over two poll intervals.
            await comm.send_json_to({"type": "ping"})
            assert (await comm.receive_json_from())["type"] == "pong"  # Still alive, just filtered.
            await comm.disconnect()

    scenario(run)


# The Redis channel layer across processes ----------------------------------------------------------------

@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("SIGHTLINE_TEST_REDIS_URL")
    if not url:
        message = "the cross-process live feed test needs SIGHTLINE_TEST_REDIS_URL"
        service_unavailable(message)
    return url


APPENDER = """
import json, sys
import django
from django.conf import settings
settings.CHANNEL_LAYERS = json.loads(sys.argv[3])  # The test's Redis layer (same prefix).
django.setup()
from django.db import connections
connections["default"].settings_dict["NAME"] = sys.argv[1]  # The test database, not the run's.
from backend.eventlog.log import EventLog
from tests.factories import detection
EventLog.append([detection(9, int(sys.argv[2]), track=99, offset_ms=0, confidence=0.9)])
"""


@pytest.mark.server
def test_redis_layer_carries_another_processs_append(tokens, cameras, redis_url, settings, monkeypatch):
    """An append in another process wakes the consumer through Redis (polling is made too slow to help)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [redis_url], "prefix": f"test{os.getpid()}"}}}
    channel_layers.backends.clear()
    monkeypatch.setattr(HeadWatcher, "poll_s", 60.0)
    lobby, _ = cameras
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings_test"}
    args = [str(connection.settings_dict["NAME"]), str(lobby.id), json.dumps(settings.CHANNEL_LAYERS)]

    async def run() -> None:
        comm, _ = await connect(token=tokens["admin"])
        await asyncio.sleep(0.7)  # Let the watcher's first poll pass: after it, only Redis can wake us.
        started = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPENDER, *args, cwd=REPO, env=env)
        assert await child.wait() == 0
        message = await comm.receive_json_from(timeout=10)
        assert message["type"] == "sighting" and message["sighting"]["id"] == 99
        assert time.monotonic() - started < 30
        await comm.disconnect()

    scenario(run)
