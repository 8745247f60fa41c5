"""``manage.py rebuild_search_index``: rebuild the Elasticsearch index from the event log without downtime.

Searches keep answering from the current generation until the new one is complete; then one alias swap.
It must never print the cluster's URL or credentials.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Rebuild the Elasticsearch search index from the event log, swapping it in atomically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="Events read per batch.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SIGHTLINE["SEARCH_BACKEND"] != "elasticsearch":
            raise CommandError(
                "the search backend is the database; set ELASTICSEARCH_URL to use Elasticsearch"
            )
        from search.backends.elasticsearch import rebuild_index

        result = rebuild_index(batch=options["batch"])
        self.stdout.write(
            f"generation {result['generation']} is live (replaced {result['previous']}); "
            f"{result['events']} events replayed, checkpoint at {result['position']}"
        )
