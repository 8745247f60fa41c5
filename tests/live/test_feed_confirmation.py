"""The live feed sends sightings only: a track not confirmed (yet) by the rule (``search/sightings.py``) is not
sent, in the replay or live; from the detection that confirms it, it is (through the real ASGI application,
as in test_feed.py, whose helpers these tests use)."""

from __future__ import annotations

import pytest
from channels.layers import channel_layers
from knox.models import AuthToken

from backend.eventlog.log import EventLog
from backend.live import feed
from backend.live.consumers import HeadWatcher
from backend.live.params import FeedParams
from tests.live.test_feed import append, connect, receive_until, scenario
from tests.search.confirmation import strict_defaults, track

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _strict_and_fresh(transactional_db, settings):
    """The production rule; the roles' groups (a flush removes them); a new in-memory channel layer."""
    from django.contrib.auth.models import Group

    from backend.accounts.roles import ROLE_GROUPS

    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
    strict_defaults(settings)
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
    assert not HeadWatcher._by_loop, "a consumer was left connected"


def sent(messages):
    return [(m["seq"], m["sighting"]["id"], m["sighting"]["detections"]) for m in messages if m["type"] == "sighting"]


def test_read_batch_skips_tracks_not_confirmed(cameras):
    lobby, _ = cameras
    start = EventLog.head()
    EventLog.append(track(1, lobby.pk, 1, [0.9, 0.9]) + track(2, lobby.pk, 2, [0.99] * 3, label="skis"))
    batch = feed.read_batch(FeedParams(), None, start)
    assert sent(batch.messages) == [] and batch.position == EventLog.head()
    EventLog.append(track(1, lobby.pk, 1, [0.8], start_ms=5000, ordinal=1))
    assert sent(feed.read_batch(FeedParams(), None, batch.position).messages) == [(EventLog.head(), 1, 3)]


def test_the_feed_sends_a_track_from_the_detection_that_confirms_it(personas, cameras):
    lobby, _ = cameras
    token = AuthToken.objects.create(personas["admin"])[1]
    base = EventLog.head()
    # Pending (two hits of three), untracked (skis) and confirmed (three hits) tracks, before the client comes.
    EventLog.append(track(1, lobby.pk, 1, [0.9, 0.9]) + track(2, lobby.pk, 2, [0.99] * 3, label="skis")
                    + track(3, lobby.pk, 3, [0.7, 0.8, 0.9], ordinal=1))
    head = EventLog.head()

    async def run() -> None:
        comm, backlog = await connect(f"after={base}", token=token)
        # Replay: the confirmed track's detections, each with the sighting's current state; nothing else.
        assert sent(backlog) == [(head - 2, 3, 3), (head - 1, 3, 3), (head, 3, 3)]
        # Live: the pending track's third detection confirms it, and that one is sent.
        await append(track(1, lobby.pk, 1, [0.8], start_ms=5000, ordinal=2))
        await append(track(2, lobby.pk, 2, [0.99], label="skis", start_ms=5000, ordinal=3))
        live = await receive_until(comm, lambda m: m["type"] == "sighting")
        assert sent(live) == [(head + 1, 1, 3)]
        assert await comm.receive_nothing(timeout=1.0)
        await comm.disconnect()

    scenario(run)
