import { describe, expect, it } from "vitest";
import {
  analysisInterval, boxAt, boxInRect, clipSamples, cropOf, displayedRect, follower, footPath, svgPoints, toImage,
  type Box, type TrackPointLike,
} from "./track";

const pt = (clip: number | null, offset_ms: number | null, box: Box): TrackPointLike =>
  ({ clip, offset_ms, x1: box[0], y1: box[1], x2: box[2], y2: box[3] });

// Clip 1: the object walks right then down; clip 2 continues the track elsewhere.
const points = [
  pt(1, 0, [0.1, 0.2, 0.2, 0.6]),
  pt(1, 500, [0.2, 0.2, 0.3, 0.6]),
  pt(1, 1000, [0.3, 0.3, 0.4, 0.7]),
  pt(2, 0, [0.9, 0.9, 1, 1]),
];

const close = (a: number[] | null, b: number[]) => {
  expect(a).not.toBeNull();
  a!.forEach((v, i) => expect(v).toBeCloseTo(b[i], 9));
};

describe("clipSamples", () => {
  it("keeps one clip's detections sorted by position, one per position", () => {
    const shuffled = [points[2], points[3], points[0], pt(1, 500, [0, 0, 0, 0]), points[1], pt(1, null, [0, 0, 1, 1])];
    const s = clipSamples(shuffled, 1);
    expect(s.map((x) => x.t)).toEqual([0, 500, 1000]);
    expect(s[1].box).toEqual([0, 0, 0, 0]); // the first of two at the same position
    expect(clipSamples(points, 3)).toEqual([]);
  });
});

describe("analysisInterval", () => {
  it("is the median gap, with a fallback for a single detection", () => {
    const s = clipSamples([pt(1, 0, [0, 0, 1, 1]), pt(1, 500, [0, 0, 1, 1]), pt(1, 1000, [0, 0, 1, 1]),
      pt(1, 4000, [0, 0, 1, 1])], 1);
    expect(analysisInterval(s)).toBe(500);
    expect(analysisInterval(s.slice(0, 1))).toBe(500);
    expect(analysisInterval(s.slice(0, 1), 250)).toBe(250);
    expect(analysisInterval(clipSamples([pt(1, 0, [0, 0, 1, 1]), pt(1, 200, [0, 0, 1, 1])], 1))).toBe(200);
  });
});

describe("boxAt", () => {
  const s = clipSamples(points, 1);

  it("is the detection's box at a detection", () => {
    expect(boxAt(s, 0, 250)).toEqual([0.1, 0.2, 0.2, 0.6]);
    expect(boxAt(s, 500, 250)).toEqual([0.2, 0.2, 0.3, 0.6]);
    expect(boxAt(s, 1000, 250)).toEqual([0.3, 0.3, 0.4, 0.7]);
  });

  it("interpolates linearly between detections", () => {
    close(boxAt(s, 250, 250), [0.15, 0.2, 0.25, 0.6]);
    close(boxAt(s, 875, 250), [0.275, 0.275, 0.375, 0.675]);
  });

  it("holds the end boxes within the tolerance and hides outside the span", () => {
    expect(boxAt(s, -200, 250)).toEqual([0.1, 0.2, 0.2, 0.6]);
    expect(boxAt(s, 1250, 250)).toEqual([0.3, 0.3, 0.4, 0.7]);
    expect(boxAt(s, -251, 250)).toBeNull();
    expect(boxAt(s, 1251, 250)).toBeNull();
    expect(boxAt([], 0, 250)).toBeNull();
    expect(boxAt(s, Number.NaN, 250)).toBeNull();
  });

  it("finds the right pair in a long track", () => {
    const long = clipSamples(Array.from({ length: 2000 }, (_, i) => pt(1, i * 500, [i / 4000, 0, i / 4000 + 0.1, 0.5])), 1);
    close(boxAt(long, 1234 * 500 + 100, 250), [(1234 + 0.2) / 4000, 0, (1234 + 0.2) / 4000 + 0.1, 0.5]);
  });
});

describe("follower", () => {
  it("follows one clip with half an analysis interval of tolerance", () => {
    const f = follower(points, 1);
    expect(f.toleranceMs).toBe(250);
    close(f.at(750), [0.25, 0.25, 0.35, 0.65]);
    expect(f.at(1300)).toBeNull();
    expect(follower(points, 2).at(0)).toEqual([0.9, 0.9, 1, 1]);
    expect(follower(points, 2).at(300)).toBeNull();
  });
});

describe("displayedRect", () => {
  it("pillarboxes a 4:3 picture in a wide element", () => {
    expect(displayedRect(1600, 900, 640, 480)).toEqual({ x: 200, y: 0, w: 1200, h: 900 });
  });
  it("letterboxes a wide picture in a square element", () => {
    expect(displayedRect(800, 800, 800, 400)).toEqual({ x: 0, y: 200, w: 800, h: 400 });
  });
  it("fills the element while the video size is unknown", () => {
    expect(displayedRect(300, 200, 0, 0)).toEqual({ x: 0, y: 0, w: 300, h: 200 });
  });
});

describe("boxInRect", () => {
  it("places the box over the displayed picture, clamped to it", () => {
    const r = displayedRect(1600, 900, 640, 480);
    expect(boxInRect([0.1, 0.2, 0.3, 0.6], r)).toEqual({ left: 320, top: 180, width: 240, height: 360 });
    expect(boxInRect([-0.5, 0, 1.5, 1], { x: 0, y: 0, w: 100, h: 100 })).toEqual({ left: 0, top: 0, width: 100, height: 100 });
  });
});

describe("footPath", () => {
  it("goes through the bottom centre of each box, dropping repeats", () => {
    const path = footPath([points[0], points[0], points[1], points[2]]);
    path.forEach((p, i) => close(p, [[0.15, 0.6], [0.25, 0.6], [0.35, 0.7]][i]));
    expect(path).toHaveLength(3);
    expect(footPath([])).toEqual([]);
  });
});

describe("cropOf and toImage", () => {
  it("grows the box like the thumbnails do and clips it to the frame", () => {
    close(cropOf([0.2, 0.2, 0.4, 0.6]), [0.17, 0.14, 0.43, 0.66]);
    close(cropOf([0, 0.5, 0.2, 1]), [0, 0.425, 0.23, 1]);
  });
  it("maps frame points into an image of the whole frame or of a crop", () => {
    expect(toImage([[0.5, 1]], [0, 0, 1, 1], 768, 576)).toEqual([[384, 576]]);
    const [p] = toImage([[0.3, 0.6]], [0.2, 0.2, 0.4, 0.6], 100, 200);
    close(p, [50, 200]);
  });
  it("writes SVG points", () => {
    expect(svgPoints([[1.234, 5], [10, 20.06]])).toBe("1.2,5 10,20.1");
  });
});
