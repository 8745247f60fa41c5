"""Signals the event log sends, so that it never needs to know who consumes it.

``log_appended`` is sent once an append has committed, with ``head`` (the highest ``seq`` it made visible).
It is a hint, never a delivery: consumers read the log itself. A receiver that raises is logged and the
others still run; an append never fails because of a consumer.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

log_appended = Signal()


def send_log_appended(head: int) -> None:
    for receiver, result in log_appended.send_robust(sender="eventlog", head=head):
        if isinstance(result, Exception):
            log.warning("event log: a log_appended receiver failed: %r", receiver, exc_info=result)
