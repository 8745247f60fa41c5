from __future__ import annotations

import pytest

from backend.sightline.config import SettingsError, load_settings


def test_bad_values_stop_start_up_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_ANALYSIS_BATCH_SIZE", "many")
    monkeypatch.setenv("REDIS_URL", "http://example")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "SIGHTLINE_ANALYSIS_BATCH_SIZE" in message and "integer" in message
    assert "REDIS_URL" in message and "redis://" in message


def test_secret_values_are_never_echoed(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2-secret@db/x")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "hunter2-secret" not in str(excinfo.value)
    assert "DATABASE_URL" in str(excinfo.value)


def test_secrets_can_come_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("SIGHTLINE_SECRET_KEY_FILE", str(secret))
    monkeypatch.delenv("SIGHTLINE_SECRET_KEY", raising=False)
    assert load_settings().SECRET_KEY == "from-a-file"


def test_lists_and_prefix(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_ALLOWED_HOSTS", "a.example, b.example")
    monkeypatch.setenv("SIGHTLINE_REDIS_URL", "redis://prefixed:6379/0")
    monkeypatch.setenv("REDIS_URL", "redis://bare:6379/0")
    parsed = load_settings()
    assert parsed.ALLOWED_HOSTS == ["a.example", "b.example"]
    assert parsed.REDIS_URL == "redis://prefixed:6379/0"


def test_search_backend_follows_elasticsearch_url_and_takes_a_dotted_path(monkeypatch):
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    monkeypatch.delenv("SIGHTLINE_ELASTICSEARCH_URL", raising=False)
    assert load_settings().SEARCH_BACKEND == "search.backends.database.DatabaseSearchBackend"
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    monkeypatch.setenv("SIGHTLINE_ELASTICSEARCH_INDEX_PREFIX", "site-a")
    parsed = load_settings()
    assert parsed.SEARCH_BACKEND == "search.backends.elasticsearch.ElasticsearchSearchBackend"
    assert parsed.ELASTICSEARCH_INDEX_PREFIX == "site-a"
    monkeypatch.setenv("SIGHTLINE_SEARCH_BACKEND", "database")
    assert load_settings().SEARCH_BACKEND == "search.backends.database.DatabaseSearchBackend"
    monkeypatch.setenv("SIGHTLINE_SEARCH_BACKEND", "solr")
    with pytest.raises(SettingsError, match="SEARCH_BACKEND"):
        load_settings()


def test_elasticsearch_backend_without_a_url_stops_start_up(monkeypatch):
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    monkeypatch.delenv("SIGHTLINE_ELASTICSEARCH_URL", raising=False)
    monkeypatch.setenv("SIGHTLINE_SEARCH_BACKEND", "elasticsearch")
    with pytest.raises(SettingsError, match="ELASTICSEARCH_URL is not set"):
        load_settings()


def test_bad_index_prefix_is_refused(monkeypatch):
    monkeypatch.setenv("SIGHTLINE_ELASTICSEARCH_INDEX_PREFIX", "Bad/Prefix")
    with pytest.raises(SettingsError, match="ELASTICSEARCH_INDEX_PREFIX"):
        load_settings()


def test_settings_are_typed_frozen_and_keep_secrets_out_of_their_repr(monkeypatch, settings):
    monkeypatch.setenv("SIGHTLINE_SECRET_KEY", "s3cret-key-marker")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:db-pw-marker@db/x")
    monkeypatch.setenv("SIGHTLINE_ELASTICSEARCH_PASSWORD", "es-pw-marker")
    monkeypatch.setenv("SIGHTLINE_CAMERA_CREDENTIALS_KEY", "fernet-marker")
    parsed = load_settings()
    text = repr(parsed) + str(parsed)
    for marker in ("s3cret-key-marker", "db-pw-marker", "es-pw-marker", "fernet-marker"):
        assert marker not in text
    with pytest.raises(ValueError, match="frozen"):
        parsed.DETECTOR = "other"  # type: ignore[misc]
    # Django's settings hold that object itself, not a dict flattened from it.
    assert type(settings.SIGHTLINE).__name__ == "SightlineSettings"
    assert settings.SIGHTLINE.MAX_UPLOAD_BYTES == 4 * 1024**3


def test_confirmation_defaults_and_their_limits(monkeypatch):
    for name in ("TRACKED_LABELS", "CONFIRM_MIN_SCORE", "CONFIRM_THRESHOLD", "CONFIRM_MIN_HITS",
                 "CONFIRM_MIN_AREA", "CONFIRM_MAX_AREA"):
        monkeypatch.delenv(f"SIGHTLINE_{name}", raising=False)  # the test settings relax them
    parsed = load_settings()
    assert parsed.TRACKED_LABELS == ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    assert (parsed.CONFIRM_MIN_SCORE, parsed.CONFIRM_THRESHOLD, parsed.CONFIRM_MIN_HITS) == (0.3, 0.5, 3)
    assert (parsed.CONFIRM_MIN_AREA, parsed.CONFIRM_MAX_AREA) == (0.0, 1.0)
    monkeypatch.setenv("SIGHTLINE_TRACKED_LABELS", " person, fire hydrant ,,")
    assert load_settings().TRACKED_LABELS == ["person", "fire hydrant"]
    monkeypatch.setenv("SIGHTLINE_TRACKED_LABELS", "car,*")
    assert load_settings().TRACKED_LABELS == ["*"]
    monkeypatch.setenv("SIGHTLINE_CONFIRM_MIN_AREA", "0.5")
    monkeypatch.setenv("SIGHTLINE_CONFIRM_MAX_AREA", "0.2")
    with pytest.raises(SettingsError, match="CONFIRM_MIN_AREA"):
        load_settings()
    monkeypatch.setenv("SIGHTLINE_CONFIRM_MIN_HITS", "0")
    with pytest.raises(SettingsError, match="SIGHTLINE_CONFIRM_MIN_HITS"):
        load_settings()
