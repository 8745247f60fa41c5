"""Query parameters of ``ws /ws/detections/``, validated like ``GET /api/v1/search/``.

Same names, same rules and the same error messages as the search API (a tag is a lower-case label, cameras
are positive ints, ``min_confidence`` is in [0, 1]), plus ``after`` (a sequence number ≥ 0). A parameter
given with an empty value (``tag=``) counts as absent, so a client can build the URL from empty form fields.
Unknown parameters (``token`` among them) are ignored here. This module must never let a value through
unvalidated: the feed builds SQL filters from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from rest_framework import serializers

from search.serializers import SightingFilterSerializer

#: The query string is parsed only up to this many bytes (a URL is rarely longer than 8 KiB anyway).
MAX_QUERY_BYTES = 8192


class InvalidParams(ValueError):
    """A query parameter is invalid; ``field`` names it, ``message`` says why (sent to the client)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class FeedParams:
    tags: frozenset[str] = frozenset()
    cameras: frozenset[int] = frozenset()
    min_confidence: float = 0.0
    #: Replay the log after this sequence number; ``None``: start at the log head (live only).
    after: int | None = None


class FeedParamsSerializer(SightingFilterSerializer):
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


def _first_message(detail: object) -> str:
    """The first human-readable message in a DRF error structure (lists nest per list item)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return f"item {key + 1}: {message}" if isinstance(key, int) else message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def parse_params(query_string: bytes) -> FeedParams:
    """Parse and validate the raw ASGI query string; raise :class:`InvalidParams` naming the bad field."""
    try:
        text = query_string[:MAX_QUERY_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParams("query", "the query string is not valid UTF-8") from None
    parsed = parse_qs(text, keep_blank_values=True)
    raw: dict[str, object] = {}
    for name in ("tag", "camera"):
        values = [v for v in parsed.get(name, []) if v != ""]
        if values:
            raw[name] = values
    for name in ("min_confidence", "after"):
        values = [v for v in parsed.get(name, []) if v != ""]
        if len(values) > 1:
            raise InvalidParams(name, "give this parameter at most once")
        if values:
            raw[name] = values[0]
    form = FeedParamsSerializer(data=raw)
    if not form.is_valid():
        field, detail = next(iter(form.errors.items()))
        raise InvalidParams(field, _first_message(detail))
    data = form.validated_data
    return FeedParams(tags=frozenset(data.get("tag", ())), cameras=frozenset(data.get("camera", ())),
                      min_confidence=float(data["min_confidence"]), after=data.get("after"))
