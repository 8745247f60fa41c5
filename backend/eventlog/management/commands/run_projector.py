import signal
import time

from django.core.management.base import BaseCommand

from backend.eventlog import projections


class Command(BaseCommand):
    help = "Tail the event log into every projection until stopped (SIGTERM finishes the current batch)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="catch up once and exit")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")

    def handle(self, *args, **options):
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            read = sum(projections.catch_up(p) for p in projections.registered().values())
            if options["once"]:
                self.stdout.write(f"read {read} events")
                return
            if not read:
                time.sleep(options["interval"])
