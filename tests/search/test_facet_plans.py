"""The database backend's facet queries read indexes only, never the sighting rows (wide: each holds its
appearance descriptor), whatever the filters: SQLite's own query plans, for the queries a search runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search.backends.base import SearchQuery
from search.backends.database import DatabaseSearchBackend
from search.models import Sighting

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")

QUERIES = {
    "nothing": SearchQuery(),
    "tag": SearchQuery(tags=("person",)),
    "camera": SearchQuery(cameras=(1,)),
    "confidence": SearchQuery(min_confidence=0.5),
    "colour": SearchQuery(tags=("person",), upper_colors=("red",)),
    "time": SearchQuery(start=datetime.fromtimestamp(1, UTC), end=datetime.fromtimestamp(900, UTC)),
}


def _plans(query: SearchQuery) -> dict[str, str]:
    """Each facet query of a search (the page's own query, which reads rows to return them, left out) and
    its plan."""
    with CaptureQueriesContext(connection) as captured:
        DatabaseSearchBackend().search(query)
    plans = {}
    with connection.cursor() as cursor:
        for q in captured.captured_queries:
            sql = q["sql"]
            if "search_sighting" not in sql or " LIMIT " in sql:
                continue
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plans[sql] = "\n".join(str(row[-1]) for row in cursor.fetchall())
    return plans


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_facet_queries_are_answered_from_covering_indexes(name: str) -> None:
    colours = ["red", "blue", "black", ""]
    Sighting.objects.bulk_create(
        Sighting(id=i, camera_id=1 + i % 5, label=("person", "car")[i % 2], confidence=(i % 100) / 100,
                 start_ms=i * 1000, end_ms=i * 1000 + 500, duration_ms=500, best_ms=i * 1000, best_seq=i,
                 best_clip_id=1, best_offset_ms=0, x1=0.1, y1=0.1, x2=0.2, y2=0.3, detections=3, model="m",
                 upper_color=colours[i % 4] if i % 2 == 0 else "", lower_color=colours[(i + 1) % 4],
                 color=colours[i % 3] if i % 2 else "", embedding=bytes(512))
        for i in range(1, 2001))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    plans = _plans(QUERIES[name])
    assert len(plans) >= 6, plans  # tags, cameras, three colours, histogram (and the time bounds)
    for sql, plan in plans.items():
        reads = [line for line in plan.splitlines() if "search_sighting" in line]
        assert reads and all("COVERING INDEX" in line for line in reads), f"{sql}\n{plan}"
