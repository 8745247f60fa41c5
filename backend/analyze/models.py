"""Synchronous analysis requests (``POST /api/v1/analyze/``): an image or a short clip, its job and result.

The row is the job and the truth, as a clip's row is for uploads (``backend.clips.jobs``): the web process
creates it, a worker claims it with one conditional UPDATE (``analysis.on_demand``), beats while it
analyses, stores the result here and deletes the file. What it found is *not* camera footage: it never
becomes events, sightings or clips, and it is swept ``SIGHTLINE.ANALYZE_RESULT_TTL_S`` after it finished.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models


def request_upload_to(instance: AnalysisRequest, filename: str) -> str:
    """``analyze/<request id><extension>``: callers pass an extension Sightline chose from the probed format
    (``backend.analyze.api``), never the client's file name."""
    suffix = PurePosixPath(filename).suffix.lower()[:9]
    if not suffix[1:].isalnum():
        suffix = ".bin"
    return f"analyze/{instance.pk.hex}{suffix}"


class AnalysisRequest(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image"
        CLIP = "clip"

    class Status(models.TextChoices):
        QUEUED = "queued"
        ANALYSING = "analysing"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="analysis_requests")
    #: Deleted (and emptied) as soon as the analysis finishes.
    file = models.FileField(upload_to=request_upload_to, max_length=300, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    frames_expected = models.PositiveIntegerField(default=1, help_text="Frames the worker will analyse.")
    frames_analysed = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Analysis attempts started.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last sign of life of the worker analysing it.")
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                      help_text="When the finished request and its result are deleted.")

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "analysis request"

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"
