"""``manage.py compute_appearance``: footage analysed before appearance was described gets its colours and its
"find similar" descriptor from its thumbnails."""

from __future__ import annotations

from io import StringIO

import numpy as np
from django.core.management import call_command

from backend.eventlog.models import Event, EventType
from search.models import Sighting
from search.sightings import unpack_embedding
from tests.api.test_uploads import upload
from tests.conftest import client_for


def test_colours_come_back_from_thumbnails_and_a_second_run_adds_nothing(personas, cameras, footage_h264,
                                                                          django_capture_on_commit_callbacks):
    colleague = client_for(personas["colleague"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(colleague, cameras[0].pk, footage_h264.read_bytes(), "vtest.mp4",
                          started_at="2026-11-26T08:00:00Z")
    assert response.status_code == 202, response.content
    at_analysis = {s.id: (s.upper_color, s.lower_color) for s in Sighting.objects.filter(label="person")}
    assert len(at_analysis) >= 3 and any(any(c) for c in at_analysis.values())
    descriptors = {s.id: unpack_embedding(s.embedding) for s in Sighting.objects.filter(label="person")}
    assert all(d is not None for d in descriptors.values())

    # As if analysed before colours were named: no colours in the log, the projection rebuilt from it.
    Event.objects.filter(type=EventType.OBJECT_DETECTED).update(data={})
    call_command("rebuild_projections", "search.sightings", stdout=StringIO())
    assert not Sighting.objects.exclude(upper_color="", lower_color="").exists()
    assert not Sighting.objects.filter(embedding__isnull=False).exists()

    out = StringIO()
    call_command("compute_appearance", stdout=out)
    assert "given colours" in out.getvalue()
    backfilled = {s.id: (s.upper_color, s.lower_color) for s in Sighting.objects.filter(label="person")}
    assert backfilled.keys() == at_analysis.keys()
    # From the JPEG thumbnail rather than the decoded frame: the same names for nearly every attribute.
    same = sum(a == b for s in at_analysis for a, b in zip(at_analysis[s], backfilled[s], strict=True))
    assert same >= 0.8 * 2 * len(at_analysis), (at_analysis, backfilled)
    # The descriptor too: "find similar" works on them, and the thumbnail's is close to the frame's.
    assert "given a find-similar descriptor" in out.getvalue()
    for s in Sighting.objects.filter(label="person"):
        again = unpack_embedding(s.embedding)
        assert again is not None, s.id
        assert float(np.dot(again, descriptors[s.id])) > 0.8, s.id
    appended = Event.objects.filter(type=EventType.OBJECT_APPEARANCE).count()
    assert appended >= len(at_analysis)

    # Resumable: a second run names nothing again and appends nothing.
    call_command("compute_appearance", stdout=StringIO())
    assert Event.objects.filter(type=EventType.OBJECT_APPEARANCE).count() == appended


def test_a_colour_only_backfill_is_completed_with_descriptors_keeping_its_colours(personas, cameras, footage_h264,
                                                                                   django_capture_on_commit_callbacks):
    """A first revision of the command named colours only; running today's adds the descriptors."""
    from analysis import backfill

    colleague = client_for(personas["colleague"])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(colleague, cameras[0].pk, footage_h264.read_bytes(), "vtest.mp4",
                          started_at="2026-11-26T08:00:00Z")
    assert response.status_code == 202, response.content
    colours = {s.id: (s.upper_color, s.lower_color) for s in Sighting.objects.filter(label="person")}
    # Analysed before descriptors: the detections keep their colours, their descriptors are gone.
    for event in Event.objects.filter(type=EventType.OBJECT_DETECTED, data__has_key="embedding"):
        event.data.pop("embedding")
        event.save(update_fields=["data"])
    call_command("rebuild_projections", "search.sightings", stdout=StringIO())
    assert not Sighting.objects.filter(embedding__isnull=False).exists()

    report = backfill.compute_appearance()
    assert report.described >= len(colours)
    after = Sighting.objects.filter(label="person")
    assert all(s.embedding for s in after)
    # The colours analysis named on the full frame stay; the thumbnail's are not put in their place.
    assert {s.id: (s.upper_color, s.lower_color) for s in after} == colours
    assert backfill.compute_appearance().described == 0
