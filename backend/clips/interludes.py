"""Work an analysis worker serves before uploads, owned by other apps: exports and masked renditions today.

An upload's (or a re-run's) analysis looks between its batches for what is more urgent
(``analysis.tasks.serve_more_urgent``): live segments and synchronous requests, then these. They are
registered here by the app that owns them (``backend.exports`` in its ``AppConfig.ready``), so analysis
depends on this small interface only, not on the apps (and what they import: the search models).

A job is named by a key (``(kind, pk)``); ``next_ready(skip)`` gives the oldest one that can run now (or
``None``), and ``run(key)`` runs it in the calling process (claiming it first: a key another worker took
runs nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Interlude:
    name: str
    next_ready: Callable[[Collection[Key]], Key | None]
    run: Callable[[Key], object]


_registered: dict[str, Interlude] = {}


def register(interlude: Interlude) -> None:
    _registered[interlude.name] = interlude


def waiting() -> bool:
    """Whether any registered work can run now."""
    return any(i.next_ready(()) is not None for i in _registered.values())


def serve_one(tried: set[Key]) -> bool:
    """Run the first registered work ready now, not in ``tried`` (which gets its key); ``False`` if none."""
    for interlude in _registered.values():
        key = interlude.next_ready(tried)
        if key is not None:
            tried.add(key)
            interlude.run(key)
            return True
    return False
