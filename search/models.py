"""The database search backend's index: one row per sighting (a confirmed track), kept by a projection.

A sighting is a track: detections of the same object linked across frames (and across a camera's consecutive
segments) that the confirmation rule (:mod:`search.sightings`) accepted. Its row carries the best
(highest-confidence) detection, the span of time it covers, and how many detections it holds. Times are epoch
milliseconds: integer comparisons and integer bucketing for the time histogram are several times faster than
date arithmetic in SQLite and are portable.

Tracks not confirmed (yet) wait in :class:`PendingTrack`, with what the rule needs to go on folding; nothing
reads them but the projection. Search, facets, the live feed and sighting pages read ``Sighting`` only.
"""

from __future__ import annotations

from django.db import models


class TrackSummary(models.Model):
    """What the rule keeps of a track (:class:`search.sightings.SightingFields`)."""

    id = models.BigIntegerField(primary_key=True, help_text="The track id.")
    camera_id = models.IntegerField()
    label = models.CharField(max_length=32)
    confidence = models.FloatField(help_text="Of the best detection.")
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()
    best_ms = models.BigIntegerField()
    best_seq = models.BigIntegerField(help_text="Event sequence number of the best detection.")
    best_clip_id = models.IntegerField()
    best_offset_ms = models.IntegerField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    #: ``end_ms - start_ms``, indexed: the longest one bounds time-range scans on ``start_ms``.
    duration_ms = models.BigIntegerField(default=0, db_index=True)
    detections = models.PositiveIntegerField(default=1)
    model = models.CharField(max_length=64)
    thumbnail = models.CharField(max_length=200, blank=True)
    # The best detection's named colours (``analysis.colors.PALETTE``); empty: not named (not a person or a
    # vehicle, not clear, or analysed before colours were).
    upper_color = models.CharField(max_length=12, blank=True, default="")
    lower_color = models.CharField(max_length=12, blank=True, default="")
    color = models.CharField(max_length=12, blank=True, default="", help_text="A vehicle's body colour.")
    #: The best detection's appearance descriptor for "find similar" (float32, ``EMBEDDING_DIMS``); null: none.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    hits = models.PositiveIntegerField(default=0, help_text="Detections the confirmation rule counted.")

    class Meta:
        abstract = True


_COLOURS = ("upper_color", "lower_color", "color")


class Sighting(TrackSummary):
    class Meta:
        indexes = [
            # The trailing columns make these four covering for every facet query (counts per label, camera
            # and colour, time bounds and histogram), which then never read the table's rows (wide: they
            # hold the appearance descriptor). Without the colours in them, the colour facets read the table
            # and took most of a search's time (``benchmarks/bench_search.py``, README).
            models.Index(fields=["-confidence", "-id", "label", "camera_id", "start_ms", "end_ms", *_COLOURS],
                         name="sighting_conf"),
            models.Index(fields=["label", "-confidence", "-id", "camera_id", "start_ms", "end_ms", *_COLOURS],
                         name="sighting_label_conf"),
            models.Index(fields=["camera_id", "label", "-confidence", "start_ms", "end_ms", *_COLOURS],
                         name="sighting_cam_label_conf"),
            models.Index(fields=["start_ms", "id", "end_ms", "label", "camera_id", "confidence", *_COLOURS],
                         name="sighting_start"),
            # Retention deletes the sightings whose best moment was in an expired clip.
            models.Index(fields=["best_clip_id"], name="sighting_best_clip"),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.confidence:.2f} (track {self.id})"


class PendingTrack(TrackSummary):
    """A track the confirmation rule has not accepted (yet): never searched, never shown."""

    duration_ms = models.BigIntegerField(default=0)
    recent = models.JSONField(default=list, help_text="Confidences of the last counted detections, oldest first.")

    class Meta:
        indexes = [
            models.Index(fields=["camera_id"], name="pending_camera"),
            models.Index(fields=["best_clip_id"], name="pending_best_clip"),
        ]

    def __str__(self) -> str:
        return f"pending {self.label} (track {self.id}, {self.hits} hits)"
