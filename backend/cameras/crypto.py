"""Camera credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

The key is ``SIGHTLINE_CAMERA_CREDENTIALS_KEY`` (a urlsafe base64 Fernet key) when set, else one derived from
``SECRET_KEY`` with HKDF; rotating ``SECRET_KEY`` without setting the dedicated key makes stored camera
passwords unreadable, so production deployments should set the dedicated key. Nothing here ever logs.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(secret_key: str, dedicated_key: str | None) -> Fernet:
    if dedicated_key:
        try:
            return Fernet(dedicated_key.encode())
        except ValueError:
            raise ImproperlyConfigured(
                "SIGHTLINE_CAMERA_CREDENTIALS_KEY must be a urlsafe-base64 32-byte Fernet key"
            ) from None
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sightline-camera-credentials",
                   info=b"fernet").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _current() -> Fernet:
    return _fernet(settings.SECRET_KEY, settings.SIGHTLINE.CAMERA_CREDENTIALS_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored camera password cannot be decrypted with the configured key"
        ) from None
