"""Clips: one video file (an upload or a recorded segment) and the state of its analysis job.

The clip row is the write model of a job (status, progress, error). What the job found lives in the event
log, never here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone


def clip_upload_to(instance: Clip, filename: str) -> str:
    """A fresh storage name keeping only ``filename``'s extension: callers pass one Sightline chose from the
    probed format (``services.storage_name_for``), never the uploader's."""
    suffix = PurePosixPath(filename).suffix.lower()[:9] or ".bin"
    if not suffix[1:].isalnum():
        suffix = ".bin"
    now = timezone.now()
    return f"clips/{instance.camera_id}/{now:%Y/%m}/{uuid.uuid4().hex}{suffix}"


class Priority(models.IntegerChoices):
    """Who waits for an analysis, most urgent first (``backend.clips.scheduling``): a live camera's segment, a
    synchronous request (``POST /api/v1/analyze/``, its own table), an upload, an operator's re-run."""

    LIVE = 0, "live"
    SYNC = 1, "synchronous"
    UPLOAD = 2, "upload"
    REANALYSIS = 3, "re-analysis"


class Clip(models.Model):
    Priority = Priority

    class Status(models.TextChoices):
        QUEUED = "queued"
        ANALYSING = "analysing"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        RECORDING = "recording"

    camera = models.ForeignKey("cameras.Camera", on_delete=models.PROTECT, related_name="clips")
    file = models.FileField(upload_to=clip_upload_to, max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    class StartedAtSource(models.TextChoices):
        GIVEN = "given", "given by the uploader"
        FILE = "file", "the file's recorded creation time"
        RECEIVED = "received", "when it was received (the file does not say)"
        CAMERA = "camera", "recorded live"

    started_at = models.DateTimeField(help_text="Absolute time of the clip's first frame.")
    started_at_source = models.CharField(max_length=16, choices=StartedAtSource.choices, blank=True,
                                         help_text="Where started_at came from; empty: not recorded (older clips).")
    duration_s = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=32, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.UPLOAD,
                                                help_text="Analysis priority: lower goes first.")
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    error = models.TextField(blank=True)
    frames_analysed = models.PositiveIntegerField(default=0)
    detections = models.PositiveIntegerField(default=0)
    job_id = models.UUIDField(default=uuid.uuid4, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    analysis_started_at = models.DateTimeField(null=True, blank=True)
    analysis_finished_at = models.DateTimeField(null=True, blank=True)
    #: The tracker's live tracks at the clip's end, so the camera's next segment continues them.
    tracker_state = models.JSONField(null=True, blank=True, editable=False)
    # The job's lifecycle (``backend.clips.jobs``): attempts, the worker's heartbeat, the outbox mark.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Analysis attempts started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last sign of life of the worker analysing the clip.")
    dispatched_at = models.DateTimeField(null=True, blank=True,
                                         help_text="When the analysis task was last sent; empty: not yet.")
    expired_at = models.DateTimeField(null=True, blank=True, editable=False,
                                      help_text="When retention deleted the footage and what was derived from it.")
    #: The privacy labels (``face``, ``plate``) its analysis looked for: masks of other labels are unknown for
    #: this clip, and masking falls back to whole persons (``backend.exports.overlays``).
    privacy_labels = models.JSONField(default=list, blank=True, editable=False)
    #: SHA-256 of an uploaded file: the same footage uploaded again for a camera is the same clip.
    content_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["camera", "started_at"]),
                   models.Index(fields=["status", "dispatched_at"], name="clip_job_sweep"),
                   models.Index(fields=["status", "priority", "created_at"], name="clip_job_schedule")]
        constraints = [
            models.UniqueConstraint(fields=["camera", "content_sha256"], condition=~models.Q(content_sha256=""),
                                    name="clip_unique_content_per_camera"),
        ]

    def __str__(self) -> str:
        return f"{self.camera} @ {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def ends_at(self):  # type: ignore[no-untyped-def]
        return self.started_at + timedelta(seconds=self.duration_s or 0)

    def previous_segment(self, max_gap_s: float = 2.0) -> Clip | None:
        """The camera's recorded segment that ends where this one starts (within ``max_gap_s``), if any."""
        if self.source != self.Source.RECORDING:
            return None
        candidates = (Clip.objects.filter(camera_id=self.camera_id, source=self.Source.RECORDING,
                                          started_at__lt=self.started_at,
                                          started_at__gte=self.started_at - timedelta(hours=1))
                      .exclude(pk=self.pk).order_by("-started_at")[:1])
        previous = next(iter(candidates), None)
        if previous is None or abs((self.started_at - previous.ends_at).total_seconds()) > max_gap_s:
            return None
        return previous


class AnalysisWorker(models.Model):
    """One analysis worker process as it last reported itself: what the queue view shows and what admission
    control divides the backlog by (``backend.clips.scheduling``). Written only by the worker itself."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid")
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)
    #: Frames per second while analysing, measured over its recent work (an exponential average).
    frames_per_s = models.FloatField(default=0.0)
    frames_total = models.BigIntegerField(default=0)
    busy_s_total = models.FloatField(default=0.0)
    #: What it is analysing now: ``"live"``, ``"upload"``… or empty when idle.
    current_priority = models.CharField(max_length=16, blank=True)

    def __str__(self) -> str:
        return self.name
