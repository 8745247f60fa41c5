"""A fragmented MP4 cut at any byte plays to its last complete fragment once its torn tail is dropped."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from backend.recorder.mp4 import drop_torn_tail
from backend.recorder.segmenter import FRAGMENTED_MP4


def _fragmented(path: Path, frames: int = 40, gop: int = 10) -> None:
    with av.open(str(path), "w", format="mp4", options=dict(FRAGMENTED_MP4)) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop)}
        for i in range(frames):
            pixels = np.random.default_rng(i).integers(0, 255, (64, 96, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode(None))


def _decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_every_cut_plays_after_repair(tmp_path):
    whole = tmp_path / "whole.mp4"
    _fragmented(whole)
    data = whole.read_bytes()
    assert drop_torn_tail(whole) == 0 and _decoded(whole) == 40
    seen: list[int] = []
    unplayable = 0
    for cut in range(200, len(data), max(1, len(data) // 60)):
        torn = tmp_path / "torn.mp4"
        torn.write_bytes(data[:cut])
        try:
            _decoded(torn)
        except IndexError:
            pass  # cut inside the header: no stream yet
        except av.error.FFmpegError:
            unplayable += 1  # a torn fragment  # what a crash leaves, before the repair
        drop_torn_tail(torn)
        if torn.stat().st_size == 0:
            continue
        seen.append(_decoded(torn))  # raises if a torn fragment were left
    assert seen == sorted(seen) and seen[-1] <= 40, "the longer the cut file, the more of it plays"
    assert len(set(seen)) >= 3 and seen[-1] > 0
    assert unplayable > 0, "some cuts tear a fragment so that decoding fails without the repair"
