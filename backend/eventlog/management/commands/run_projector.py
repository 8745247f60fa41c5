"""``manage.py run_projector``: tail the event log into every registered projection until stopped.

It survives outages: a projection whose store (Elasticsearch, the database) fails is retried with
exponential backoff and jitter (up to ``--max-backoff`` seconds) while the others keep going; its
checkpoint stays where it was, so nothing is lost or counted twice when the store is back. Every
``--report-every`` seconds, and whenever a projection fails or recovers, it logs each projection's lag.
SIGTERM or SIGINT ends it after the current batch.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from backend.eventlog import projections
from backend.sightline.redaction import redact

log = logging.getLogger("backend.eventlog.projector")


class Runner:
    """One projector loop over the registered projections (``tick`` is one pass; tests drive it)."""

    def __init__(self, *, base_backoff_s: float = 0.5, max_backoff_s: float = 30.0) -> None:
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.failures: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}

    def tick(self) -> int:
        """Catch every due projection up once; return the events read (failures are logged, not raised)."""
        read = 0
        for name, projection in projections.registered().items():
            if time.monotonic() < self.retry_at.get(name, 0.0):
                continue
            try:
                read += projections.catch_up(projection)
            except Exception as exc:
                close_old_connections()
                failures = self.failures.get(name, 0) + 1
                self.failures[name] = failures
                delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (failures - 1))
                delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not crypto)
                self.retry_at[name] = time.monotonic() + delay
                log.warning("projection %s failed (%d in a row; next try in %.1f s): %s: %s", name, failures,
                            delay, exc.__class__.__name__, redact(str(exc))[:300])
            else:
                if self.failures.pop(name, 0):
                    self.retry_at.pop(name, None)
                    log.warning("projection %s recovered; lag %d", name, self.lag(name))
        return read

    @staticmethod
    def lag(name: str) -> int:
        try:
            return projections.lag(name)
        except Exception:  # the database itself is away
            close_old_connections()
            return -1

    def report(self) -> None:
        lags = ", ".join(f"{name} {self.lag(name)}" for name in sorted(projections.registered()))
        log.info("projector lag (events): %s", lags)


class Command(BaseCommand):
    help = "Tail the event log into every projection until stopped (SIGTERM finishes the current batch)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="catch up once and exit")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
        parser.add_argument("--max-backoff", type=float, default=30.0, help="longest wait after failures")
        parser.add_argument("--report-every", type=float, default=60.0, help="seconds between lag reports")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        runner = Runner(max_backoff_s=options["max_backoff"])
        if options["once"]:
            read = runner.tick()
            self.stdout.write(f"read {read} events")
            if runner.failures:
                raise SystemExit(1)
            return
        next_report = time.monotonic()
        while not stopping:
            read = runner.tick()
            if time.monotonic() >= next_report:
                runner.report()
                next_report = time.monotonic() + options["report_every"]
            if not read:
                time.sleep(options["interval"])
