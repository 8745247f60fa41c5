"""``manage.py run_recorder``: the recorder process (one process, many cameras, leases shared with others).

SIGTERM or SIGINT finish every camera's current segment, register it, release the leases and exit.
Logs camera ids, never stream URLs (they carry passwords).
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.recorder.segmenter import RecorderSettings
from backend.recorder.supervisor import Supervisor


class Command(BaseCommand):
    help = "Record every enabled camera this process can lease into N-second segments."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = RecorderSettings()
        parser.add_argument("--owner", default=None, help="lease owner id (default: host:pid:random)")
        parser.add_argument("--segment-seconds", type=float, default=defaults.segment_seconds)
        parser.add_argument("--read-timeout", type=float, default=defaults.read_timeout_s,
                            help="seconds without a packet before a stream is restarted")
        parser.add_argument("--lease-ttl", type=float, default=defaults.lease_ttl_s)
        parser.add_argument("--poll", type=float, default=defaults.poll_s)
        parser.add_argument("--max-cameras", type=int, default=None)
        parser.add_argument("--backoff-cap", type=float, default=defaults.backoff_cap_s)

    def handle(self, *args: Any, **options: Any) -> None:
        settings = RecorderSettings(
            segment_seconds=options["segment_seconds"], read_timeout_s=options["read_timeout"],
            lease_ttl_s=options["lease_ttl"], poll_s=options["poll"], max_cameras=options["max_cameras"],
            backoff_cap_s=options["backoff_cap"],
        )
        if settings.poll_s * 2 >= settings.lease_ttl_s:
            self.stderr.write("--poll must be under half of --lease-ttl, or leases lapse between renewals")
            return
        supervisor = Supervisor(owner=options["owner"], settings=settings)

        def stop(signum: int, _frame: object) -> None:
            self.stdout.write(f"signal {signum}: finishing current segments")
            supervisor.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"recorder {supervisor.owner} started")
        supervisor.run()
        self.stdout.write(f"recorder {supervisor.owner} stopped")
