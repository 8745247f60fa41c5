"""Who sees what unmasked: the one place that decides which masking a person gets for a camera's footage.

Footage is masked by its camera's ``privacy_mask`` for everyone by default. A user with the
``exports.unmask`` permission (superusers, or users and groups it is granted to in the Django admin) may ask
for it unmasked, request by request; each such request is recorded in the audit trail. A user without it who
asks gets 403, never the footage.

What a masking hides is a set of detection labels from the log (:data:`MASK_LABELS`); a masking *covers*
another when it hides at least those labels. An export may choose its masking, but only one that covers its
camera's unless the user may unmask.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied

from backend.cameras.models import Camera, Masking

UNMASK_PERMISSION = "exports.unmask"

#: The labels each masking hides. Whole persons hide faces too (a face detected outside a person box).
MASK_LABELS: dict[str, frozenset[str]] = {
    Masking.NONE: frozenset(),
    Masking.FACES: frozenset({"face"}),
    Masking.FACES_PLATES: frozenset({"face", "plate"}),
    Masking.PERSONS: frozenset({"person", "face"}),
}


def may_unmask(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(UNMASK_PERMISSION))


def covers(masking: str, required: str) -> bool:
    """Whether ``masking`` hides at least what ``required`` hides."""
    return MASK_LABELS[required] <= MASK_LABELS[masking]


def playback_masking(user: Any, camera: Camera, *, unmask: bool) -> str:
    """The masking ``user`` gets for ``camera``'s footage; ``unmask`` asks for none (403 without the right)."""
    if camera.privacy_mask == Masking.NONE:
        return Masking.NONE
    if unmask:
        if not may_unmask(user):
            raise PermissionDenied("you may not see this camera's footage unmasked")
        return Masking.NONE
    return camera.privacy_mask


def may_receive(user: Any, camera: Camera, masking: str) -> bool:
    """Whether footage of ``camera`` rendered with ``masking`` may be given to ``user``."""
    return covers(masking, camera.privacy_mask) or may_unmask(user)
