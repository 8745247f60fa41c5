"""``manage.py compute_appearance``: colours and "find similar" descriptors for sightings analysed before
analysis computed them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analysis.backfill import Report, compute_appearance


class Command(BaseCommand):
    help = ("Name the clothing and vehicle colours and compute the find-similar descriptor of sightings analysed "
            "before they were, from their stored thumbnails, as object.appearance events. Resumable: run it "
            "again after an interruption.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=200, help="events appended per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(report: Report) -> None:
            self.stdout.write(f"… {report}")

        self.stdout.write(str(compute_appearance(batch=options["batch"], progress=progress)))
