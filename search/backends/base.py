"""The search contract every backend implements, and the value types that cross it.

A query is a plain value (:class:`SearchQuery`); a backend answers with a :class:`SearchPage` of sightings,
an opaque cursor for the next page, and facets. Backends differ in storage, never in answers: the contract
tests in ``tests/search/`` run the same cases against each of them.

Facet semantics (the same in every backend): the tag counts ignore the tag filter, the camera counts
ignore the camera filter and each colour attribute's counts ignore that attribute's filter, so a user
choosing tags still sees how many of the other tags there are; the time histogram applies every filter.
Camera visibility is always applied.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from backend.accounts.visibility import requested_and_visible
from backend.eventlog.schema import COLOR_ATTRIBUTES

if TYPE_CHECKING:
    from backend.eventlog.projections import Projection
    from backend.sightline.config import SightlineSettings


Sort = Literal["-confidence", "-time", "time"]
SORTS: tuple[Sort, ...] = ("-confidence", "-time", "time")
MAX_PAGE_SIZE = 200

#: Histogram bucket widths to choose from, smallest first (milliseconds).
HISTOGRAM_INTERVALS_MS = (
    10_000, 60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 3 * 3_600_000, 12 * 3_600_000, 86_400_000,
    7 * 86_400_000, 30 * 86_400_000,
)
MAX_HISTOGRAM_BUCKETS = 60


class InvalidCursor(ValueError):
    """The cursor was not made by this search, or for another sort order."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    tags: tuple[str, ...] = ()
    cameras: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    min_confidence: float = 0.0
    sort: Sort = "-confidence"
    cursor: str | None = None
    page_size: int = 50
    #: Cameras the asking user may see; ``None`` means all of them.
    visible_cameras: frozenset[int] | None = None
    #: Colour filters: a sighting matches when its attribute is one of these (each attribute ANDed).
    upper_colors: tuple[str, ...] = ()
    lower_colors: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()

    def color_filters(self) -> dict[str, tuple[str, ...]]:
        """The colour attributes filtered on, by attribute name (``COLOR_ATTRIBUTES``)."""
        given = {"upper_color": self.upper_colors, "lower_color": self.lower_colors, "color": self.colors}
        return {k: v for k, v in given.items() if v}

    @property
    def start_ms(self) -> int | None:
        return None if self.start is None else int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else int(self.end.timestamp() * 1000)

    def effective_cameras(self) -> tuple[int, ...] | None:
        """Camera ids to restrict to (requested ∩ visible), or ``None`` for no restriction."""
        cameras = requested_and_visible(self.cameras, self.visible_cameras)
        return None if cameras is None else tuple(sorted(cameras))


@dataclass(frozen=True, slots=True)
class SimilarQuery:
    """Sightings that look like sighting ``of`` (same label), most similar first."""

    of: int
    #: Cameras to look in (∩ visible); empty: every visible camera.
    cameras: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 20
    visible_cameras: frozenset[int] | None = None

    def as_search(self, label: str) -> SearchQuery:
        """The same filters as a search (for the candidates' camera, time and visibility rules)."""
        return SearchQuery(tags=(label,), cameras=self.cameras, start=self.start, end=self.end,
                           visible_cameras=self.visible_cameras)


@dataclass(frozen=True, slots=True)
class SimilarHit:
    hit: SightingHit
    #: 0–1: the dot product of the two appearance descriptors (1: the same colours above and below the waist).
    similarity: float


@dataclass(frozen=True, slots=True)
class SightingHit:
    id: int
    label: str
    confidence: float
    camera_id: int
    start_ms: int
    end_ms: int
    best_ms: int
    best_clip_id: int
    best_offset_ms: int
    box: tuple[float, float, float, float]
    detections: int
    model: str
    thumbnail: str
    upper_color: str = ""
    lower_color: str = ""
    color: str = ""

    def colors(self) -> dict[str, str]:
        """The named colours, by attribute (only those named)."""
        return {a: v for a in COLOR_ATTRIBUTES if (v := getattr(self, a))}


@dataclass(frozen=True, slots=True)
class Histogram:
    interval_ms: int
    buckets: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Facets:
    tags: dict[str, int]
    cameras: dict[int, int]
    histogram: Histogram
    #: Counts per colour of each attribute (``COLOR_ATTRIBUTES``), each ignoring its own filter like the tags;
    #: unnamed colours are not counted.
    colors: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchPage:
    results: list[SightingHit]
    next_cursor: str | None
    facets: Facets | None = None


def sort_key(hit: SightingHit, sort: Sort) -> tuple[float | int, int]:
    if sort == "-confidence":
        return (hit.confidence, hit.id)
    return (hit.start_ms, hit.id)


def encode_cursor(sort: Sort, key: tuple[float | int, int]) -> str:
    raw = json.dumps({"s": sort, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[float | int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value, ident = data["k"]
        cursor_sort = data["s"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not valid; start again without it") from None
    if cursor_sort != sort:
        raise InvalidCursor(f"the cursor belongs to sort {cursor_sort!r}, not {sort!r}")
    if not isinstance(ident, int) or not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidCursor("the cursor is not valid; start again without it")
    return value, ident


def choose_interval(lo_ms: int, hi_ms: int) -> int:
    span = max(hi_ms - lo_ms, 1)
    for interval in HISTOGRAM_INTERVALS_MS:
        if span / interval <= MAX_HISTOGRAM_BUCKETS:
            return interval
    return HISTOGRAM_INTERVALS_MS[-1]


class RebuildUnsupported(RuntimeError):
    """This backend has no rebuild of its own (the message says what rebuilds it)."""


class SearchBackend(ABC):
    """A search backend: chosen by dotted path (``SIGHTLINE.SEARCH_BACKEND``), configured at construction."""

    name: str

    @classmethod
    def from_settings(cls, conf: SightlineSettings) -> SearchBackend:
        """The backend configured by ``conf`` (read once: a backend never reads settings afterwards)."""
        return cls()

    def projections(self) -> list[Projection]:
        """The projections that keep this backend's index, beyond the ``Sighting`` table every backend has.

        ``search.apps`` registers them with the event log at start-up.
        """
        return []

    def ping(self) -> bool:
        """Whether the backend's store answers now (readiness checks); the database's is checked apart."""
        return True

    def rebuild(self, *, batch: int) -> str:
        """Rebuild the index from the event log without downtime; a one-line report of what was done."""
        raise RebuildUnsupported(f"the {self.name} search backend is rebuilt by `manage.py rebuild_projections`")

    @abstractmethod
    def search(self, query: SearchQuery, *, facets: bool = True) -> SearchPage:
        """One page of sightings for ``query``, best first unless another sort is asked."""

    @abstractmethod
    def similar(self, query: SimilarQuery) -> list[SimilarHit]:
        """The sightings most like ``query.of`` by appearance, most similar first (ties: lower id first); empty
        when it has no appearance descriptor. Never itself, never a camera outside ``visible_cameras``."""

    @abstractmethod
    def get(self, sighting_id: int) -> SightingHit | None:
        """One sighting by id (no permission check: the caller applies camera visibility)."""
