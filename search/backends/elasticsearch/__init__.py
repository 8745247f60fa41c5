"""The Elasticsearch search backend: a facade over the search, projector and index-layout modules.

Design (why sighting summaries rather than field collapsing): the contract ranks *sightings*, sorts them
by start time, filters ``min_confidence`` on the track's best and a time range on the track's span, and
counts facets per sighting. Collapsing detection documents on ``track`` picks each track's top document, but
it cannot sort by the track's start (a minimum over other documents), facets would count detections (or need
approximate cardinality), and ``search_after`` with collapse only works when sorting on the collapse field.
So the projector keeps one summary document per track (``_id`` = track id), folded with exactly the database
projection's rules; searches read those and give the database backend's answers, exactly. Detection documents
are indexed too (one per event, ``_id`` = event key) for detail views, audits and re-derivation.

The application reaches it through :func:`search.get_backend` (``SIGHTLINE.SEARCH_BACKEND`` names
:class:`ElasticsearchSearchBackend` by dotted path); tests and benchmarks may use the names exported here.
"""

from __future__ import annotations

from .backend import ElasticsearchSearchBackend
from .client import Names, get_client
from .projection import ElasticsearchProjection, ProjectionWriteError, rebuild_index

__all__ = [
    "ElasticsearchProjection",
    "ElasticsearchSearchBackend",
    "Names",
    "ProjectionWriteError",
    "get_client",
    "rebuild_index",
]
