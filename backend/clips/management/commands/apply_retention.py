"""``manage.py apply_retention``: expire footage past each camera's retention, then enforce the disk floor."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from backend.clips.retention import apply_retention


class Command(BaseCommand):
    help = ("Delete each camera's footage older than its retention_days, with its thumbnails, detections and "
            "sightings, then the oldest footage while the disk is below SIGHTLINE.DISK_FREE_FLOOR_BYTES.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = apply_retention()
        self.stdout.write(f"{report.expired} clips expired ({report.for_disk} for the disk floor), "
                          f"{report.bytes_freed} bytes freed, {report.detections} detections deleted")
