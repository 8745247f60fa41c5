"""Sightline search: one small facade over interchangeable backends.

The application gets its backend from :func:`get_backend`: the class named by ``SIGHTLINE.SEARCH_BACKEND``
(a dotted path), built once per process from the typed settings. ``reset`` drops it, for tests that change
settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends.base import SearchBackend

_backend: SearchBackend | None = None


def get_backend() -> SearchBackend:
    global _backend
    if _backend is None:
        from django.conf import settings
        from django.utils.module_loading import import_string

        conf = settings.SIGHTLINE
        _backend = import_string(conf.SEARCH_BACKEND).from_settings(conf)
    return _backend


def reset() -> None:
    global _backend
    _backend = None
