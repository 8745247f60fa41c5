import { describe, expect, it } from "vitest";
import { recordedAt } from "./recordedAt";

const MAC_EPOCH_S = 2_082_844_800;

function box(type: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setUint32(0, out.length);
  out.set([...type].map((c) => c.charCodeAt(0)), 4);
  out.set(body, 8);
  return out;
}

function mvhd(seconds: number, version = 0): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(version === 1 ? 112 : 100);
  const v = new DataView(body.buffer);
  v.setUint8(0, version);
  if (version === 1) v.setBigUint64(4, BigInt(seconds));
  else v.setUint32(4, seconds);
  return box("mvhd", body);
}

const concat = (...parts: Uint8Array<ArrayBuffer>[]) => new Blob(parts);
const ftyp = box("ftyp", new TextEncoder().encode("isom\0\0\x02\0isomiso2avc1mp41"));
const when = Date.UTC(2026, 10, 20, 7, 15, 30) / 1000;

describe("a video file's recorded time", () => {
  it("is the movie header's creation time, moov at the start", async () => {
    const file = concat(ftyp, box("moov", mvhd(when + MAC_EPOCH_S)), box("mdat", new Uint8Array(64)));
    expect(await recordedAt(file)).toBe("2026-11-20T07:15:30.000Z");
  });
  it("is found after the media data too, and in a version-1 header", async () => {
    const file = concat(ftyp, box("free", new Uint8Array(4)), box("mdat", new Uint8Array(300)),
      box("moov", mvhd(when + MAC_EPOCH_S, 1)));
    expect(await recordedAt(file)).toBe("2026-11-20T07:15:30.000Z");
  });
  it("is null for a zero, a time before 1995 or in the future", async () => {
    expect(await recordedAt(concat(ftyp, box("moov", mvhd(0))))).toBeNull();
    expect(await recordedAt(concat(ftyp, box("moov", mvhd(MAC_EPOCH_S + 100))))).toBeNull();
    const future = Date.UTC(2999, 0, 1) / 1000 + MAC_EPOCH_S;
    expect(await recordedAt(concat(ftyp, box("moov", mvhd(future))))).toBeNull();
  });
  it("is null for other files and broken boxes", async () => {
    expect(await recordedAt(new Blob(["this is not a video\n".repeat(50)]))).toBeNull();
    expect(await recordedAt(new Blob([new Uint8Array([0, 0, 0, 200, 102, 116, 121, 112])]))).toBeNull();
    expect(await recordedAt(new Blob([]))).toBeNull();
  });
});
