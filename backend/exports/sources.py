"""Which stored clips hold a camera's footage for a time range, in order and without overlap."""

from __future__ import annotations

from datetime import datetime, timedelta

from backend.clips.models import Clip

#: Clips longer than this are not looked for further back than it (an upload is at most a day long).
_LONGEST = timedelta(days=1)


def clips_covering(camera_id: int, start: datetime, end: datetime) -> list[Clip]:
    """The camera's clips with a stored file that overlap ``[start, end]``, by start time.

    Where two overlap (an upload of footage the camera also recorded), the one that starts first is kept
    and the other dropped, so the footage's times only ever go forward.
    """
    candidates = (Clip.objects.filter(camera_id=camera_id, expired_at__isnull=True, started_at__lte=end,
                                      started_at__gte=start - _LONGEST)
                  .exclude(file="").order_by("started_at", "pk"))
    chosen: list[Clip] = []
    for clip in candidates:
        if clip.ends_at <= start:
            continue
        if chosen and clip.started_at < chosen[-1].ends_at - timedelta(milliseconds=500):
            continue
        chosen.append(clip)
    return chosen


def unfinished(clips: list[Clip]) -> list[Clip]:
    """The clips whose analysis has not ended: their masks are not known yet."""
    return [c for c in clips if c.status in (Clip.Status.QUEUED, Clip.Status.ANALYSING)]
