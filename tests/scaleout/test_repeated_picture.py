"""Found by the scale-out run (its cameras loop 8 s of footage): segments whose packets repeat exactly must
still be different files, or registration (one clip per SHA-256 and camera) drops every repeat."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import av

from analysis.transcode import transcode_to_h264
from backend.recorder.segmenter import SegmentWriter


def test_the_same_packets_at_another_time_make_another_file(vtest_path, tmp_path):
    source = transcode_to_h264(vtest_path, tmp_path / "two-seconds.mp4", max_seconds=2, gop=10)
    digests = []
    for n, started_at in enumerate((datetime(2026, 12, 4, 8, tzinfo=UTC),
                                    datetime(2026, 12, 4, 8, tzinfo=UTC) + timedelta(seconds=8))):
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            writer: SegmentWriter | None = None
            for packet in container.demux(stream):
                if packet.dts is None:
                    continue
                if writer is None:
                    writer = SegmentWriter(stream, tmp_path / str(n), 1, started_at, packet.dts)
                writer.mux(packet)
            assert writer is not None
            segment = writer.close()
        assert segment.packets > 0
        digests.append(hashlib.sha256(segment.path.read_bytes()).hexdigest())
        with av.open(str(segment.path)) as written:
            assert written.metadata.get("creation_time", "").startswith(started_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert digests[0] != digests[1]
