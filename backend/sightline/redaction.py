"""Removes credentials from text before it is logged, stored or returned.

FFmpeg (and so PyAV) puts the whole input URL, password included, into its error messages; exceptions from
other libraries may do the same. Everything that leaves a process as text passes through :func:`redact`.
"""

from __future__ import annotations

import logging
import re

# The password runs to the *last* "@" before the host: a raw password may itself contain "@".
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^/\s]*)@")
_QUERY_SECRET = re.compile(r"(?i)(?P<key>(?:password|passwd|pwd|token|secret|api_key)=)(?P<value>[^&\s]+)")


def redact(text: str) -> str:
    """Replace the password of every ``scheme://user:password@`` and ``password=`` pair with ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", text)


class RedactSecretsFilter(logging.Filter):
    """Logging filter: redacts the formatted message and any exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
