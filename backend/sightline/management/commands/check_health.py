"""``manage.py check_health``: is this site healthy? Stuck jobs, projector lag, cameras, disk (see health.py)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.sightline.health import check


class Command(BaseCommand):
    help = "Report stuck analysis jobs, projector lag, cameras without a recorder and free disk; exit 1 if unhealthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        report = check()
        if options["json"]:
            self.stdout.write(json.dumps({"healthy": report.healthy, "problems": report.problems,
                                          "facts": report.facts}, indent=2))
        else:
            for name, value in report.facts.items():
                self.stdout.write(f"{name}: {value}")
            for problem in report.problems:
                self.stdout.write(self.style.ERROR(f"PROBLEM: {problem}"))
            self.stdout.write(self.style.SUCCESS("healthy") if report.healthy else self.style.ERROR("unhealthy"))
        if not report.healthy:
            raise SystemExit(1)
