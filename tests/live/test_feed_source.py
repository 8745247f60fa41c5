"""The live feed says where a sighting was filmed: a camera's recording (live) or uploaded footage (see
``backend.live.feed``), so the Live page can mark week-old uploads instead of showing them as live."""

from __future__ import annotations

import pytest
from django.utils import timezone

from backend.clips.models import Clip
from backend.eventlog.log import EventLog
from backend.live import feed
from backend.live.params import FeedParams
from tests.factories import detection

pytestmark = pytest.mark.django_db


def test_each_sighting_message_names_the_source_of_its_clip(cameras):
    lobby, _ = cameras
    recorded = Clip.objects.create(camera=lobby, file="clips/r.mp4", started_at=timezone.now(),
                                   source=Clip.Source.RECORDING)
    uploaded = Clip.objects.create(camera=lobby, file="clips/u.mp4", started_at=timezone.now(),
                                   source=Clip.Source.UPLOAD)
    start = EventLog.head()
    EventLog.append([detection(recorded.pk, lobby.pk, 1, 0, 0.9), detection(uploaded.pk, lobby.pk, 2, 0, 0.8),
                     detection(999_999, lobby.pk, 3, 0, 0.7)])
    messages = [m for m in feed.read_batch(FeedParams(), None, start).messages if m["type"] == "sighting"]
    assert [(m["sighting"]["clip"], m["source"]) for m in messages] == [
        (recorded.pk, "recording"), (uploaded.pk, "upload"), (999_999, None)]
    assert all("source" not in m["sighting"] for m in messages), "the sighting itself is as in the search API"
