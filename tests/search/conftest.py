"""Fixtures of the Elasticsearch tests (test_elasticsearch_backend.py, test_elasticsearch_confirmation.py).

``backend``, ``projection`` and ``indexed`` are Elasticsearch's here; a test class of another backend gives
its own (``TestDatabaseBackend``). The cluster comes from ``SIGHTLINE_TEST_ELASTICSEARCH_URL``; unset, the
tests are skipped with the reason (a failure in CI).
"""

from __future__ import annotations

import os
import uuid

import pytest

from backend.eventlog import projections
from backend.eventlog.log import EventLog
from search.backends.elasticsearch import (
    ElasticsearchProjection,
    ElasticsearchSearchBackend,
    Names,
    get_client,
    indices,
)
from tests.services import service_unavailable


@pytest.fixture(scope="session")
def es_url() -> str:
    url = os.environ.get("SIGHTLINE_TEST_ELASTICSEARCH_URL")
    if not url:
        message = (
            "SIGHTLINE_TEST_ELASTICSEARCH_URL is not set: start one with "
            "scripts/services/elasticsearch.sh start && scripts/services/elasticsearch.sh wait"
        )
        service_unavailable(message)
    return url


@pytest.fixture
def es_settings(settings, es_url):
    prefix = f"sltest-{uuid.uuid4().hex[:10]}"
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={
        "SEARCH_BACKEND": "search.backends.elasticsearch.ElasticsearchSearchBackend",
        "ELASTICSEARCH_URL": es_url,
        "ELASTICSEARCH_INDEX_PREFIX": prefix,
    })
    yield settings.SIGHTLINE
    indices.drop_everything(get_client(es_url), Names(prefix))


@pytest.fixture
def backend(es_settings, db):
    """The backend as the application builds it (``search.get_backend``), from the settings."""
    import search

    backend = search.get_backend()
    assert isinstance(backend, ElasticsearchSearchBackend)
    assert backend.names == Names(es_settings.ELASTICSEARCH_INDEX_PREFIX)
    return backend


@pytest.fixture
def projection(backend):
    (projection,) = backend.projections()
    assert isinstance(projection, ElasticsearchProjection)
    return projection


@pytest.fixture
def indexed(db, projection):
    def index(events):
        added = EventLog.append(events)
        projections.catch_up(projection)
        projection.refresh()
        return added

    return index
