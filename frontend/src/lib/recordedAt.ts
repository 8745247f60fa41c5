/**
 * When a video file says it was recorded, read in the browser before anything is uploaded, so the officer
 * sees the start time the footage will get and can correct it.
 *
 * MP4 and QuickTime (what cameras, phones and VMS exports give) keep it in the movie header: `moov` → `mvhd`'s
 * creation time, seconds since 1904-01-01 UTC. Only the box headers on the way are read (File.slice), wherever
 * `moov` lies (start or end of the file). Other containers, a zero (a muxer that wrote none) or a time before
 * 1995 or in the future give null: the page then asks for the start time instead of assuming "now".
 * The server reads the same tag with FFmpeg (`analysis.decode.recorded_at`) for API uploads that give none.
 */

const MAC_EPOCH_S = 2_082_844_800; // 1904-01-01 → 1970-01-01
const EARLIEST_MS = Date.UTC(1995, 0, 1);
const MAX_BOXES = 512;

interface Box { type: string; start: number; size: number; header: number }

async function read(file: Blob, start: number, length: number): Promise<DataView> {
  return new DataView(await file.slice(start, start + length).arrayBuffer());
}

async function boxAt(file: Blob, offset: number, end: number): Promise<Box | null> {
  if (offset + 8 > end) return null;
  const v = await read(file, offset, 16);
  if (v.byteLength < 8) return null;
  let size = v.getUint32(0);
  const type = String.fromCharCode(v.getUint8(4), v.getUint8(5), v.getUint8(6), v.getUint8(7));
  let header = 8;
  if (size === 1) {
    if (v.byteLength < 16) return null;
    size = Number(v.getBigUint64(8));
    header = 16;
  } else if (size === 0) {
    size = end - offset; // to the end of the enclosing box
  }
  if (size < header || offset + size > end) return null;
  return { type, start: offset, size, header };
}

async function find(file: Blob, type: string, from: number, end: number): Promise<Box | null> {
  let offset = from;
  for (let i = 0; i < MAX_BOXES; i++) {
    const box = await boxAt(file, offset, end);
    if (!box) return null;
    if (box.type === type) return box;
    offset += box.size;
  }
  return null;
}

/** The recording's start as an ISO string (UTC), or null when the file does not say. */
export async function recordedAt(file: Blob, nowMs: number = Date.now()): Promise<string | null> {
  try {
    const ftyp = await boxAt(file, 0, file.size);
    if (!ftyp || (ftyp.type !== "ftyp" && ftyp.type !== "moov" && ftyp.type !== "mdat" && ftyp.type !== "wide")) return null;
    const moov = await find(file, "moov", 0, file.size);
    if (!moov) return null;
    const mvhd = await find(file, "mvhd", moov.start + moov.header, moov.start + moov.size);
    if (!mvhd) return null;
    const v = await read(file, mvhd.start + mvhd.header, 12);
    const version = v.getUint8(0);
    const seconds = version === 1 ? Number(v.getBigUint64(4)) : v.getUint32(4);
    if (!seconds) return null;
    const ms = (seconds - MAC_EPOCH_S) * 1000;
    if (ms < EARLIEST_MS || ms > nowMs + 86_400_000) return null;
    return new Date(ms).toISOString();
  } catch {
    return null;
  }
}
