"""Keeps the database's query planner informed as the log and its projections grow.

SQLite plans queries from statistics that only ``ANALYZE`` gathers; without them the search's covering indexes
may be passed over. ``PRAGMA optimize`` re-gathers them only for tables whose size changed a lot, so it is
cheap; it runs after appends commit (the ``log_appended`` signal), at most once per
:data:`REFRESH_EVERY_S` per process. PostgreSQL's autovacuum does this job by itself.
"""

from __future__ import annotations

import threading
import time

from django.db import connection

#: Longest a process lets the planner's statistics go without a refresh while it appends.
REFRESH_EVERY_S = 5.0

_last_refresh = -REFRESH_EVERY_S
_lock = threading.Lock()


def refresh_planner_statistics(*, full: bool = False) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if full else "PRAGMA optimize")
    elif connection.vendor == "postgresql" and full:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def on_log_appended(*, head: int, **_: object) -> None:
    """``log_appended`` receiver: refresh SQLite's statistics now and then (never inside a transaction)."""
    global _last_refresh
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    with _lock:
        now = time.monotonic()
        if now - _last_refresh < REFRESH_EVERY_S:
            return
        _last_refresh = now
    refresh_planner_statistics()
