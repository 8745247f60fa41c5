"""An export's manifest: what the file is, where it came from and who made it, with the file's SHA-256.

It is stored with the export, served beside it (``/api/v1/exports/{id}/manifest/``) and logged in the
``export.completed`` event, so the log keeps it after the file itself is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.clips.models import Clip

from .models import Export

FORMAT = "sightline.export/1"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def build_manifest(export: Export, clips: list[Clip], report: Any, sha256: str, size: int,
                   made_at: datetime) -> dict[str, Any]:
    used = set(report.sources)
    return {
        "format": FORMAT,
        "export": export.pk,
        "job": str(export.job_id),
        "camera": {"id": export.camera_id, "name": export.camera.name, "site": export.camera.site},
        "requested": {"start": export.start.isoformat(), "end": export.end.isoformat()},
        "footage": {"first_frame": _iso(report.first_ms), "last_frame": _iso(report.last_ms),
                    "frames": report.frames, "duration_s": round(report.duration_s, 3),
                    "width": report.width, "height": report.height},
        "sources": [{"clip": c.pk, "source": c.source, "started_at": c.started_at.isoformat(),
                     "duration_s": c.duration_s, "codec": c.codec, "sha256": c.content_sha256 or None}
                    for c in clips if c.pk in used],
        "sighting": export.sighting_id,
        "masking": export.masking,
        "burn_boxes": export.burn_boxes,
        "render": report.mode,
        "case": export.case_id,
        "made_by": export.created_by.get_username() if export.created_by else None,
        "made_at": made_at.isoformat(),
        "file": {"sha256": sha256, "bytes": size, "type": "video/mp4"},
    }
