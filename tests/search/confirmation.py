"""Helpers of the confirmation-rule tests (``search/sightings.py``): the production defaults, and a track of a
given shape.

The test settings relax the site defaults so that the other tests' one-detection fixtures stay sightings
(``backend/sightline/settings_test.py``); :func:`strict_defaults` puts back the production ones, read from
the settings model itself rather than copied here.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.eventlog.log import NewEvent
from backend.sightline.config import SightlineSettings
from tests.factories import detection

CONFIRMATION_SETTINGS = ("TRACKED_LABELS", "CONFIRM_MIN_SCORE", "CONFIRM_THRESHOLD", "CONFIRM_MIN_HITS",
                         "CONFIRM_MIN_AREA", "CONFIRM_MAX_AREA")
SECOND = 1000


def production_defaults() -> dict[str, object]:
    return SightlineSettings.declared_defaults(*CONFIRMATION_SETTINGS)


def strict_defaults(settings) -> None:  # type: ignore[no-untyped-def]
    """Set the production site defaults (labels person, bicycle, car, …; 3 hits, median 0.5, score 0.3)."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update=production_defaults())


def track(clip: int, camera: int, track_id: int, scores: Sequence[float], *, label: str = "person",
          start_ms: int = 0, ordinal: int = 0, box: tuple[float, float, float, float] = (0.1, 0.2, 0.3, 0.6),
          ) -> list[NewEvent]:
    """One detection a second of ``track_id`` with these confidences (box area 0.08 by default)."""
    return [detection(clip, camera, track_id, start_ms + i * SECOND, score, label=label, ordinal=ordinal, box=box)
            for i, score in enumerate(scores)]
