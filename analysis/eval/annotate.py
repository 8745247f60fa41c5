"""The tool that made the vtest.avi identity annotation: propose tracklets, show them, build the ground truth.

How the committed annotation (``groundtruth/vtest.identities`` → ``groundtruth/vtest.gt.txt``) was made:

1. ``propose``: the detector's person boxes (score ≥ 0.3) on *every* frame (10 fps, from ``dump``) are linked
   by a deliberately timid IoU tracker (IoU ≥ 0.5 with its constant-velocity prediction, 0.3 s of gap at most). At
   10 fps a pedestrian's box overlaps itself from one frame to the next, so tracklets rarely mix two people;
   they break instead, wherever the detector misses someone or two people meet.
2. ``sheets``: contact sheets, one row per tracklet (its id, first and last frame, eight crops across its
   life), looked at by eye.
3. ``groundtruth/vtest.identities``, written by hand from the sheets: which tracklets are one person, which
   tracklets must be cut where they switch from one person to another, and which are not people at all
   (doubled boxes, a part of a body, a bag).
4. ``build``: the ground truth in MOTChallenge format, every frame of every person, with gaps of up to
   2 s between a person's tracklets filled by linear interpolation of the box.

The ground truth therefore holds the people the detector finds at least now and then; someone it never finds
is missing from it (the evaluation measures tracking and confirmation, not the detector's recall).

    python -m analysis.eval.annotate propose DUMP.json.gz TRACKLETS.json
    python -m analysis.eval.annotate sheets VIDEO TRACKLETS.json OUTDIR
    python -m analysis.eval.annotate build TRACKLETS.json IDENTITIES GT.txt
    python -m analysis.eval.annotate check VIDEO GT.txt OUTDIR   (frames with the ground truth drawn)
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw
from scipy.optimize import linear_sum_assignment

from analysis.detectors.base import Detection

from .baseline import IoUTracker
from .formats import load_dump, write_mot

MAX_FILL_FRAMES = 20
#: Tracklets shorter than this (half a second) are not annotated: under 2 % of the person boxes.
MIN_FRAMES = 5


def propose(dump: dict, *, label: str = "person", min_score: float = 0.3) -> dict[int, list[list[float]]]:
    """Tracklets: id → rows ``[frame, x1, y1, x2, y2, score]`` (frame 0-based)."""
    tracker = IoUTracker(max_gap_ms=300, min_iou=0.5)
    out: dict[int, list[list[float]]] = {}
    for n, (offset_ms, rows) in enumerate(dump["frames"]):
        dets = [Detection(dump["labels"][r[0]], r[1], *r[2:6]) for r in rows
                if dump["labels"][r[0]] == label and r[1] >= min_score]
        for det, track in zip(dets, tracker.update(offset_ms, dets), strict=True):
            out.setdefault(track, []).append([n, det.x1, det.y1, det.x2, det.y2, det.confidence])
    return out


def _frames(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def _crop(frame: np.ndarray, box: list[float], size: tuple[int, int] = (48, 96)) -> Image.Image:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(box[0] * w), int(box[1] * h), int(box[2] * w) + 1, int(box[3] * h) + 1)
    return Image.fromarray(frame[max(y1, 0):y2, max(x1, 0):x2]).resize(size)


def sheets(video: Path, tracklets: dict[int, list[list[float]]], out_dir: Path, *, per_sheet: int = 10,
           min_frames: int = MIN_FRAMES, every: int = 8, per_row: int = 14) -> list[Path]:
    """PNG sheets: per tracklet, a crop every ``every`` frames (frame number under each), ``per_row`` a row."""
    frames = _frames(video)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = sorted(t for t, rows in tracklets.items() if len(rows) >= min_frames)
    paths = []
    for start in range(0, len(ids), per_sheet):
        blocks = []
        for tid in ids[start:start + per_sheet]:
            rows = tracklets[tid]
            picks = [r for k, r in enumerate(rows) if k % every == 0] + ([rows[-1]] if (len(rows) - 1) % every else [])
            n_rows = -(-len(picks) // per_row)
            block = Image.new("RGB", (70 + per_row * 42, n_rows * 96 + 4), "white")
            draw = ImageDraw.Draw(block)
            draw.text((2, 10), f"#{tid}\n{int(rows[0][0])}-\n{int(rows[-1][0])}", fill="black")
            for k, r in enumerate(picks):
                x, y = 70 + (k % per_row) * 42, (k // per_row) * 96 + 2
                block.paste(_crop(frames[int(r[0])], r[1:5], (40, 80)), (x, y))
                draw.text((x + 2, y + 81), str(int(r[0])), fill="black")
            blocks.append(block)
        sheet = Image.new("RGB", (blocks[0].width, sum(b.height + 6 for b in blocks)), (200, 200, 200))
        y = 0
        for block in blocks:
            sheet.paste(block, (0, y))
            y += block.height + 6
        path = out_dir / f"sheet-{start // per_sheet:02d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def propose_links(tracklets: dict[int, list[list[float]]], *, max_gap: int = 30,
                  min_frames: int = MIN_FRAMES) -> list[tuple[int, int, float]]:
    """Candidate ``(earlier, later, cost)`` links between tracklets, to be confirmed by eye.

    The later tracklet must start within ``max_gap`` frames after the earlier one ends (or overlap it by at
    most 3 frames); the cost is the distance between the earlier one's extrapolated centre and the later
    one's first centre, in box heights. One link per tracklet end and start (Hungarian), cost below 1.5.
    """
    ids = [t for t, rows in tracklets.items() if len(rows) >= min_frames]
    cost = np.full((len(ids), len(ids)), 1e6)
    for i, a in enumerate(ids):
        ra = np.array(tracklets[a])
        tail = ra[-6:]
        centre = (tail[:, 1:3] + tail[:, 3:5]) / 2
        velocity = (centre[-1] - centre[0]) / max(tail[-1, 0] - tail[0, 0], 1)
        height = float(np.mean(tail[:, 4] - tail[:, 2]))
        for j, b in enumerate(ids):
            rb = np.array(tracklets[b])
            gap = rb[0, 0] - ra[-1, 0]
            if a == b or not -3 <= gap <= max_gap:
                continue
            start = (rb[0, 1:3] + rb[0, 3:5]) / 2
            hb = rb[0, 4] - rb[0, 2]
            if max(hb / height, height / hb) > 1.6:
                continue
            predicted = centre[-1] + velocity * gap
            cost[i, j] = float(np.linalg.norm(predicted - start) / height) + 0.01 * max(gap, 0)
    rows, cols = linear_sum_assignment(cost)
    return sorted((ids[r], ids[c], round(float(cost[r, c]), 2)) for r, c in zip(rows, cols, strict=True)
                  if cost[r, c] < 1.5)


def link_sheets(video: Path, tracklets: dict[int, list[list[float]]], links: list[tuple[int, int, float]],
                out_dir: Path, *, per_sheet: int = 14) -> list[Path]:
    """Per candidate link a row: the earlier tracklet's last 3 crops, then the later one's first 3."""
    frames = _frames(video)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(links), per_sheet):
        chunk = links[start:start + per_sheet]
        sheet = Image.new("RGB", (130 + 7 * 42, 98 * len(chunk)), "white")
        draw = ImageDraw.Draw(sheet)
        for row, (a, b, c) in enumerate(chunk):
            y = row * 98
            draw.text((2, y + 20), f"{a} -> {b}\ncost {c}", fill="black")
            picks = [*tracklets[a][-3:], None, *tracklets[b][:3]]
            for k, r in enumerate(picks):
                if r is None:
                    continue
                x = 130 + k * 42
                sheet.paste(_crop(frames[int(r[0])], r[1:5], (40, 80)), (x, y + 2))
                draw.text((x + 2, y + 83), str(int(r[0])), fill="black")
        path = out_dir / f"links-{start // per_sheet:02d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


_LINE = re.compile(r"^(?P<name>[\w-]+)\s*:\s*(?P<items>.*)$")
_ITEM = re.compile(r"^(?P<id>\d+)(?:\[(?P<lo>\d*)-(?P<hi>\d*)\])?$")


def parse_identities(text: str) -> tuple[dict[str, list[tuple[int, int, int]]], set[int]]:
    """Persons → ``(tracklet, first frame, last frame)`` parts, and the tracklets that are no person.

    Lines ``NAME: 12 31[0-240] 40[241-]`` (a tracklet, or the part of it in a frame range); ``ignore: 4 9``;
    ``#`` starts a comment.
    """
    persons: dict[str, list[tuple[int, int, int]]] = {}
    ignored: set[int] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"cannot read identity line {raw!r}")
        parts = []
        for item in match["items"].split():
            m = _ITEM.match(item)
            if not m:
                raise ValueError(f"cannot read tracklet {item!r} in {raw!r}")
            parts.append((int(m["id"]), int(m["lo"] or 0), int(m["hi"] or 10**9)))
        if match["name"] == "ignore":
            ignored.update(p[0] for p in parts)
        else:
            persons.setdefault(match["name"], []).extend(parts)
    return persons, ignored


def build(tracklets: dict[int, list[list[float]]], identities: str) -> list[tuple[int, int, list[float]]]:
    """Ground-truth rows ``(frame, person number, [x1, y1, x2, y2])`` (0-based frame, normalised box)."""
    persons, ignored = parse_identities(identities)
    used = [tid for parts in persons.values() for tid, _, _ in parts]
    unknown = (set(used) | ignored) - set(tracklets)
    if unknown:
        raise ValueError(f"unknown tracklets in the identities: {sorted(unknown)}")
    out: list[tuple[int, int, list[float]]] = []
    for number, name in enumerate(sorted(persons), start=1):
        by_frame: dict[int, list[float]] = {}
        for tid, lo, hi in persons[name]:
            for r in tracklets[tid]:
                frame = int(r[0])
                if lo <= frame <= hi and (frame not in by_frame or r[5] > by_frame[frame][4]):
                    by_frame[frame] = [*r[1:5], r[5]]
        frames = sorted(by_frame)
        for a, b in itertools.pairwise(frames):
            if 1 < b - a <= MAX_FILL_FRAMES:
                for f in range(a + 1, b):
                    t = (f - a) / (b - a)
                    by_frame[f] = [(1 - t) * u + t * v for u, v in zip(by_frame[a], by_frame[b], strict=True)]
        out.extend((f, number, by_frame[f][:4]) for f in sorted(by_frame))
    return sorted(out)


def check(video: Path, gt: list[tuple[int, int, list[float]]], out_dir: Path, every: int = 20) -> None:
    frames = _frames(video)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_frame: dict[int, list[tuple[int, list[float]]]] = {}
    for f, pid, box in gt:
        by_frame.setdefault(f, []).append((pid, box))
    for f in range(0, len(frames), every):
        image = Image.fromarray(frames[f])
        draw = ImageDraw.Draw(image)
        h, w = frames[f].shape[:2]
        for pid, (x1, y1, x2, y2) in by_frame.get(f, []):
            colour = tuple(int(c) for c in np.random.default_rng(pid).integers(64, 256, 3))
            draw.rectangle((x1 * w, y1 * h, x2 * w, y2 * h), outline=colour, width=2)
            draw.text((x1 * w + 2, y1 * h + 2), str(pid), fill=colour)
        draw.text((4, 4), f"frame {f}", fill="yellow")
        image.save(out_dir / f"gt-{f:04d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command, arguments in (("propose", ("dump", "out")), ("sheets", ("video", "tracklets", "out_dir")),
                               ("build", ("tracklets", "identities", "out")),
                               ("links", ("video", "tracklets", "out_dir")), ("check", ("video", "gt", "out_dir"))):
        command_parser = sub.add_parser(command)
        for argument in arguments:
            command_parser.add_argument(argument, type=Path)
    args = parser.parse_args()
    if args.command == "propose":
        tracklets = propose(load_dump(args.dump))
        args.out.write_text(json.dumps({str(k): v for k, v in tracklets.items()}, separators=(",", ":")))
        print(f"{len(tracklets)} tracklets -> {args.out}")
    elif args.command in ("sheets", "build", "links"):
        tracklets = {int(k): v for k, v in json.loads(args.tracklets.read_text()).items()}
        if args.command == "links":
            links = propose_links(tracklets)
            (args.out_dir / "links.txt").parent.mkdir(parents=True, exist_ok=True)
            (args.out_dir / "links.txt").write_text("".join(f"{a} {b} {c}\n" for a, b, c in links))
            for path in link_sheets(args.video, tracklets, links, args.out_dir):
                print(path)
        elif args.command == "sheets":
            for path in sheets(args.video, tracklets, args.out_dir):
                print(path)
        else:
            gt = build(tracklets, args.identities.read_text())
            write_mot(args.out, gt, size=(768, 576))
            print(f"{len({r[1] for r in gt})} persons, {len(gt)} boxes -> {args.out}")
    else:
        from .formats import read_mot

        check(args.video, read_mot(args.gt, size=(768, 576)), args.out_dir)


if __name__ == "__main__":
    main()
