"""Synthetic CCTV sequences with exact ground truth, made of real people from ``vtest.avi``.

The tracker is evaluated on these because their ground truth is exact: every box and every occlusion is known
by construction, so a tracking error is the tracker's (or the detector's), never the annotator's.

**Background.** The per-pixel temporal median of :data:`BACKGROUND_SAMPLES` frames spread evenly over
``vtest.avi`` (a fixed camera over a plaza): nobody stands anywhere for most of the video, so the
pedestrians vanish and the empty plaza remains.

**Sprites.** Real people cut out of single ``vtest.avi`` frames (:data:`SPRITES`, fixed frame indices and
boxes). The boxes were chosen once from the COCO detector's person boxes on vtest (score >= 0.6, no other
box near them, so that the cut-out holds one person), and by eye for seven visibly different people
(clothes, build, pose). The mask is where the frame differs from the background (max channel difference
> :data:`FOREGROUND_THRESHOLD`) inside the box grown by a margin, without cast shadows (darker pixels of the
background's own chromaticity), cleaned with ``scipy.ndimage``: opening, closing, the largest connected
component, holes filled. A cut-out whose mask touches its crop (a person cropped by the box) is refused.
Colours outside the mask are bled in from the nearest mask pixel, so that scaling does not pull the source
frame's background into the sprite's edge.

**Geometry.** People walk on a ground plane seen by a pinhole camera whose horizon is above the frame, fitted
to vtest: a person's box height is ``0.229 * (feet_y + 76.8)`` px (the detector's boxes of vtest's people,
about 60 px tall at feet_y 190 and 110 px at feet_y 400), scaled by the person's stature. Paths are
waypoints in image pixels (feet points) walked at a speed in m/s on the ground plane, so people speed up
in the image as they come nearer, as real ones do. A sprite is mirrored to face the way it walks.
Rendering is in depth order (larger feet y = nearer = drawn last), each sprite alpha-blended with a 1-px
feathered edge (its outermost mask pixels at half opacity). The plaza's lamp post (with its sign) and the
tripod are scene objects outlined by hand (:data:`SCENE_OBJECTS`): whoever walks behind them is hidden by
them, redrawn from the background over the person.

**Scenarios** (10 fps, 768x576; :data:`SCENARIOS`):

``crossing``
    Two people walk towards each other along the camera's line of sight, one away from the camera and one
    towards it, and pass; the nearer one hides the farther one completely (visibility 0) and then the
    farther one comes out and, nearer now, is fully visible. Tests identity through a full occlusion.
    A camera above head height never hides a person completely behind one of the same height (the head
    shows), so the two have statures 1.15 and 0.75; even so, at walking pace the farther one is completely
    hidden for only a few frames, and less than half visible for about 1.5 s.
``group``
    Three people walk away from the camera side by side, close enough to touch in the image, then split:
    one left, one right, one straight on. Tests boxes of adjacent people (merges, identity switches) and
    the split.
``fast``
    One person runs a lap round the plaza (about 4 m/s, moving more than its own width in every 0.5 s).
    Tests association over large displacements, especially at low analysis rates.
``still``
    One person stands still for the whole sequence (a sway of 1 px at most) while another walks past in
    front of them. Tests that a standing person keeps one track and that the passer-by does not take
    their identity.
``pause``
    A person walks, stops for 5 s, walks on; while they stand, another person passes in front of them
    (about 1.5 s of occlusion). Tests a track that stops moving and is occluded while stopped.

**Output**, per scenario in the output directory: ``<name>.mp4`` (H.264, yuv420p, 10 fps, crf 18, every
frame rendered) and ``<name>.gt.txt`` in MOTChallenge ground-truth format, one line per person per frame:
``frame,id,x,y,w,h,1,1,visibility`` with frame 1-based, ``x,y,w,h`` the person's whole sprite box in
0-based integer pixels (the box of all its mask pixels, even those hidden; always inside the frame) and
visibility the fraction of its mask pixels not covered by nearer people or scene objects (0 to 1,
3 decimals). Every person is in the frame from the first frame to the last. ``manifest.json`` lists the
scenarios with their frames and persons, and the sprites with their source frames and boxes.

    python -m analysis.eval.synthetic OUTDIR [--only NAME ...] [--frames N] [--video vtest.avi]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .sprites import (
    CAMERA_M,
    CENTRE_X,
    CRF,
    FOCAL_PX,
    FPS,
    HEIGHT,
    HEIGHT_SLOPE,
    HORIZON_Y,
    SPRITES,
    VTEST,
    WIDTH,
    Footage,
    Layer,
    load_footage,
)


def ground(x: float, y: float) -> tuple[float, float]:
    """Image feet point (px) -> ground-plane point (lateral X, depth Z) in metres."""
    if y <= HORIZON_Y:
        raise ValueError(f"feet at y={y} are above the horizon")
    z = FOCAL_PX * CAMERA_M / (y - HORIZON_Y)
    return (x - CENTRE_X) * z / FOCAL_PX, z


def project(gx: float, gz: float) -> tuple[float, float]:
    """Ground-plane point (m) -> image feet point (px)."""
    return CENTRE_X + FOCAL_PX * gx / gz, HORIZON_Y + FOCAL_PX * CAMERA_M / gz


def person_height(feet_y: float, stature: float = 1.0) -> float:
    """Box height in px of a person whose feet are at image row ``feet_y``."""
    return stature * HEIGHT_SLOPE * (feet_y - HORIZON_Y)


class Route:
    """A path on the ground: waypoints given as image feet points, walked at a speed in m/s.

    Keys are ``(t_seconds, X, Z)``; positions between keys are interpolated on the ground plane.
    """

    def __init__(self, x: float, y: float, t: float = 0.0):
        self.keys: list[tuple[float, float, float]] = [(t, *ground(x, y))]

    @property
    def t(self) -> float:
        return self.keys[-1][0]

    def to(self, x: float, y: float, speed: float) -> Route:
        _, gx0, gz0 = self.keys[-1]
        gx, gz = ground(x, y)
        self.keys.append((self.t + math.hypot(gx - gx0, gz - gz0) / speed, gx, gz))
        return self

    def wait(self, seconds: float) -> Route:
        _, gx, gz = self.keys[-1]
        self.keys.append((self.t + seconds, gx, gz))
        return self


@dataclass(frozen=True)
class Person:
    id: int
    sprite: str
    keys: tuple[tuple[float, float, float], ...]
    stature: float = 1.0
    #: Standing sway: the box moves by up to this many px (deterministic, seeded by the id).
    sway_px: int = 0

    def ground_at(self, t: float) -> tuple[float, float]:
        keys = self.keys
        if t <= keys[0][0]:
            return keys[0][1], keys[0][2]
        for (t0, x0, z0), (t1, x1, z1) in itertools.pairwise(keys):
            if t <= t1:
                a = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                return x0 + a * (x1 - x0), z0 + a * (z1 - z0)
        return keys[-1][1], keys[-1][2]

    def heading_at(self, t: float) -> int:
        """-1 walking left, +1 right, 0 unknown: the lateral direction of the current or else the last
        lateral move (a sprite keeps facing the way it went when it stops or walks along the line of sight)."""
        signs, current = [], 0
        for i, ((t0, x0, z0), (_t1, x1, z1)) in enumerate(itertools.pairwise(self.keys)):
            (ix0, iy0), (ix1, iy1) = project(x0, z0), project(x1, z1)
            dx, dy = ix1 - ix0, iy1 - iy0
            signs.append(0 if abs(dx) < max(3.0, 0.5 * abs(dy)) else (1 if dx > 0 else -1))
            if t0 <= t:
                current = i
        for i in [*range(current, -1, -1), *range(current + 1, len(signs))]:
            if signs[i]:
                return signs[i]
        return 0


def person(pid: int, sprite: str, route: Route, stature: float = 1.0, sway_px: int = 0) -> Person:
    return Person(pid, sprite, tuple(route.keys), stature, sway_px)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seconds: float
    persons: tuple[Person, ...]

    @property
    def n_frames(self) -> int:
        return round(self.seconds * FPS)


def _crossing() -> Scenario:
    # 1 walks away from the camera, 2 towards it on (nearly) the same line of sight: 1 hides 2 completely
    # while 2 is 3-4 m behind, then 2 steps aside to pass and is the nearer one.
    away = Route(600, 470).to(600, 200, 1.0).to(470, 192, 1.0)
    towards = Route(601, 190).to(601, 290, 1.0).to(628, 470, 1.0).to(650, 540, 1.0)
    return Scenario("crossing", "two people pass each other on the camera's line of sight; the farther, "
                    "shorter one is hidden by the nearer, taller one, then comes out in front",
                    14.0, (person(1, "black_coat", away, 1.15), person(2, "standing", towards, 0.75)))


def _group() -> Scenario:
    # Three abreast, walking away from the camera, then splitting left, straight on and right.
    left = Route(425, 454).to(440, 300, 1.2).to(150, 232, 1.2).to(40, 222, 1.2)
    middle = Route(466, 450).to(476, 296, 1.2).to(500, 190, 1.2).to(460, 170, 1.2)
    right = Route(506, 458).to(512, 304, 1.2).to(700, 262, 1.2)
    return Scenario("group", "three people walk side by side, close together, then split three ways", 11.0,
                    (person(1, "red_jacket", left), person(2, "puffer", middle, 1.05),
                     person(3, "striped", right)))


def _fast() -> Scenario:
    # A lap round the plaza at a constant pace (about 4 m/s) that ends with the sequence; no sharp turns, so
    # the runner covers more than its own width in every 0.5 s.
    seconds = 10.0
    lap = [(40, 250), (640, 272), (725, 350), (660, 455), (480, 470), (110, 420), (50, 340), (110, 272), (520, 262)]
    ground_lap = [ground(x, y) for x, y in lap]
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(ground_lap))
    run = Route(*lap[0])
    for x, y in lap[1:]:
        run.to(x, y, length / seconds)
    return Scenario("fast", "one person runs a lap round the plaza, moving more than its own width every 0.5 s",
                    seconds, (person(1, "dark_suit", run),))


def _still() -> Scenario:
    standing = Route(470, 330).wait(15.0)
    walker = Route(735, 395, t=1.0).to(40, 330, 1.2).to(70, 245, 1.2)
    return Scenario("still", "one person stands still throughout (1 px sway) while another walks past in "
                    "front of them", 15.0, (person(1, "standing", standing, sway_px=1),
                                            person(2, "bald", walker)))


def _pause() -> Scenario:
    walker = Route(80, 280).to(360, 290, 1.2).wait(5.0).to(720, 305, 1.2)
    stop = walker.keys[1][0]
    # The passer-by reaches the stopped walker halfway through the stop, walking at whatever pace that takes.
    start_x, start_y, end_x, end_y = 740.0, 345.0, 40.0, 318.0
    gx0, gz0 = ground(start_x, start_y)
    a = (start_x - 360) / (start_x - end_x)  # where the image line passes x=360 (lines map to lines)
    meet = ground(start_x + a * (end_x - start_x), start_y + a * (end_y - start_y))
    speed = math.hypot(meet[0] - gx0, meet[1] - gz0) / (stop + 2.5)
    passer = Route(start_x, start_y).to(end_x, end_y, speed)
    return Scenario("pause", "a person walks, stops for 5 s and walks on; another passes in front while they "
                    "are stopped", 16.0, (person(1, "striped", walker), person(2, "puffer", passer, 1.05)))


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "crossing": _crossing, "group": _group, "fast": _fast, "still": _still, "pause": _pause,
}


# --- rendering --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GtRow:
    frame: int  # 1-based
    id: int
    x: int
    y: int
    w: int
    h: int
    visibility: float

    def line(self) -> str:
        return f"{self.frame},{self.id},{self.x},{self.y},{self.w},{self.h},1,1,{self.visibility:.3f}"


def _sway(pid: int, amplitude: int, n_frames: int) -> np.ndarray:
    """Per-frame (dx, dy) offsets within ±amplitude, changing every second: a person swaying while standing."""
    if amplitude == 0:
        return np.zeros((n_frames, 2), int)
    rng = np.random.default_rng(1000 + pid)
    steps = rng.integers(-amplitude, amplitude + 1, size=(n_frames // FPS + 1, 2))
    steps[:, 1] = np.clip(steps[:, 1], 0, amplitude)  # feet stay on the ground: only down by a px
    return np.repeat(steps, FPS, axis=0)[:n_frames]


def place(scenario: Scenario, footage: Footage, n: int, sways: dict[int, np.ndarray]) -> list[Layer]:
    """Frame ``n`` (0-based): each person's sprite and position, and the scene objects, farthest first."""
    t = n / FPS
    layers = list(footage.occluders)
    for p in scenario.persons:
        gx, gz = p.ground_at(t)
        x, y = project(gx, gz)
        src = footage.sprites[p.sprite]
        sprite = footage.scaled(p.sprite, max(8, round(person_height(y, p.stature))),
                                mirror=p.heading_at(t) * src.facing < 0)
        h, w = sprite.mask.shape
        dx, dy = sways[p.id][n]
        left = min(max(round(x - w / 2) + int(dx), 0), WIDTH - w)
        top = min(max(round(y) - h + int(dy), 0), HEIGHT - h)
        layers.append(Layer(sprite, left, top, top + h, p))
    # Persons before scene objects at equal depth, then by id: a fixed order.
    layers.sort(key=lambda q: (q.depth, q.person is None, q.person.id if q.person else 0))
    return layers


