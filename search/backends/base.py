"""The search contract every backend implements, and the value types that cross it.

A query is a plain value (:class:`SearchQuery`); a backend answers with a :class:`SearchPage` of sightings,
an opaque cursor for the next page, and facets. Backends differ in storage, never in answers: the contract
tests in ``tests/search/`` run the same cases against each of them.

Facet semantics (the same in every backend): the tag counts ignore the tag filter and the camera counts
ignore the camera filter, so a user choosing tags still sees how many of the other tags there are; the
time histogram applies every filter. Camera visibility is always applied.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from backend.accounts.visibility import requested_and_visible

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


@dataclass(frozen=True, slots=True)
class Histogram:
    interval_ms: int
    buckets: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Facets:
    tags: dict[str, int]
    cameras: dict[int, int]
    histogram: Histogram


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
    def get(self, sighting_id: int) -> SightingHit | None:
        """One sighting by id (no permission check: the caller applies camera visibility)."""
