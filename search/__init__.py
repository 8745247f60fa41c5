"""Sightline search: one small facade over interchangeable backends.

Callers use :func:`get_backend` (or :func:`search`) and never import a backend directly. ``reset`` drops
the cached backend, for tests that switch settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends.base import SearchBackend, SearchPage, SearchQuery

_backend: SearchBackend | None = None


def get_backend() -> SearchBackend:
    global _backend
    if _backend is None:
        from django.conf import settings

        if settings.SIGHTLINE["SEARCH_BACKEND"] == "elasticsearch":
            from .backends.elasticsearch import ElasticsearchSearchBackend

            _backend = ElasticsearchSearchBackend()
        else:
            from .backends.database import DatabaseSearchBackend

            _backend = DatabaseSearchBackend()
    return _backend


def search(query: SearchQuery, *, facets: bool = True) -> SearchPage:
    return get_backend().search(query, facets=facets)


def reset() -> None:
    global _backend
    _backend = None
