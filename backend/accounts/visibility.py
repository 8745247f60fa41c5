"""Camera visibility as plain sets: the pure half of :mod:`backend.accounts.roles`, importable anywhere.

``None`` means "no restriction" throughout (an admin, who sees every camera, or a query for all of them).
"""

from __future__ import annotations

from collections.abc import Collection


def requested_and_visible(requested: Collection[int], visible: frozenset[int] | None) -> frozenset[int] | None:
    """The cameras to restrict to: those requested that the user may see (all visible ones when none are
    requested); ``None`` when neither restricts."""
    if visible is None:
        return frozenset(requested) if requested else None
    if not requested:
        return visible
    return frozenset(c for c in requested if c in visible)
