"""Serializers of the search API: the query parameters (shared with the live feed) and the answers' shapes.

Query parameters are validated here: a bad one gets a 400 naming the parameter, with the same rules and
messages in ``GET /api/v1/search/`` and ``ws /ws/detections/``.
"""

from __future__ import annotations

import math

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from backend.eventlog.schema import COLOR_PALETTE

from .backends.base import MAX_PAGE_SIZE, SORTS

TAG_PATTERN = r"^[a-z][a-z0-9 _-]{0,31}$"


#: Bounds on list parameters, so a hostile query string cannot build a huge ``IN (...)``.
MAX_TAGS = 32
MAX_CAMERAS = 500


class SightingFilterSerializer(serializers.Serializer):
    """The filters that search and the live feed share: same names, rules and messages in both."""

    tag = serializers.ListField(child=serializers.RegexField(TAG_PATTERN, error_messages={
        "invalid": "a tag is a lower-case label such as person, car or bicycle"}), required=False,
        max_length=MAX_TAGS)
    camera = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                   max_length=MAX_CAMERAS)
    min_confidence = serializers.FloatField(required=False, min_value=0.0, max_value=1.0, default=0.0)

    def validate_min_confidence(self, value: float) -> float:
        # NaN passes DRF's min/max checks (every comparison with NaN is false) and would match nothing.
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a number between 0 and 1")
        return value


def _colors(what: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=COLOR_PALETTE, error_messages={
        "invalid_choice": f"{what} is one of {', '.join(COLOR_PALETTE)}"}), required=False,
        max_length=len(COLOR_PALETTE))


class SearchParamsSerializer(SightingFilterSerializer):
    upper_color = _colors("a person's upper-body colour")
    lower_color = _colors("a person's lower-body colour")
    color = _colors("a vehicle's colour")
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    sort = serializers.ChoiceField(choices=SORTS, required=False, default="-confidence")
    cursor = serializers.CharField(required=False, max_length=500)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50)
    facets = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise ValidationError({"end": ["end must be after start"]})
        return attrs


class CameraRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SightingSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The sighting (track) id.")
    tag = serializers.CharField()
    confidence = serializers.FloatField(help_text="Of the best detection.")
    camera = CameraRefSerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    best_time = serializers.DateTimeField()
    box = serializers.ListField(child=serializers.FloatField(), help_text="x1, y1, x2, y2 in [0, 1].")
    detections = serializers.IntegerField()
    model = serializers.CharField()
    clip = serializers.IntegerField()
    offset_s = serializers.FloatField(help_text="Position of the best detection in the clip.")
    colors = serializers.DictField(child=serializers.ChoiceField(choices=COLOR_PALETTE), help_text=(
        "The best detection's named colours: upper_color and lower_color for a person, color for a vehicle; "
        "an attribute is absent when it was not named."))
    thumbnail_url = serializers.CharField()
    clip_url = serializers.CharField(help_text="Plays the clip from the moment of the best detection.")


class HistogramSerializer(serializers.Serializer):
    interval_s = serializers.IntegerField()
    buckets = serializers.ListField(child=serializers.DictField())


class FacetsSerializer(serializers.Serializer):
    tags = serializers.DictField(child=serializers.IntegerField())
    colors = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()), help_text=(
        "Counts per colour of upper_color, lower_color and color; each ignores its own filter."))
    cameras = serializers.ListField(child=serializers.DictField())
    histogram = HistogramSerializer()


class SearchResultSerializer(serializers.Serializer):
    results = SightingSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    facets = FacetsSerializer(allow_null=True)
