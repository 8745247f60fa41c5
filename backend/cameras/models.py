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


class Camera(models.Model):
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
