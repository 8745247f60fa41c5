"""Re-encoding video to H.264 in MP4 with PyAV, for footage that browsers cannot play (e.g. MS-MPEG4).

Recorded camera segments are remuxed, never re-encoded; this is for imported footage and test material.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def transcode_to_h264(src: str | Path, dst: str | Path, *, max_seconds: float | None = None,
                      start_seconds: float = 0.0, gop: int | None = None) -> Path:
    """Write ``src``'s first video stream to ``dst`` as H.264 (yuv420p, faststart).

    ``start_seconds`` and ``max_seconds`` cut a part out (by frame count at the stream's average rate).
    """
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        in_stream = inp.streams.video[0]
        in_stream.thread_type = "AUTO"
        rate = in_stream.average_rate or Fraction(25, 1)
        stream = out.add_stream("libx264", rate=rate)
        stream.width = in_stream.codec_context.width
        stream.height = in_stream.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        if gop:
            stream.codec_context.gop_size = gop
        first = round(start_seconds * float(rate))
        for index, frame in enumerate(inp.decode(in_stream)):
            if index < first:
                continue
            if max_seconds is not None and (index - first) / float(rate) >= max_seconds:
                break
            frame.pts = None
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst
