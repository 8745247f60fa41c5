"""``manage.py reproject_camera <id>…``: fold the cameras' detections again under their confirmation rules.

What a change of a camera's tracked objects does by itself (``search.reprojection``), at once: the
``Sighting`` table for these cameras, then (Elasticsearch) a zero-downtime rebuild of the index.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.cameras.models import Camera
from search.reprojection import reproject_cameras


class Command(BaseCommand):
    help = "Re-project the sightings of cameras from the event log under their current confirmation rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("camera_ids", nargs="+", type=int, metavar="id", help="Camera ids.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = sorted(set(options["camera_ids"]))
        missing = sorted(set(ids) - set(Camera.objects.filter(pk__in=ids).values_list("pk", flat=True)))
        if missing:
            raise CommandError(f"no camera with id {', '.join(map(str, missing))}")
        self.stdout.write(reproject_cameras(ids))
