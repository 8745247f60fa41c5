"""The recorder process: claims cameras by lease, runs one :class:`CameraWorker` thread per camera.

Several supervisors (on one machine or many) share the cameras: each claims free or expired leases
(:mod:`backend.recorder.leases`), renews its own every ``poll_s`` and stops any camera whose lease it lost.
Finished segments go through one registrar thread that stores each file in media storage, probes it and
registers it as a clip, which queues its analysis (``backend.clips.services``, as for an upload), so the
database never holds up a stream.

Stopping (SIGTERM in ``run_recorder``) closes every camera's current segment, registers it, releases the
leases and returns. Never log a camera's stream URL: it carries the password.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

from django.db import close_old_connections, connection

from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.clips.services import UploadRejected, register_stored, store_upload
from backend.sightline.redaction import redact

from . import leases
from .retention import apply_retention
from .segmenter import CameraWorker, FinishedSegment, RecorderSettings

log = logging.getLogger(__name__)

_STOP = object()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Supervisor:
    def __init__(self, owner: str | None = None, settings: RecorderSettings | None = None,
                 work_dir: Path | None = None) -> None:
        self.owner = owner or default_owner()
        self.settings = settings or RecorderSettings()
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="sightline-recorder-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.workers: dict[int, CameraWorker] = {}
        #: Every camera id this supervisor ever started a worker for, in order (tests and logs read it).
        self.history: list[int] = []
        self._segments: queue.Queue[object] = queue.Queue()
        self._stop_event = threading.Event()
        self._registrar = threading.Thread(target=self._register_loop, name=f"registrar-{self.owner}",
                                           daemon=True)
        self._thread: threading.Thread | None = None
        self._last_retention = 0.0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Supervisor:
        """Run in a background thread (tests, benchmark); the command calls :meth:`run` instead."""
        self._thread = threading.Thread(target=self.run, name=f"supervisor-{self.owner}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Claim, renew and supervise until :meth:`request_stop`; then shut down cleanly."""
        self._registrar.start()
        try:
            while not self._stop_event.is_set():
                try:
                    self.tick()
                except Exception:
                    # A database hiccup must not end the process.
                    log.error("recorder %s: supervision failed: %s", self.owner,
                              redact(traceback.format_exc()))
                    close_old_connections()
                self._stop_event.wait(self.settings.poll_s)
        finally:
            self._shutdown(release=True)

    def request_stop(self) -> None:
        self._stop_event.set()

    def stop(self, timeout: float = 60.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def abandon(self) -> None:
        """Stop recording WITHOUT releasing the leases: what a crashed process leaves behind (tests)."""
        self._abandon = True
        self.stop()

    _abandon = False

    # -- supervision --------------------------------------------------------------------------------------

    def tick(self) -> None:
        ttl = timedelta(seconds=self.settings.lease_ttl_s)
        for camera_id, worker in list(self.workers.items()):
            if not worker.is_alive():
                # The worker returned (camera disabled or deleted): give the camera back.
                del self.workers[camera_id]
                leases.release(self.owner, [camera_id])
        held = leases.renew(self.owner, self.workers, ttl)
        for camera_id in set(self.workers) - held:
            log.warning("recorder %s: lost the lease of camera %s (disabled or taken over); stopping it",
                        self.owner, camera_id)
            self.workers.pop(camera_id).stop()
        Camera.objects.filter(enabled=False).exclude(state=Camera.State.DISABLED).update(
            state=Camera.State.DISABLED)
        for camera_id in leases.claimable(self.owner):
            if self.settings.max_cameras is not None and len(self.workers) >= self.settings.max_cameras:
                break
            if camera_id in self.workers or not leases.claim(camera_id, self.owner, ttl):
                continue
            worker = CameraWorker(camera_id, owner=self.owner, settings=self.settings,
                                  sink=self._segments.put, work_dir=self.work_dir)
            self.workers[camera_id] = worker
            self.history.append(camera_id)
            log.info("recorder %s: recording camera %s", self.owner, camera_id)
            worker.start()
        if time.monotonic() - self._last_retention >= self.settings.retention_every_s:
            self._last_retention = time.monotonic()
            removed = apply_retention()
            if removed:
                log.info("recorder %s: retention removed %d recordings", self.owner, removed)

    def _shutdown(self, *, release: bool) -> None:
        release = release and not self._abandon
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            # A worker notices the stop at its next packet, or after read_timeout_s at worst.
            worker.join(self.settings.read_timeout_s + self.settings.open_timeout_s + 5)
        self._segments.put(_STOP)
        if self._registrar.is_alive():
            self._registrar.join()
        if release and self.workers:
            ids = list(self.workers)
            Camera.objects.filter(pk__in=ids, lease_owner=self.owner).exclude(
                state=Camera.State.DISABLED).update(state=Camera.State.OFFLINE)
            leases.release(self.owner, ids)
        self.workers.clear()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        connection.close()

    # -- registration -------------------------------------------------------------------------------------

    def _register_loop(self) -> None:
        try:
            while True:
                item = self._segments.get()
                if item is _STOP:
                    return
                assert isinstance(item, FinishedSegment)
                try:
                    close_old_connections()
                    self.register(item)
                except Exception:
                    # One bad segment must not stop the others.
                    log.error("camera %s: registering a segment failed: %s", item.camera_id,
                              redact(traceback.format_exc()))
                finally:
                    item.path.unlink(missing_ok=True)
        finally:
            connection.close()

    def register(self, segment: FinishedSegment) -> Clip | None:
        """Store and probe ``segment``, register it as a recording (its analysis queued on commit)."""
        camera = Camera.objects.filter(pk=segment.camera_id).first()
        if camera is None:
            return None
        try:
            with segment.path.open("rb") as handle:
                stored = store_upload(handle, camera, original_name="segment.mp4", limit=False)
        except UploadRejected as exc:
            log.warning("camera %s: dropping an unreadable segment: %s", segment.camera_id, redact(str(exc)))
            return None
        clip, _ = register_stored(stored, camera=camera, started_at=segment.started_at,
                                  original_name=f"recording {segment.started_at:%Y-%m-%d %H:%M:%S}",
                                  source=Clip.Source.RECORDING, queue=self.settings.queue_analysis)
        return clip
