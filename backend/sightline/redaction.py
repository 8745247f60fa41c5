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


#: Attributes every log record has; any other attribute came from ``extra=`` (or a filter).
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_SCALARS = (bool, int, float, type(None))


def redact_value(value: object, _depth: int = 0) -> object:
    """:func:`redact` applied to a value of any type: strings, the strings inside dicts, lists and tuples, and
    the text of anything else (which is replaced by its redacted text only when that text held a secret).
    Returns ``value`` itself when there was nothing to redact; never raises."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _SCALARS):
        return value
    if _depth < 8 and isinstance(value, dict):
        cleaned_items = {key: redact_value(item, _depth + 1) for key, item in value.items()}
        return value if all(cleaned_items[k] is value[k] for k in value) else cleaned_items
    if _depth < 8 and isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned = [redact_value(item, _depth + 1) for item in items]
        return value if all(a is b for a, b in zip(cleaned, items, strict=True)) else cleaned
    try:
        text = str(value)
    except Exception:  # a broken __str__: the formatter reports it, redacted again there
        return value
    cleaned_text = redact(text)
    return value if cleaned_text == text else cleaned_text


class RedactSecretsFilter(logging.Filter):
    """Logging filter: redacts the formatted message, the exception and stack text, and every ``extra=``
    field of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) and not record.args:  # a structured message (python-json-logger)
            record.msg = redact_value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # bad arguments: the handler's formatter reports the error
                message = None
            if message is not None:
                cleaned = redact(message)
                if cleaned != message:
                    record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS:
                cleaned_value = redact_value(value)
                if cleaned_value is not value:
                    setattr(record, key, cleaned_value)
        return True
