"""Exports (evidence clips), the cases that group them, and masked renditions of clips for playback.

An :class:`Export` and a :class:`Rendition` are both render jobs (:class:`RenderJob`): a row whose status the
worker that claims it moves ``queued`` → ``rendering`` → ``done`` or ``failed`` (``backend.exports.jobs``),
with attempts, a heartbeat and an outbox mark like an analysis job, so none is lost, doubled or stuck.

- An export is evidence: a time range of one camera, rendered to an MP4 with the masking asked for, with a
  manifest (camera, range, source clips, masking, who made it, the file's SHA-256). It is kept while a case
  that holds it is open, whatever the camera's retention says; otherwise it expires with its footage.
- A rendition is a cache: one clip rendered with one camera masking, made on demand for people who may not
  see that clip unmasked, deleted with its clip (retention) or when its clip's masks change, and first to go
  when the disk runs short.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from backend.cameras.models import Masking


def export_upload_to(instance: Export, filename: str) -> str:
    now = timezone.now()
    return f"exports/{instance.camera_id}/{now:%Y/%m}/{uuid.uuid4().hex}.mp4"


def rendition_name(clip_id: int, masking: str) -> str:
    return f"renditions/{clip_id}/{masking}-{uuid.uuid4().hex[:12]}.mp4"


class Case(models.Model):
    """An investigation: exports grouped under a title, kept past retention until the case is closed."""

    title = models.CharField(max_length=200)
    note = models.TextField(blank=True, max_length=10_000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class RenderJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RENDERING = "rendering"
        DONE = "done"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    file = models.FileField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    #: How it was rendered: ``remux`` (packets copied) or ``encode`` (decoded, masked, encoded).
    mode = models.CharField(max_length=8, blank=True)
    frames = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class Export(RenderJob):
    camera = models.ForeignKey("cameras.Camera", on_delete=models.PROTECT, related_name="exports")
    #: The sighting it was made from, if any (a track id; the sighting itself may expire before the export).
    sighting_id = models.BigIntegerField(null=True, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    masking = models.CharField(max_length=16, choices=Masking.choices, default=Masking.FACES)
    burn_boxes = models.BooleanField(default=False, help_text="Tracked boxes and their labels drawn in.")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="exports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    job_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    manifest = models.JSONField(default=dict, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "dispatched_at"], name="export_job_sweep"),
                   models.Index(fields=["camera", "start"], name="export_camera_start")]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.camera_id} {self.start:%Y-%m-%d %H:%M:%S}"


class Rendition(RenderJob):
    clip = models.ForeignKey("clips.Clip", on_delete=models.CASCADE, related_name="renditions")
    masking = models.CharField(max_length=16, choices=Masking.choices)
    #: The newest mask detection of the clip the rendition was made from (a later re-analysis makes it stale).
    mask_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clip", "masking"], name="rendition_per_clip_masking")]
        indexes = [models.Index(fields=["status", "dispatched_at"], name="rendition_job_sweep")]
        permissions = [("unmask", "May see footage with faces, plates and persons unmasked")]

    def __str__(self) -> str:
        return f"{self.masking} rendition of clip {self.clip_id}"
