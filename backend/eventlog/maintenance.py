"""Keeps the database's query planner informed as the log and its projections grow.

SQLite plans queries from statistics that only ``ANALYZE`` gathers; without them the search's covering indexes
may be passed over. ``PRAGMA optimize`` re-gathers them only for tables whose size changed a lot, so it is
cheap enough to run after every analysed clip. PostgreSQL's autovacuum does this job by itself.
"""

from __future__ import annotations

from django.db import connection


def refresh_planner_statistics(*, full: bool = False) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if full else "PRAGMA optimize")
    elif connection.vendor == "postgresql" and full:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
