"""Files of the evaluation: detector dumps (see :mod:`analysis.eval.dump`) and MOTChallenge boxes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

GROUND_TRUTH = Path(__file__).parent / "groundtruth"


def load_dump(path: Path) -> dict:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def write_mot(path: Path, rows: Iterable[tuple[int, int, list[float]]], *, size: tuple[int, int]) -> None:
    """``(frame 0-based, id, normalised box)`` rows as MOTChallenge ``gt.txt`` lines (1-based frames, pixels)."""
    w, h = size
    lines = []
    for frame, pid, (x1, y1, x2, y2) in rows:
        lines.append(f"{frame + 1},{pid},{x1 * w:.1f},{y1 * h:.1f},{(x2 - x1) * w:.1f},{(y2 - y1) * h:.1f},1,1,1")
    path.write_text("\n".join(lines) + "\n")


def read_mot(path: Path, *, size: tuple[int, int], min_visibility: float = 0.0) -> list[tuple[int, int, list[float]]]:
    """MOTChallenge lines back to ``(frame 0-based, id, normalised box)``; rows less visible than asked are left
    out (the 9th column, when present)."""
    w, h = size
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        cols = line.split(",")
        if len(cols) > 8 and float(cols[8]) < min_visibility:
            continue
        frame, pid = int(cols[0]) - 1, int(cols[1])
        x, y, bw, bh = (float(v) for v in cols[2:6])
        rows.append((frame, pid, [x / w, y / h, (x + bw) / w, (y + bh) / h]))
    return rows
