"""The privacy pass: what analysis finds in a frame so that footage can be masked later, from the log alone.

Faces (``analysis.faces``, on every camera that masks anything while ``FACE_DETECTION`` is on) and licence
plates (inside vehicle boxes, on cameras whose ``privacy_mask`` is ``faces_plates``; ``analysis.plates``) are
logged as tracked ``object.detected`` events with the labels of :data:`~backend.eventlog.schema.PRIVACY_LABELS`.
They never become sightings, search results, live-feed items or thumbnails: the projections skip those labels.

The pipeline (``analysis.pipeline``) calls :meth:`PrivacyDetectors.find_many` once per batch, with each analysed
frame's source-resolution picture and its object detections (normalised to the frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .detectors.base import Detection

if TYPE_CHECKING:
    from .faces import FaceDetector

#: ``Camera.privacy_mask`` values whose cameras are searched for plates. Faces are looked for (while
#: ``FACE_DETECTION`` is on) on every camera that masks anything: the face pass costs about as much CPU as
#: the object detector (``benchmarks/bench_faces.py``), so a camera that masks nothing does not pay it. Footage
#: analysed while nothing was looked for is masked as whole persons if its camera's mask changes later
#: (``Clip.privacy_labels``), never shown.
MASKS_WITH_PLATES = frozenset({"faces_plates"})
MASKS_WITH_FACES = frozenset({"faces", "faces_plates", "persons"})


#: The model id of plate events when the finder names none (``model_id``).
PLATES_MODEL_ID = "plates"


class FindsPlates(Protocol):
    """What the pass needs of a plate finder (``analysis.plates.PlateFinder``): plates (label ``plate``)
    inside the frame's vehicle boxes, normalised to the frame. A ``model_id`` attribute, if it has one,
    names the model in the events' keys (else :data:`PLATES_MODEL_ID`)."""

    def find(self, rgb: np.ndarray, vehicle_detections: Sequence[Detection]) -> list[Detection]: ...


class PrivacyDetectors:
    """The detectors of one camera's privacy pass; either may be absent (``None``: not run)."""

    def __init__(self, faces: FaceDetector | None = None, plates: FindsPlates | None = None, *,
                 face_min_confidence: float = 0.4) -> None:
        self.faces = faces
        self.plates = plates
        self.face_min_confidence = face_min_confidence

    def __bool__(self) -> bool:
        return self.faces is not None or self.plates is not None

    def model_ids(self) -> dict[str, str]:
        """The model id stored with each label's events (part of their keys)."""
        ids = {}
        if self.faces is not None:
            ids["face"] = self.faces.model_id
        if self.plates is not None:
            ids["plate"] = str(getattr(self.plates, "model_id", PLATES_MODEL_ID))
        return ids

    def find_many(self, frames: Sequence[tuple[np.ndarray, Sequence[Detection]]]) -> list[list[Detection]]:
        """:meth:`find` for each (picture, detections) of a batch, in order: the faces of all its frames
        side by side (``FaceDetector.detect_many``), then each frame's plates."""
        faces: list[list[Detection]] = [[] for _ in frames]
        if self.faces is not None:
            faces = self.faces.detect_many([rgb for rgb, _ in frames], [objects for _, objects in frames],
                                           self.face_min_confidence)
        if self.plates is not None:
            for found, (rgb, objects) in zip(faces, frames, strict=True):
                found += self.plates.find(rgb, objects)
        return faces

    def find(self, full_rgb: np.ndarray, detections: Sequence[Detection]) -> list[Detection]:
        """Faces (score ≥ ``face_min_confidence``), then plates, in ``full_rgb`` (uint8 H×W×3, the source
        picture); ``detections`` are the frame's objects, boxes normalised to the frame."""
        return self.find_many([(full_rgb, detections)])[0]


def _plate_finder() -> FindsPlates | None:
    """The process-wide plate finder (``analysis.plates``), or ``None`` where that module is absent."""
    try:
        from .plates import get_plate_finder
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.plates":
            raise
        return None
    return get_plate_finder()


def privacy_for(camera: Any) -> PrivacyDetectors | None:
    """The privacy pass to run on ``camera``'s clips, as the settings and the camera say; ``None``: none.

    Faces when ``FACE_DETECTION`` is on and the camera masks anything; plates when its ``privacy_mask`` is
    ``faces_plates``.
    """
    from django.conf import settings

    conf = settings.SIGHTLINE
    mask = getattr(camera, "privacy_mask", "faces")
    faces = None
    if conf.FACE_DETECTION and mask in MASKS_WITH_FACES:
        from .faces import get_face_detector

        faces = get_face_detector()
    plates = _plate_finder() if mask in MASKS_WITH_PLATES else None
    detectors = PrivacyDetectors(faces, plates, face_min_confidence=conf.FACE_MIN_CONFIDENCE)
    return detectors if detectors else None
