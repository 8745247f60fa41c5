"""Prepares the demo on the embedded default: a login, a camera, real footage, analysed for real.

Idempotent: footage already loaded is not loaded twice; the login's password is renewed at every run and
printed once (it is stored only as a hash).
"""

from __future__ import annotations

import secrets
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from analysis.decode import probe
from analysis.tasks import analyse
from analysis.transcode import transcode_to_h264
from backend.cameras.models import Camera
from backend.clips import jobs
from backend.clips.models import Clip
from backend.clips.services import register_clip, storage_name_for
from backend.eventlog.maintenance import refresh_planner_statistics

FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


class Command(BaseCommand):
    help = "Create the demo login and camera, load vtest.avi (opencv-doc) and analyse it with the detector."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--seconds", type=float, default=None, help="load only the first N seconds")

    def handle(self, *args, **options):
        if not FOOTAGE.is_file():
            raise CommandError(f"{FOOTAGE} is missing: apt-get install opencv-doc (scripts/setup.sh does)")
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name="admin"))

        camera, _ = Camera.objects.get_or_create(name="Pedestrian street (demo)", defaults={"site": "Demo"})
        clip = Clip.objects.filter(camera=camera, original_name="vtest.mp4").first()
        if clip is None:
            clip = self._load(camera, options["seconds"])
        if clip.status != Clip.Status.DONE:
            self.stdout.write(f"Analysing {clip.duration_s:.0f} s of footage at {camera.analysis_fps:g} frames/s "
                              "with the CenterNet detector on this machine…")
            started = time.monotonic()
            jobs.requeue(clip.pk)  # a run stopped half-way (Ctrl-C) or failed starts over
            status = analyse(clip.pk)
            clip.refresh_from_db()
            self.stdout.write(f"  {status}: {clip.frames_analysed} frames, {clip.detections} detections "
                              f"in {time.monotonic() - started:.0f} s")
            if status != Clip.Status.DONE:
                raise CommandError(f"analysis failed: {clip.error}")
            refresh_planner_statistics(full=True)  # a bulk load, as `manage.py optimize_database` after one
        self.stdout.write(self.style.SUCCESS(f"LOGIN {user.username} / {password}"))

    def _load(self, camera: Camera, seconds: float | None) -> Clip:
        self.stdout.write(f"Transcoding {FOOTAGE.name} to H.264 (what cameras send; browsers play it)…")
        name = storage_name_for(camera, ".mp4")
        target = Path(default_storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part.mp4")
        transcode_to_h264(FOOTAGE, tmp, max_seconds=seconds)
        shutil.move(tmp, target)
        info = probe(target)
        started_at = timezone.now().replace(microsecond=0) - timedelta(seconds=info.duration_s or 0)
        with transaction.atomic():
            return register_clip(camera=camera, stored_name=name, info=info, started_at=started_at,
                                 original_name="vtest.mp4", queue=False)
