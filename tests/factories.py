"""Test data factories (factory-boy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth.models import Group, User

from backend.cameras.models import Camera
from backend.eventlog.log import NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import detection_key

T0 = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or "correct horse battery")
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    name = factory.Sequence(lambda n: f"Camera {n}")
    site = "HQ"


def detection(clip_id: int, camera_id: int, track: int, offset_ms: int, confidence: float, *,
              label: str = "person", ordinal: int = 0, start: datetime = T0, model: str = "test-model",
              box: tuple[float, float, float, float] = (0.1, 0.2, 0.3, 0.6),
              colors: dict[str, str] | None = None) -> NewEvent:
    """A detection event as the analysis would append it (``colors``: what it names of a track's best
    detection, e.g. ``{"upper_color": "red"}``)."""
    return NewEvent(
        key=detection_key(clip_id, model, offset_ms, ordinal), type=EventType.OBJECT_DETECTED,
        time=start + timedelta(milliseconds=offset_ms), camera_id=camera_id, clip_id=clip_id, label=label,
        confidence=confidence, x1=box[0], y1=box[1], x2=box[2], y2=box[3], track=track, offset_ms=offset_ms,
        model=model, data=dict(colors or {}),
    )
