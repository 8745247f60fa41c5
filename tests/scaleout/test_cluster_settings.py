"""What a site on an Elasticsearch cluster configures: several node URLs (the client fails over) and the
replicas of its indices."""

from __future__ import annotations

import os
import uuid

import pytest

from backend.sightline.config import SettingsError, load_settings
from search.backends.elasticsearch import indices
from search.backends.elasticsearch.client import Names, get_client
from tests.services import service_unavailable


def test_elasticsearch_url_names_several_nodes_and_replicas_are_a_setting(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://10.0.0.1:9200, http://10.0.0.2:9200")
    monkeypatch.setenv("SIGHTLINE_ELASTICSEARCH_REPLICAS", "2")
    parsed = load_settings()
    assert parsed.SEARCH_BACKEND == "search.backends.elasticsearch.ElasticsearchSearchBackend"
    assert parsed.ELASTICSEARCH_REPLICAS == 2
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://10.0.0.1:9200,ftp://10.0.0.2")
    with pytest.raises(SettingsError, match="ELASTICSEARCH_URL"):
        load_settings()
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://10.0.0.1:9200")
    monkeypatch.setenv("SIGHTLINE_ELASTICSEARCH_REPLICAS", "-1")
    with pytest.raises(SettingsError, match="ELASTICSEARCH_REPLICAS"):
        load_settings()
    monkeypatch.delenv("SIGHTLINE_ELASTICSEARCH_REPLICAS")
    assert load_settings().ELASTICSEARCH_REPLICAS == 0


@pytest.fixture
def es_url() -> str:
    url = os.environ.get("SIGHTLINE_TEST_ELASTICSEARCH_URL")
    if not url:
        service_unavailable("SIGHTLINE_TEST_ELASTICSEARCH_URL is not set (scripts/services/elasticsearch.sh)")
    return url


def test_a_dead_first_node_is_skipped_and_templates_carry_the_replicas(es_url):
    # GIVEN a URL list whose first node does not answer (nothing listens on port 9)
    client = get_client(f"http://127.0.0.1:9,{es_url}")
    names = Names(f"replicas{uuid.uuid4().hex[:8]}")
    try:
        # WHEN the templates are made with one replica THEN every request went to the live node
        indices.ensure_templates(client, names, replicas=1)
        assert client.ping()
        template = client.indices.get_index_template(name=f"{names.prefix}-{indices.SIGHTINGS}")
        settings = template["index_templates"][0]["index_template"]["template"]["settings"]["index"]
        assert settings["number_of_replicas"] == "1"
        # AND a partition made from them has it (a single node leaves it unassigned: yellow, as it should)
        index = names.partition(indices.SIGHTINGS, 1, "2026.12")
        indices.create_partition(client, names, index, live=True)
        got = client.indices.get_settings(index=index)[index]["settings"]["index"]["number_of_replicas"]
        assert got == "1"
        meta = client.indices.get_settings(index=names.meta)[names.meta]["settings"]["index"]
        assert meta["number_of_replicas"] == "1"
    finally:
        indices.drop_everything(client, names)
