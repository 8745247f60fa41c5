"""The recorder process: claims cameras by lease, runs one :class:`CameraWorker` thread per camera.

Several supervisors (on one machine or many) share the cameras: each claims free or expired leases
(:mod:`backend.recorder.leases`), renews its own every ``poll_s`` and stops any camera whose lease it lost.
Finished segments go through one registrar thread that stores each file in media storage, probes it and
registers it as a clip, which queues its analysis (``backend.clips.services``, as for an upload), so the
database never holds up a stream.

Footage is never deleted because it could not be registered. Segments are written to a durable spool
(``DATA_DIR/spool/<camera>/``, fragmented MP4: playable up to a crash) and leave it only once registered
(or, when unreadable, moved to ``spool/rejected/``). A registration that fails (database or broker down) is
retried with backoff; a segment left by a crashed recorder is registered by whoever claims the camera next
(the spool is rescanned when a camera is claimed). Registering the same file twice gives one clip
(segments are recognised by SHA-256, like uploads).

Stopping (SIGTERM in ``run_recorder``) closes every camera's current segment, registers it, releases the
leases and returns. Never log a camera's stream URL: it carries the password.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import shutil
import socket
import threading
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings as django_settings
from django.db import close_old_connections, connection

from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.clips.retention import apply_retention
from backend.clips.services import AlreadyUploaded, UploadRejected, register_stored, store_upload
from backend.sightline.logs import log_context
from backend.sightline.redaction import redact

from . import leases
from .mp4 import drop_torn_tail
from .segmenter import (
    CameraWorker,
    FinishedSegment,
    RecorderSettings,
    backoff_delay,
    segment_start,
    spool_dir,
)

log = logging.getLogger(__name__)

_STOP = object()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Supervisor:
    def __init__(self, owner: str | None = None, settings: RecorderSettings | None = None,
                 work_dir: Path | None = None) -> None:
        self.owner = owner or default_owner()
        self.settings = settings or RecorderSettings()
        #: The durable spool: segments wait here until they are registered, across crashes and restarts.
        self.work_dir = work_dir or Path(django_settings.DATA_DIR) / "spool"
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
            self._recover(camera_id)
            worker = CameraWorker(camera_id, owner=self.owner, settings=self.settings,
                                  sink=self._segments.put, work_dir=self.work_dir)
            self.workers[camera_id] = worker
            self.history.append(camera_id)
            log.info("recorder %s: recording camera %s", self.owner, camera_id)
            worker.start()
        if time.monotonic() - self._last_retention >= self.settings.retention_every_s:
            self._last_retention = time.monotonic()
            report = apply_retention()
            if report.expired:
                log.info("recorder %s: retention expired %d clips (%d for the disk floor), %d bytes freed",
                         self.owner, report.expired, report.for_disk, report.bytes_freed)

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
        connection.close()

    # -- registration -------------------------------------------------------------------------------------

    def _recover(self, camera_id: int) -> None:
        """Queue the segments a crashed or stopped recorder left in this camera's spool (oldest first)."""
        folder = spool_dir(self.work_dir, camera_id)
        found = sorted(p for p in folder.glob("*.mp4") if segment_start(p) is not None) if folder.is_dir() else []
        for path in found:
            started_at = segment_start(path)
            assert started_at is not None
            dropped = drop_torn_tail(path)  # a crash tore its last fragment: keep what plays
            if dropped:
                log.info("camera %s: segment %s was cut short; dropped its torn last %d bytes", camera_id,
                         path.name, dropped)
            self._segments.put(FinishedSegment(camera_id, path, started_at, 0.0, 0))
        if found:
            log.info("recorder %s: %d segment(s) of camera %s left in the spool; registering them", self.owner,
                     len(found), camera_id)

    def _register_loop(self) -> None:
        retry: list[tuple[float, int, int, FinishedSegment]] = []  # (due, order, attempt, segment)
        order = 0
        try:
            while True:
                timeout = max(0.0, retry[0][0] - time.monotonic()) if retry else None
                try:
                    item = self._segments.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    for _, _, attempt, segment in sorted(retry):
                        self._try_register(segment, attempt)  # a last try; what fails stays in the spool
                    return
                due: list[tuple[int, FinishedSegment]] = []
                if item is not None:
                    assert isinstance(item, FinishedSegment)
                    due.append((0, item))
                while retry and retry[0][0] <= time.monotonic():
                    _, _, attempt, segment = heapq.heappop(retry)
                    due.append((attempt, segment))
                for attempt, segment in due:
                    if not self._try_register(segment, attempt):
                        order += 1
                        delay = backoff_delay(attempt, 1.0, self.settings.backoff_cap_s)
                        heapq.heappush(retry, (time.monotonic() + delay, order, attempt + 1, segment))
        finally:
            connection.close()

    def _try_register(self, segment: FinishedSegment, attempt: int) -> bool:
        """Register one segment; False when it must be tried again later (its file stays in the spool)."""
        if not segment.path.exists():
            return True  # registered meanwhile (a rescan queued it twice)
        try:
            close_old_connections()
            with log_context(camera_id=segment.camera_id):
                self.register(segment)
        except Exception:
            log.error("camera %s: registering segment %s failed (attempt %d; kept in the spool, retried): %s",
                      segment.camera_id, segment.path.name, attempt + 1, redact(traceback.format_exc(limit=3)),
                      extra={"camera_id": segment.camera_id})
            return False
        return True

    def _reject(self, segment: FinishedSegment, reason: str) -> None:
        rejected = self.work_dir / "rejected"
        rejected.mkdir(exist_ok=True)
        shutil.move(segment.path, rejected / f"{segment.camera_id}-{segment.path.name}")
        log.warning("camera %s: segment %s set aside in %s: %s", segment.camera_id, segment.path.name,
                    rejected, redact(reason))

    def register(self, segment: FinishedSegment) -> Clip | None:
        """Store and probe ``segment``, register it as a recording (its analysis queued on commit), and take
        it out of the spool; raises (leaving it there) when the database or storage fails."""
        camera = Camera.objects.filter(pk=segment.camera_id).first()
        if camera is None:
            self._reject(segment, "its camera was deleted")
            return None
        try:
            with segment.path.open("rb") as handle:
                stored = store_upload(handle, camera, original_name="segment.mp4", limit=False)
        except AlreadyUploaded as exc:  # registered before a crash kept the spool file: the same clip
            clip = exc.clip
            log.info("camera %s: segment %s was registered before, as clip %s", segment.camera_id,
                     segment.path.name, clip.pk)
        except UploadRejected as exc:
            self._reject(segment, f"unreadable: {exc}")
            return None
        else:
            clip, _ = register_stored(stored, camera=camera, started_at=segment.started_at,
                                      original_name=f"recording {segment.started_at:%Y-%m-%d %H:%M:%S}",
                                      source=Clip.Source.RECORDING, queue=self.settings.queue_analysis)
        segment.path.unlink(missing_ok=True)
        return clip
