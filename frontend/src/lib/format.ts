/** Display formatting: one place, so every page says things the same way. */

export const formatConfidence = (c: number): string => `${Math.round(c * 100)}%`;

export function formatTime(iso: string | null | undefined, opts: { seconds?: boolean } = {}): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const pad = (n: number) => String(n).padStart(2, "0");
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}` + (opts.seconds === false ? "" : `:${pad(d.getSeconds())}`);
  return `${date} ${time}`;
}

/** The browser's short name for its time zone at that instant: "UTC", "GMT+1", "CEST", "EDT"... */
export function zoneLabel(iso: string | null | undefined, timeZone?: string): string {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  try {
    const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short", timeZone }).formatToParts(d);
    return parts.find((p) => p.type === "timeZoneName")?.value ?? "";
  } catch {
    return "";
  }
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${r} s`;
  return `${r} s`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "3 min ago", relative to `now`, for last-seen columns. */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const s = Math.round((now - t) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** One line from a DRF error body: {"detail": "..."} or {"field": ["msg", ...], ...}. */
export function errorMessage(body: unknown, fallback = "Request failed"): string {
  if (!body) return fallback;
  if (typeof body === "string") return body;
  if (Array.isArray(body)) return body.map((b) => errorMessage(b, "")).filter(Boolean).join("; ") || fallback;
  if (typeof body === "object") {
    const o = body as Record<string, unknown>;
    if (typeof o.detail === "string") return o.detail;
    const parts = Object.entries(o).map(([k, v]) => {
      const msg = errorMessage(v, "");
      return k === "non_field_errors" ? msg : `${k}: ${msg}`;
    });
    return parts.filter(Boolean).join("; ") || fallback;
  }
  return fallback;
}

/** Where the video's picture lies inside its element (object-fit: contain letterboxes it). */
export function contentRect(elW: number, elH: number, vidW: number, vidH: number):
{ x: number; y: number; w: number; h: number } {
  if (!vidW || !vidH || !elW || !elH) return { x: 0, y: 0, w: elW, h: elH };
  const scale = Math.min(elW / vidW, elH / vidH);
  const w = vidW * scale;
  const h = vidH * scale;
  return { x: (elW - w) / 2, y: (elH - h) / 2, w, h };
}

/** A normalised box [x1, y1, x2, y2] in pixels over the rendered picture. */
export function boxToPixels(box: number[], r: { x: number; y: number; w: number; h: number }):
{ left: number; top: number; width: number; height: number } {
  const [x1, y1, x2, y2] = box.map((v) => Math.min(1, Math.max(0, v)));
  const px = (v: number) => Math.round(v * 100) / 100;
  return { left: px(r.x + x1 * r.w), top: px(r.y + y1 * r.h), width: px((x2 - x1) * r.w), height: px((y2 - y1) * r.h) };
}
