"""Cameras: where footage comes from, who may see it, and how to reach it.

The password is stored encrypted (:mod:`backend.cameras.crypto`) and is only ever read back by the code
that connects to the camera, through :meth:`Camera.stream_url`. It never appears in ``str()``, ``repr()``,
serializers, events or the search index.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from . import crypto
from .addresses import validate_stream_address


def validate_stream_url(value: str) -> None:
    """Kept for migrations that name it: :func:`backend.cameras.addresses.validate_stream_address`."""
    validate_stream_address(value)


class Masking(models.TextChoices):
    """What is masked in a camera's footage for people without the ``exports.unmask`` permission, and what
    an export may ask to mask."""

    NONE = "none", "nothing"
    FACES = "faces", "faces"
    FACES_PLATES = "faces_plates", "faces and licence plates"
    PERSONS = "persons", "whole persons"


class Camera(models.Model):
    Masking = Masking

    class State(models.TextChoices):
        DISABLED = "disabled"
        OFFLINE = "offline"
        RECONNECTING = "reconnecting"
        RECORDING = "recording"

    name = models.CharField(max_length=100, unique=True)
    site = models.CharField(max_length=100, blank=True, help_text="Building or area, for grouping.")
    stream_address = models.CharField(
        max_length=500, blank=True, validators=[validate_stream_address],
        help_text="rtsp:// or rtsps:// address; leave empty for a camera whose footage is uploaded.",
    )
    username = models.CharField(max_length=150, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    analysis_fps = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(30.0)],
        help_text="Frames per second the detector looks at.",
    )
    retention_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    privacy_mask = models.CharField(
        max_length=16, choices=Masking.choices, default=Masking.FACES,
        help_text="Masked in playback, thumbnails and live view for users without the unmask permission. "
                  "Plates are looked for only on cameras that mask them.",
    )
    granted_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="cameras")
    granted_groups = models.ManyToManyField(Group, blank=True, related_name="cameras")
    created_at = models.DateTimeField(auto_now_add=True)
    # Live state, written only by the recorder (backend.recorder); read-only everywhere else.
    state = models.CharField(max_length=16, choices=State.choices, default=State.OFFLINE, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="When the recorder last received video from the camera.")
    last_error = models.TextField(blank=True, editable=False,
                                  help_text="Why the last connection failed (credentials redacted).")
    # The recorder process that records this camera, until when (see backend.recorder.leases).
    lease_owner = models.CharField(max_length=100, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, raw: str) -> None:
        self.password_encrypted = crypto.encrypt(raw)

    def stream_url(self) -> str:
        """The address with credentials embedded, for the code that opens the stream. Never log it."""
        if not self.stream_address:
            return ""
        parts = urlsplit(self.stream_address)
        if not self.username:
            return self.stream_address
        password = crypto.decrypt(self.password_encrypted)
        userinfo = quote(self.username, safe="") + (":" + quote(password, safe="") if password else "")
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def _site_default(name: str) -> float:
    return getattr(settings.SIGHTLINE, name)


def default_min_score() -> float:
    return _site_default("CONFIRM_MIN_SCORE")


def default_threshold() -> float:
    return _site_default("CONFIRM_THRESHOLD")


def default_min_hits() -> int:
    return int(_site_default("CONFIRM_MIN_HITS"))


def default_min_area() -> float:
    return _site_default("CONFIRM_MIN_AREA")


def default_max_area() -> float:
    return _site_default("CONFIRM_MAX_AREA")


_FRACTION = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class TrackedObject(models.Model):
    """A label this camera tracks and when one of its tracks becomes a sighting (``search.sightings``).

    A camera without any uses the site defaults (``SIGHTLINE_TRACKED_LABELS``, ``SIGHTLINE_CONFIRM_*``); a
    camera with some tracks exactly those labels. Changing them re-projects the camera's sightings from the
    event log (``search.reprojection``): nothing is lost, tracks hidden before may appear and vice versa.
    """

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="tracked_objects")
    label = models.CharField(max_length=32, help_text="A label of the detector (COCO: person, car, dog…).")
    min_score = models.FloatField(
        default=default_min_score, validators=_FRACTION,
        help_text="A detection counts towards confirming its track from this confidence up.")
    threshold = models.FloatField(
        default=default_threshold, validators=_FRACTION,
        help_text="Median confidence of the track's last 10 counted detections needed to confirm it.")
    min_hits = models.PositiveIntegerField(
        default=default_min_hits, validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Counted detections needed to confirm a track.")
    min_area = models.FloatField(
        default=default_min_area, validators=_FRACTION,
        help_text="Smallest box counted, as a fraction of the frame (0–1).")
    max_area = models.FloatField(
        default=default_max_area, validators=_FRACTION,
        help_text="Largest box counted, as a fraction of the frame (0–1).")

    class Meta:
        ordering = ["camera", "label"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "label"], name="tracked_object_camera_label"),
            models.CheckConstraint(condition=models.Q(min_area__lte=models.F("max_area")),
                                   name="tracked_object_area_range",
                                   violation_error_message="The smallest area must not exceed the largest."),
        ]

    def __str__(self) -> str:
        return f"{self.label} on camera {self.camera_id}"
