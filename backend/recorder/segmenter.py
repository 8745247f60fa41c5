"""One camera: connect, remux its stream into N-second MP4 segments, reconnect when it breaks.

A :class:`CameraWorker` is a thread that owns one camera's connection. It remuxes (never re-encodes: the
cost is a copy of the compressed packets) into fragmented MP4 segments cut at key frames, written to the
camera's folder of a durable spool (``spool_dir``), and hands each finished segment to a sink (the
supervisor's registrar), so that probing, storage and the database never hold up the
stream. A connection that fails, ends, or sends no packet for ``read_timeout_s`` is closed (its current
segment kept) and retried with jittered exponential backoff; every retry counts against a restart budget.
The camera's state, ``camera.online`` / ``camera.offline`` and ``camera.gap`` events are written here.
While someone watches the camera live, a copy of each video packet also goes to its live taps
(:mod:`backend.recorder.live`: bounded queues, never waited on), so a live view needs no second connection.

Never log, store or raise the stream URL: it carries the password. FFmpeg quotes it in its errors, so every
message passes through :func:`backend.sightline.redaction.redact` first, and no traceback of a PyAV error
is logged (``exc_info`` would carry the unredacted message to handlers without the redaction filter).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.error
from django.db import DatabaseError, close_old_connections, connection

from backend.cameras.addresses import pinned_url
from backend.cameras.models import Camera
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.sightline.logs import bind_log_context
from backend.sightline.redaction import redact

from .live import LiveTaps
from .probe import describe_error, rtsp_options

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    segment_seconds: float = 10.0
    open_timeout_s: float = 10.0
    #: A stream that sends no packet for this long is taken for stalled and restarted.
    read_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_cap_s: float = 60.0
    #: At most this many restarts per ``budget_window_s``; past it the camera rests ``cooldown_s``.
    restart_budget: int = 30
    budget_window_s: float = 600.0
    cooldown_s: float = 300.0
    lease_ttl_s: float = 30.0
    poll_s: float = 5.0
    max_cameras: int | None = None
    queue_analysis: bool = True
    retention_every_s: float = 3600.0
    #: How often the camera's ``last_seen_at`` is written while it streams (a write per packet would cost).
    seen_every_s: float = 5.0


@dataclass(frozen=True, slots=True)
class FinishedSegment:
    camera_id: int
    path: Path
    started_at: datetime
    duration_s: float
    packets: int


SegmentSink = Callable[[FinishedSegment], None]


class StreamEnded(Exception):
    """The camera closed the stream (EOF) without an error."""


#: Fragmented MP4: a fragment per key frame, each complete on disk as soon as it is written, so a segment
#: cut short by a crash plays up to its last fragment; the index (``mfra``) written at close makes the
#: finished file seekable in browsers.
FRAGMENTED_MP4 = {"movflags": "+frag_keyframe+empty_moov+default_base_moof"}


def segment_name(started_at: datetime) -> str:
    """A spooled segment's file name: its start (epoch ms, so a rescan after a crash knows it) and a uuid."""
    return f"{int(started_at.timestamp() * 1000)}-{uuid.uuid4().hex}.mp4"


def segment_start(path: Path) -> datetime | None:
    """The start time in a spooled segment's name, or ``None`` for a file that is not one."""
    head = path.stem.split("-", 1)[0]
    if not head.isdigit() or path.suffix != ".mp4":
        return None
    return datetime.fromtimestamp(int(head) / 1000, tz=UTC)


class SegmentWriter:
    """One MP4 file being written: packets of one video stream, timestamps rebased to start at zero."""

    def __init__(self, template: av.video.stream.VideoStream, directory: Path, camera_id: int,
                 started_at: datetime, first_dts: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / segment_name(started_at)
        self.camera_id, self.started_at, self.first_dts = camera_id, started_at, first_dts
        self.time_base: Fraction = template.time_base or Fraction(1, 90000)
        self.container = av.open(str(self.path), "w", format="mp4", options=dict(FRAGMENTED_MP4))
        # The start in the file's own header: a camera whose picture repeats exactly (a frozen encoder, a
        # looped stream) would otherwise make byte-identical segments, which registration takes for the same
        # footage registered twice (SHA-256) and drops. The same file registered again still matches.
        self.container.metadata["creation_time"] = started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.stream = self.container.add_stream_from_template(template)
        self.packets = 0
        self.last_dts = first_dts
        self.last_duration = 0

    def elapsed_s(self, dts: int) -> float:
        return float((dts - self.first_dts) * self.time_base)

    def mux(self, packet: av.Packet) -> None:
        assert packet.dts is not None and packet.pts is not None
        dts, duration = packet.dts, packet.duration or 0
        packet.dts = dts - self.first_dts
        packet.pts = packet.pts - self.first_dts
        packet.stream = self.stream
        self.container.mux(packet)
        self.packets += 1
        self.last_dts, self.last_duration = dts, duration

    def close(self) -> FinishedSegment:
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("camera %s: closing segment %s failed: %s", self.camera_id, self.path.name,
                        redact(str(exc)))
        duration = float((self.last_dts - self.first_dts + self.last_duration) * self.time_base)
        return FinishedSegment(self.camera_id, self.path, self.started_at, duration, self.packets)


def spool_dir(root: Path, camera_id: int) -> Path:
    """The camera's spool folder: its segments until they are registered (only its lease holder writes)."""
    return root / str(camera_id)


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random = random._inst) -> float:  # type: ignore[attr-defined]
    """Exponential backoff with "equal jitter": between half and all of ``min(cap, initial * 2**attempt)``.

    Jitter spreads the reconnections of many cameras behind one failed switch over time.
    """
    ceiling = min(cap, initial * (2 ** min(attempt, 30)))
    return ceiling / 2 + rng.random() * ceiling / 2