def render(scenario: Scenario, footage: Footage, *, draw: bool = True,
           frames: int | None = None) -> Iterator[tuple[np.ndarray | None, list[GtRow]]]:
    """Frames (RGB uint8; None with ``draw=False``) and their ground-truth rows, in order."""
    n_frames = scenario.n_frames if frames is None else min(frames, scenario.n_frames)
    sways = {p.id: _sway(p.id, p.sway_px, scenario.n_frames) for p in scenario.persons}
    for n in range(n_frames):
        layers = place(scenario, footage, n, sways)
        covered = np.zeros((HEIGHT, WIDTH), bool)
        rows = []
        for q in reversed(layers):  # nearest first: what it covers is covered for everything behind it
            h, w = q.sprite.mask.shape
            region = covered[q.top:q.top + h, q.left:q.left + w]
            if q.person is not None:
                total = int(q.sprite.mask.sum())
                hidden = int((q.sprite.mask & region).sum())
                rows.append(GtRow(n + 1, q.person.id, q.left, q.top, w, h, round(1 - hidden / total, 3)))
            region |= q.sprite.mask
        rows.sort(key=lambda r: r.id)
        image = None
        if draw:
            image = footage.background.copy()
            behind = False
            for q in layers:
                if q.person is None and not behind:
                    continue  # a scene object with nobody behind it is already in the background
                behind = True
                h, w = q.sprite.mask.shape
                target = image[q.top:q.top + h, q.left:q.left + w]
                blend = target.astype(np.float32)
                blend += q.sprite.alpha * (q.sprite.rgb - blend)
                target[...] = np.rint(blend).astype(np.uint8)
        yield image, rows


