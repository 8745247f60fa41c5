"""Where a detection's thumbnail lives in media storage. Shared by the analysis (writer) and search (reader)."""

from __future__ import annotations


def thumbnail_name(clip_id: int, offset_ms: int, ordinal: int) -> str:
    """Storage name of the JPEG crop of detection ``ordinal`` in the frame at ``offset_ms`` of a clip."""
    return f"thumbnails/{clip_id}/{offset_ms:09d}-{ordinal:03d}.jpg"
