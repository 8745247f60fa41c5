"""Probing untrusted uploads in a child process with memory, CPU-time and wall-clock limits.

A hostile file can make a decoder allocate gigabytes (a pixel bomb) or spin; neither may happen in a web
process. :func:`probe_isolated` runs :func:`analysis.decode.probe` (container and codec allow-lists, size
and duration caps read from the headers before anything is decoded) in ``python -m analysis.probe_sandbox``
under ``RLIMIT_AS`` and ``RLIMIT_CPU``, with an environment holding nothing but ``PATH`` (no secret reaches
it), and reads its answer as one line of JSON. A child that dies, runs out of memory or time gives
:class:`~analysis.decode.UnreadableVideo` with a reason.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .decode import UnreadableVideo, VideoInfo, VideoLimits, probe

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    memory_bytes: int = 1024**3
    cpu_s: int = 20
    wall_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    info: VideoInfo
    #: The child's peak resident memory (bytes), as it reported it.
    peak_rss_bytes: int


def _limit(limits: SandboxLimits) -> None:
    """In the child, before the file is opened (not a ``preexec_fn``: the parent may be threaded)."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def probe_isolated(path: str | Path, video: VideoLimits, sandbox: SandboxLimits | None = None, *,
                   images: bool = False) -> ProbeResult:
    """:func:`analysis.decode.probe` of ``path`` in a limited child process; raises :class:`UnreadableVideo`.

    ``images``: a single JPEG, PNG or WebP picture is accepted too (``probe(..., images=True)``)."""
    sandbox = sandbox or SandboxLimits()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "analysis.probe_sandbox", str(path), json.dumps(asdict(video)),
               json.dumps(asdict(sandbox)), *(["images"] if images else [])]
    try:
        # Not a shell, fixed arguments; the path is one argv element.
        child = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise UnreadableVideo(f"the video could not be checked ({exc.strerror})") from None
    try:
        out, _ = child.communicate(timeout=sandbox.wall_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise UnreadableVideo(f"checking the video took longer than {sandbox.wall_s:.0f} s") from None
    try:
        answer = json.loads(out.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if child.returncode == 0 and isinstance(answer, dict) and "info" in answer:
        return ProbeResult(VideoInfo(**answer["info"]), int(answer.get("peak_rss_bytes", 0)))
    if isinstance(answer, dict) and "error" in answer:
        raise UnreadableVideo(str(answer["error"]))
    if child.returncode in (-9, -24):  # SIGKILL, SIGXCPU
        raise UnreadableVideo("checking the video needed more time than allowed")
    raise UnreadableVideo("the video could not be checked within the memory allowed")


def _main(argv: list[str]) -> int:
    path, limits = argv[0], VideoLimits(**json.loads(argv[1]))
    images = argv[3:4] == ["images"]
    _limit(SandboxLimits(**json.loads(argv[2])))
    try:
        info = probe(path, limits, images=images)
    except UnreadableVideo as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    except MemoryError:
        print(json.dumps({"error": "the video needs more memory to decode than allowed"}))
        return 3
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"info": asdict(info), "peak_rss_bytes": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