def ground_truth(scenario: Scenario, footage: Footage, frames: int | None = None) -> list[GtRow]:
    return [row for _, rows in render(scenario, footage, draw=False, frames=frames) for row in rows]


def write_scenario(scenario: Scenario, footage: Footage, out_dir: Path, *, frames: int | None = None) -> dict:
    """``<name>.mp4`` and ``<name>.gt.txt`` in ``out_dir``; returns the scenario's manifest entry."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{scenario.name}.mp4"
    lines: list[str] = []
    seen: dict[int, list[int]] = {}
    count = 0
    with av.open(str(video), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"crf": str(CRF), "preset": "veryfast"}
        for image, rows in render(scenario, footage, frames=frames):
            assert image is not None  # drawn: render's default
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = count
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
            for row in rows:
                lines.append(row.line())
                seen.setdefault(row.id, []).append(row.frame)
            count += 1
        container.mux(stream.encode(None))
    (out_dir / f"{scenario.name}.gt.txt").write_text("\n".join(lines) + "\n")
    return {
        "name": scenario.name, "description": scenario.description, "video": video.name,
        "gt": f"{scenario.name}.gt.txt", "frames": count, "seconds": count / FPS,
        "persons": [{"id": p.id, "sprite": p.sprite, "stature": p.stature,
                     "frames": [min(seen[p.id]), max(seen[p.id])]} for p in scenario.persons],
    }


def generate(out_dir: Path, only: Sequence[str] | None = None, *, video: Path = VTEST,
             frames: int | None = None) -> dict:
    names = list(SCENARIOS) if not only else list(only)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    footage = load_footage(video)
    entries = [write_scenario(SCENARIOS[name](), footage, out_dir, frames=frames) for name in names]
    manifest = {
        "source": video.name, "fps": FPS, "size": [WIDTH, HEIGHT], "crf": CRF,
        "gt_format": "frame(1-based),id,x,y,w,h,1,1,visibility; x,y,w,h: 0-based px of the whole sprite box",
        "background_frames": footage.background_frames,
        "sprites": {name: {"frame": s.frame, "box": list(s.box), "description": s.description}
                    for name, s in SPRITES.items()},
        "scenarios": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="this scenario (repeatable)")
    parser.add_argument("--frames", type=int, help="render at most this many frames per scenario")
    parser.add_argument("--video", type=Path, default=VTEST)
    args = parser.parse_args()
    start = time.monotonic()
    manifest = generate(args.out_dir, args.only, video=args.video, frames=args.frames)
    for entry in manifest["scenarios"]:
        print(f"{entry['name']}: {entry['frames']} frames, {len(entry['persons'])} persons")
    print(f"-> {args.out_dir} in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