class CameraWorker(threading.Thread):
    """Records one camera until :meth:`stop` is called; never raises out of :meth:`run`."""

    def __init__(self, camera_id: int, *, owner: str, settings: RecorderSettings, sink: SegmentSink,
                 work_dir: Path) -> None:
        super().__init__(name=f"camera-{camera_id}", daemon=True)
        self.camera_id, self.owner, self.settings, self.sink = camera_id, owner, settings, sink
        self.work_dir = work_dir
        self._stop_event = threading.Event()
        #: Connections opened (successful ones); tests and the admin read it.
        self.connections = 0
        self.restarts = 0
        self.last_error = ""
        self._online: bool | None = None
        #: Wall-clock end of the last video written before an outage; the gap's start.
        self._outage_from: datetime | None = None
        self._last_media_time: datetime | None = None
        self._last_seen_write = 0.0
        #: Camera events not yet in the log (the database was away); appended again, idempotent by key.
        self._pending_events: list[NewEvent] = []
        self._database_away = False
        #: Live views of this camera, made from this connection while someone watches (``backend.recorder.live``).
        self.live = LiveTaps(camera_id)

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    # -- the thread ---------------------------------------------------------------------------------------

    def run(self) -> None:
        bind_log_context(camera_id=self.camera_id)  # on every record of this thread
        try:
            self._loop()
        except BaseException:
            # A camera thread must never take the process down.
            log.error("camera %s: recorder thread failed: %s", self.camera_id, redact(traceback.format_exc()))
        finally:
            self.live.shutdown()
            connection.close()

    def _loop(self) -> None:
        attempt = 0
        restarts: deque[float] = deque()
        while not self.stopping:
            close_old_connections()
            try:
                camera = Camera.objects.filter(pk=self.camera_id).first()
            except DatabaseError as exc:
                self._lost_database(exc)
                self._stop_event.wait(self.settings.backoff_cap_s)
                continue
            if camera is None or not camera.enabled or not camera.stream_address:
                return
            error: BaseException | None = None
            try:
                got_video = self._record_once(camera)
                if got_video:
                    attempt = 0
            except (av.error.FFmpegError, OSError, ValueError, StreamEnded) as exc:
                error = exc
            if self.stopping:
                return
            reason = describe_error(error) if error else "the stream sent no video"
            self._went_offline(reason, auth=isinstance(error, av.error.HTTPUnauthorizedError))
            now = time.monotonic()
            restarts.append(now)
            while restarts and restarts[0] < now - self.settings.budget_window_s:
                restarts.popleft()
            self.restarts += 1
            if len(restarts) > self.settings.restart_budget:
                # A camera that fails over and over rests, so it costs neither CPU nor log volume.
                log.warning("camera %s: restart budget spent (%d in %.0f s); resting %.0f s", self.camera_id,
                            len(restarts), self.settings.budget_window_s, self.settings.cooldown_s)
                restarts.clear()
                self._stop_event.wait(self.settings.cooldown_s)
                continue
            delay = backoff_delay(attempt, self.settings.backoff_initial_s, self.settings.backoff_cap_s)
            attempt += 1
            self._stop_event.wait(delay)

    def _record_once(self, camera: Camera) -> bool:
        """One connection: record until it breaks (raises) or :meth:`stop`; True when video came."""
        s = self.settings
        opened_at = datetime.now(UTC)
        # Vetted again at every connection (DNS rebinding), and reached at the vetted IP.
        container = av.open(pinned_url(camera.stream_url()), options=rtsp_options(s.open_timeout_s),
                            timeout=(s.open_timeout_s, s.read_timeout_s), metadata_errors="ignore")
        writer: SegmentWriter | None = None
        got_video = False
        try:
            if not container.streams.video:
                raise StreamEnded("the stream has no video track")
            stream = container.streams.video[0]
            time_base = stream.time_base or Fraction(1, 90000)
            anchor_pts: int | None = None
            self.live.attach(stream)
            for packet in container.demux(stream):
                if self.stopping:
                    break
                if packet.dts is None or packet.pts is None:
                    continue  # an empty flush packet
                # A copy for the live taps (never blocks), before the segment writer rebases the timestamps.
                self.live.offer(packet)
                if anchor_pts is None:
                    # Wall-clock time of the first packet: PLAY was sent moments before av.open returned
                    # (it then probed the buffered packets), so the open time is the closer estimate.
                    anchor_pts = packet.pts
                    self.connections += 1
                    self._came_online(opened_at)
                    got_video = True
                media_time = opened_at + timedelta(seconds=float((packet.pts - anchor_pts) * time_base))
                if packet.is_keyframe and (writer is None
                                           or writer.elapsed_s(packet.dts) >= s.segment_seconds):
                    if writer is not None:
                        self._finish(writer)
                    writer = SegmentWriter(stream, spool_dir(self.work_dir, self.camera_id), self.camera_id,
                                           media_time, packet.dts)
                if writer is None:
                    continue  # nothing can be decoded before the first key frame
                try:
                    writer.mux(packet)
                except (av.error.FFmpegError, ValueError) as exc:
                    # E.g. timestamps that jump back (camera clock reset): keep what we have, restart at
                    # the next key frame.
                    log.warning("camera %s: packet refused by the muxer (%s); new segment at next key frame",
                                self.camera_id, redact(str(exc)))
                    self._finish(writer)
                    writer = None
                    continue
                self._last_media_time = media_time
                self._seen()
            else:
                raise StreamEnded("the camera ended the stream")
        finally:
            self.live.detach()
            if writer is not None:
                self._finish(writer)
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()
        return got_video

    # -- segments, state and events -----------------------------------------------------------------------

    def _finish(self, writer: SegmentWriter) -> None:
        segment = writer.close()
        if segment.packets == 0:
            segment.path.unlink(missing_ok=True)
            return
        try:
            self.sink(segment)
        except Exception:
            # The sink's failure must not stop the stream.
            log.error("camera %s: segment hand-off failed: %s", self.camera_id,
                      redact(traceback.format_exc()))

    # The database may go away while a camera records: recording goes on (segments wait in the spool for
    # the registrar), state writes are best effort (the next one says it again) and camera events wait here
    # until they can be appended.

    def _lost_database(self, exc: DatabaseError) -> None:
        if not self._database_away:
            log.warning("camera %s: the database is unavailable (%s); recording goes on, segments wait in the "
                        "spool", self.camera_id, redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__)
        self._database_away = True
        with contextlib.suppress(DatabaseError):
            connection.close()  # the next query reconnects

    def _write_state(self, **fields: object) -> bool:
        try:
            Camera.objects.filter(pk=self.camera_id).update(**fields)
        except DatabaseError as exc:
            self._lost_database(exc)
            return False
        if self._database_away:
            self._database_away = False
            log.info("camera %s: the database is back", self.camera_id)
        return True

    def _log_events(self, events: list[NewEvent]) -> None:
        self._pending_events.extend(events)
        if not self._pending_events:
            return
        try:
            EventLog.append(self._pending_events)
        except DatabaseError as exc:
            self._lost_database(exc)
        else:
            self._pending_events.clear()

    def _seen(self) -> None:
        now = time.monotonic()
        if now - self._last_seen_write >= self.settings.seen_every_s:
            self._last_seen_write = now
            if self._write_state(last_seen_at=datetime.now(UTC)):
                self._log_events([])

    def _came_online(self, at: datetime) -> None:
        self._write_state(state=Camera.State.RECORDING, last_seen_at=at, last_error="")
        self._last_seen_write = time.monotonic()
        self.last_error = ""
        events = []
        if self._online is not True:
            events.append(NewEvent(key=f"camera.online:{self.camera_id}:{at.isoformat()}",
                                   type=EventType.CAMERA_ONLINE, time=at, camera_id=self.camera_id,
                                   data={"recorder": self.owner}))
        if self._outage_from is not None:
            start = self._outage_from
            events.append(NewEvent(
                key=f"camera.gap:{self.camera_id}:{start.isoformat()}", type=EventType.RECORDING_GAP,
                time=start, camera_id=self.camera_id,
                data={"start": start.isoformat(), "end": at.isoformat(),
                      "seconds": round((at - start).total_seconds(), 3)},
            ))
            self._outage_from = None
        self._online = True
        self._log_events(events)
        log.info("camera %s: recording", self.camera_id)

    def _went_offline(self, reason: str, *, auth: bool) -> None:
        reason = redact(reason)
        now = datetime.now(UTC)
        if self._outage_from is None and self._last_media_time is not None:
            self._outage_from = self._last_media_time
        # Wrong credentials will not fix themselves: "offline" says a person must act; other failures are
        # being retried.
        state = Camera.State.OFFLINE if auth or self._online is None else Camera.State.RECONNECTING
        self._write_state(state=state, last_error=reason[:2000])
        if reason != self.last_error:
            log.warning("camera %s: %s", self.camera_id, reason)
        self.last_error = reason
        if self._online is not False:
            self._log_events([NewEvent(key=f"camera.offline:{self.camera_id}:{now.isoformat()}",
                                       type=EventType.CAMERA_OFFLINE, time=now, camera_id=self.camera_id,
                                       data={"reason": reason[:500], "recorder": self.owner})])
        self._online = False
