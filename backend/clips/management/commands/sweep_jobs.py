"""``manage.py sweep_jobs``: one sweep of the analysis job table (workers also sweep on their own)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analysis.on_demand import sweep as sweep_requests
from backend.clips.jobs import sweep
from backend.exports.jobs import sweep as sweep_renders


class Command(BaseCommand):
    help = ("Send lost analysis and render (export, rendition) jobs again, hand out dead workers' jobs, fail jobs "
            "whose attempts are used up; delete expired synchronous analysis requests.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = sweep()
        self.stdout.write(f"{report.dispatched} re-sent, {report.failed} failed after their last attempt, "
                          f"{report.undeliverable} waiting for the broker; {sweep_renders()} render jobs acted on")
        requests = sweep_requests()
        self.stdout.write(f"analysis requests: {requests.expired} expired, {requests.failed} failed, "
                          f"{requests.redispatched} re-sent, {requests.orphans} orphaned files removed")
