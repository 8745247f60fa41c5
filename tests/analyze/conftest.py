"""Real inputs for the synchronous analyse API: a frame of vtest.avi (a street with pedestrians) as JPEG, PNG
and WebP, a short H.264 clip of it, and clips generated with PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

#: A frame of vtest.avi with several pedestrians in view.
VTEST_FRAME = 150


@pytest.fixture(scope="session")
def vtest_frame(vtest_path):
    """The real frame as a PIL image (768×576)."""
    with av.open(str(vtest_path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == VTEST_FRAME:
                return frame.to_image()
    pytest.fail(f"{vtest_path} has fewer than {VTEST_FRAME + 1} frames")


@pytest.fixture(scope="session")
def vtest_images(vtest_frame) -> dict[str, bytes]:
    """The frame encoded as each accepted image format (Pillow)."""
    images = {}
    for name, fmt in (("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        out = io.BytesIO()
        vtest_frame.save(out, format=fmt, **({"quality": 90} if fmt != "PNG" else {}))
        images[name] = out.getvalue()
    return images


@pytest.fixture(scope="session")
def vtest_clip(vtest_path, tmp_path_factory) -> Path:
    """The first 3 seconds of vtest.avi as H.264 MP4."""
    from analysis.transcode import transcode_to_h264

    return transcode_to_h264(vtest_path, tmp_path_factory.mktemp("analyze") / "vtest-3s.mp4", max_seconds=3)


def generated_clip(seconds: float, *, fps: int = 5, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real H.264 MP4 of ``seconds`` of grey frames, written with PyAV."""
    width, height = size
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            picture = np.full((height, width, 3), (i * 7) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


@pytest.fixture
def queue_dir():
    """The embedded broker's queue folder, without earlier tests' messages (and without this test's after)."""
    from django.conf import settings

    folder = Path(settings.CELERY_BROKER_DIR) / "queue"

    def empty() -> None:
        for message in folder.glob("*.msg"):
            message.unlink()

    empty()
    yield folder
    empty()
