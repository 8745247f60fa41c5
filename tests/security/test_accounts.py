"""Accounts: API tokens expire and die at sign-out, logins are throttled and locked out, passwords are
checked, and the production settings pass ``check --deploy`` with no warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def token_for(username: str, password: str = PASSWORD) -> tuple[int, dict]:
    response = APIClient().post("/api/v1/auth/token/", {"username": username, "password": password})
    return response.status_code, response.json()


def me(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/me/").status_code


def test_tokens_expire_and_are_stored_hashed(personas):
    status, body = token_for("colleague")
    assert status == 200 and me(body["token"]) == 200
    expiry = AuthToken.objects.get(user=personas["colleague"]).expiry
    assert timedelta(hours=11) < expiry - timezone.now() <= timedelta(hours=12)
    assert not AuthToken.objects.filter(digest=body["token"]).exists(), "only a digest is stored"
    AuthToken.objects.filter(user=personas["colleague"]).update(expiry=timezone.now() - timedelta(seconds=1))
    assert me(body["token"]) in (401, 403)


def test_signing_out_revokes_the_token(personas):
    _, body = token_for("colleague")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.post("/api/v1/auth/session/").status_code == 200
    assert client.delete("/api/v1/auth/session/").status_code == 204
    assert me(body["token"]) in (401, 403)
    # And a token can be revoked on its own.
    _, other = token_for("colleague")
    client.credentials(HTTP_AUTHORIZATION=f"Token {other['token']}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert me(other["token"]) in (401, 403)


def test_five_failed_logins_lock_the_user_out_of_the_api_and_the_admin(personas):
    for _ in range(4):
        status, body = token_for("admin", "wrong")
        assert status == 400 and "wrong" in body["detail"]
    assert token_for("admin", "wrong")[0] == 429  # the fifth failure locks the pair out
    status, body = token_for("admin")  # the right password, too late
    assert status == 429 and "try again in 15 minutes" in body["detail"]
    admin_login = Client().post("/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD})
    assert admin_login.status_code == 429
    # Another user is not locked out.
    assert token_for("colleague")[0] == 200


def test_token_requests_are_throttled_per_address(personas):
    cache.clear()
    try:
        statuses = [token_for(f"nobody-{n}", "x")[0] for n in range(25)]
    finally:
        cache.clear()
    assert statuses[:20] == [400] * 20 and set(statuses[20:]) == {429}


def test_weak_passwords_are_refused():
    for weak in ("password", "12345678901234", "short-1"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("wheel-orbit-lantern-47")


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings", "SIGHTLINE_DEBUG": "0",
           "SIGHTLINE_SECRET_KEY": secrets.token_urlsafe(64), "SIGHTLINE_BEHIND_TLS_PROXY": "1",
           "SIGHTLINE_ALLOWED_HOSTS": "sightline.example.com", "SIGHTLINE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_pages_carry_a_content_security_policy(personas):
    from django.test import Client

    page = Client().get("/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert page["X-Frame-Options"] == "DENY" and page["X-Content-Type-Options"] == "nosniff"
