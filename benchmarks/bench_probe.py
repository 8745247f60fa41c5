"""The upload probe's peak memory on a pixel bomb, before and after the sandboxed probe.

A 16000×16000 grayscale PNG (under 1 MB on disk, 256 MB decoded; the RGB conversion PyAV's probe made
before took far more) is probed three ways, each in a fresh Python process whose peak resident memory
(``ru_maxrss``) is read at its end:

- **before**: what the web process did until this change, ``av.open`` with every demuxer and the first
  frame decoded in-process;
- **after, web process**: the web process calling :func:`analysis.probe_sandbox.probe_isolated` (the
  probe runs in a limited child; the PNG demuxer is not allowed there, so nothing is decoded);
- **after, probe child**: the child's own peak as it reports it, for a real 768×576 clip (what an
  accepted upload costs).

Usage: python -m benchmarks.bench_probe
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._django import machine

REPO = Path(__file__).resolve().parents[1]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")

BEFORE = """
import resource, sys, av
with av.open(sys.argv[1]) as c:
    frame = next(c.decode(c.streams.video[0]))
    frame.to_ndarray(format="rgb24")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
AFTER = """
import resource, sys
from analysis.decode import UnreadableVideo, VideoLimits
from analysis.probe_sandbox import probe_isolated
try:
    result = probe_isolated(sys.argv[1], VideoLimits())
    child = result.peak_rss_bytes // 1024
except UnreadableVideo as exc:
    child = -1
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, child)
"""


def run(code: str, path: Path) -> list[int]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=300).stdout.split()
    return [int(v) for v in out]


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.security.corpus import _png

    folder = Path(tempfile.mkdtemp(prefix="sightline-bench-probe-"))
    bomb = folder / "bomb.png"
    bomb.write_bytes(_png(16000, 16000))
    from analysis.transcode import transcode_to_h264

    clip = transcode_to_h264(VTEST, folder / "clip.mp4", max_seconds=2)
    (before,) = run(BEFORE, bomb)
    web_bomb, _ = run(AFTER, bomb)
    web_clip, child_clip = run(AFTER, clip)
    mib = 1024
    print(f"Machine: {machine()}; pixel bomb: 16000x16000 PNG, {bomb.stat().st_size / 1024:.0f} KiB\n")
    print("| probe | peak resident memory |")
    print("|---|---|")
    print(f"| before: in-process `av.open` + first frame, pixel bomb | {before / mib:.0f} MiB |")
    print(f"| after: web process, pixel bomb (refused, nothing decoded) | {web_bomb / mib:.0f} MiB |")
    print(f"| after: web process, a real 768x576 clip | {web_clip / mib:.0f} MiB |")
    print(f"| after: the probe child, a real 768x576 clip | {child_clip / mib:.0f} MiB |")
    print(f"\nbefore ÷ after (web process, pixel bomb): {before / web_bomb:.1f}")


if __name__ == "__main__":
    main()
