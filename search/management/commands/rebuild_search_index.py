"""``manage.py rebuild_search_index``: rebuild the search index from the event log without downtime.

Searches keep answering from the current index until the new one is complete; then one swap. The database
backend has no separate index to rebuild (``rebuild_projections`` rebuilds its table). It must never print
the cluster's URL or credentials.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from search import get_backend
from search.backends.base import RebuildUnsupported


class Command(BaseCommand):
    help = "Rebuild the search index from the event log, swapping it in atomically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="Events read per batch.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = get_backend().rebuild(batch=options["batch"])
        except RebuildUnsupported as exc:
            raise CommandError(f"{exc}; set ELASTICSEARCH_URL to use Elasticsearch") from None
        self.stdout.write(report)
