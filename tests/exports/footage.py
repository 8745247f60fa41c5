"""Stored clips for export and playback tests: real H.264 footage registered as a camera's clips, with
detections appended as analysis would (so tests choose exactly what is masked)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import av
from django.core.files.storage import default_storage

from analysis.decode import probe
from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.clips.services import register_clip, storage_name_for, video_limits
from backend.eventlog.log import EventLog
from tests.factories import detection


def stored_clip(camera: Camera, source: Path, started_at: datetime, *, status: str = Clip.Status.DONE,
                privacy_labels: tuple[str, ...] = ("face",)) -> Clip:
    """``source`` copied into media storage as a clip of ``camera`` starting at ``started_at``."""
    name = storage_name_for(camera, source.suffix)
    target = Path(default_storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    clip = register_clip(camera=camera, stored_name=name, info=probe(target, video_limits()), started_at=started_at,
                         source=Clip.Source.RECORDING, queue=False)
    Clip.objects.filter(pk=clip.pk).update(status=status, privacy_labels=list(privacy_labels))
    clip.refresh_from_db()
    return clip


def track(clip: Clip, track_id: int, label: str, box: tuple[float, float, float, float], *, every_ms: int = 500,
          until_ms: int | None = None, confidence: float = 0.9, ordinal: int = 0) -> None:
    """A track of ``label`` standing at ``box`` through the clip, detected every ``every_ms``."""
    end = until_ms if until_ms is not None else int((clip.duration_s or 0) * 1000)
    model = "centerface" if label == "face" else "test-model"
    EventLog.append([detection(clip.pk, clip.camera_id, track_id, t, confidence, label=label, box=box,
                               start=clip.started_at, model=model, ordinal=ordinal)
                     for t in range(0, end, every_ms)])


def decoded(data: bytes | Path, tmp: Path) -> list[tuple[float, bool]]:
    """(pts seconds, key frame) of every frame of an MP4."""
    path = data if isinstance(data, Path) else tmp / "received.mp4"
    if not isinstance(data, Path):
        path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(float(frame.time), frame.key_frame) for frame in container.decode(stream)]


def frame_at(path: Path, index: int):  # type: ignore[no-untyped-def]
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise IndexError(index)


def seconds(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)
