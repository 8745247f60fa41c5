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
