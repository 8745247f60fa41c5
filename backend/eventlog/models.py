"""The event log: Sightline's source of truth.

Append-only. Every row has a place in one global, increasing sequence (``seq``) and a natural ``key`` that
makes appends idempotent: appending an event whose key exists adds nothing, so a redelivered task is
harmless. Detections are the bulk of the log (tens of millions of rows), so their fields are typed columns
rather than JSON; other event types keep their few fields in ``data``.

Nothing may UPDATE or DELETE a row here except retention, which drops whole time ranges.
"""

from __future__ import annotations

from django.db import models


class EventType(models.IntegerChoices):
    CLIP_REGISTERED = 1, "clip.registered"
    ANALYSIS_STARTED = 2, "analysis.started"
    ANALYSIS_PROGRESS = 3, "analysis.progress"
    ANALYSIS_COMPLETED = 4, "analysis.completed"
    ANALYSIS_FAILED = 5, "analysis.failed"
    CLIP_EXPIRED = 6, "clip.expired"
    OBJECT_DETECTED = 10, "object.detected"
    #: Colours named afterwards for a sighting's best detection (``manage.py compute_appearance``).
    OBJECT_APPEARANCE = 11, "object.appearance"
    CAMERA_ONLINE = 20, "camera.online"
    CAMERA_OFFLINE = 21, "camera.offline"
    RECORDING_GAP = 22, "camera.gap"
    EXPORT_COMPLETED = 30, "export.completed"
    EXPORT_FAILED = 31, "export.failed"
    AUDIT = 40, "audit"

    @classmethod
    def by_name(cls, name: str) -> EventType:
        for member in cls:
            if member.label == name:
                return member
        raise ValueError(name)


class Event(models.Model):
    seq = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=160, unique=True)
    type = models.PositiveSmallIntegerField(choices=EventType.choices)
    time = models.DateTimeField(help_text="When it happened (for detections: clip start + frame time).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # No database constraints: the log outlives the rows it mentions.
    camera = models.ForeignKey("cameras.Camera", null=True, blank=True, on_delete=models.DO_NOTHING,
                               db_constraint=False, related_name="+")
    clip = models.ForeignKey("clips.Clip", null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")
    # Detection fields (type OBJECT_DETECTED); box normalised to [0, 1] of the frame.
    label = models.CharField(max_length=32, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    x1 = models.FloatField(null=True, blank=True)
    y1 = models.FloatField(null=True, blank=True)
    x2 = models.FloatField(null=True, blank=True)
    y2 = models.FloatField(null=True, blank=True)
    track = models.BigIntegerField(null=True, blank=True)
    offset_ms = models.IntegerField(null=True, blank=True, help_text="Position in the clip.")
    model = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        # (track, time): a sighting's detections in time order (GET /api/v1/sightings/{id}/track/).
        indexes = [models.Index(fields=["camera", "seq"]), models.Index(fields=["clip", "type"]),
                   models.Index(fields=["track", "time"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_type_display()}"


class ProjectionCheckpoint(models.Model):
    """How far a projection has read the log; written in the same transaction as its effects."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
