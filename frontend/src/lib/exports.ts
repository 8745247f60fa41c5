/** Evidence exports and cases: the export form's request body, the server's refusals as one line, and how an
 * export's state reads. Pure, so the pages stay thin and this is tested without a server. */
import { errorMessage, formatDuration, formatTime } from "./format";
import type { Masking } from "./playback";

export const MASKINGS: { value: Masking; label: string }[] = [
  { value: "faces", label: "Faces" },
  { value: "faces_plates", label: "Faces and licence plates" },
  { value: "persons", label: "Whole persons" },
  { value: "none", label: "Nothing (unmasked)" },
];

export function maskingName(m: string | null | undefined): string {
  if (!m) return "—";
  return MASKINGS.find((x) => x.value === m)?.label ?? m;
}

/** Who may export footage and manage cases. */
export const mayExport = (role: string | null | undefined): boolean => role === "operator" || role === "admin";

/** The export form as typed (strings from the inputs). `caseChoice`: "" none, "new" a new case, else an id. */
export interface ExportFormState {
  beforeS: string;
  afterS: string;
  masking: "" | Masking; // "" = the camera's own (the field is left out)
  burnBoxes: boolean;
  caseChoice: string;
  newCaseTitle: string;
}

export const defaultExportForm = (): ExportFormState => ({
  beforeS: "5", afterS: "5", masking: "", burnBoxes: false, caseChoice: "", newCaseTitle: "",
});

export interface SightingExportBody {
  sighting: number;
  before_s: number;
  after_s: number;
  masking?: Masking;
  burn_boxes: boolean;
  case?: number;
}

/** What is wrong with the form before anything is sent (null: nothing). */
export function validateExportForm(f: ExportFormState): string | null {
  for (const [v, name] of [[f.beforeS, "Seconds before"], [f.afterS, "Seconds after"]] as const) {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < 0) return `${name}: give a number of seconds, 0 or more.`;
  }
  if (f.caseChoice === "new" && !f.newCaseTitle.trim()) return "New case: give it a title.";
  return null;
}

/** The `POST /api/v1/exports/` body for a sighting; `caseId` is the case chosen or just created. */
export function exportRequestBody(sighting: number, f: ExportFormState, caseId: number | null): SightingExportBody {
  const body: SightingExportBody = {
    sighting, before_s: Number(f.beforeS), after_s: Number(f.afterS), burn_boxes: f.burnBoxes,
  };
  if (f.masking) body.masking = f.masking;
  if (caseId != null) body.case = caseId;
  return body;
}

/** The case id the form names, when it names an existing one. */
export function chosenCase(f: ExportFormState): number | null {
  if (!f.caseChoice || f.caseChoice === "new") return null;
  const n = Number(f.caseChoice);
  return Number.isInteger(n) && n > 0 ? n : null;
}

const FIELD_LABELS: Record<string, string> = {
  before_s: "Seconds before", after_s: "Seconds after", masking: "Masking", burn_boxes: "Burn in boxes",
  case: "Case", sighting: "Sighting", camera: "Camera", start: "Start", end: "End", title: "Title", note: "Note",
};

/** The server's refusal (a DRF error body) as one line, its field names as the form labels them. */
export function drfMessage(body: unknown, status: number): string {
  const fallback = status === 403 ? "Only operators and admins may export footage and manage cases."
    : status === 404 ? "Not found." : status === 0 ? "Network error: the server did not answer." : `Request failed (${status})`;
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const o = body as Record<string, unknown>;
    if (typeof o.detail !== "string") {
      const renamed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) renamed[FIELD_LABELS[k] ?? k] = v;
      return errorMessage(renamed, fallback);
    }
  }
  return errorMessage(body, fallback);
}

export type ExportStatus = "queued" | "rendering" | "done" | "failed";

export interface ExportLike {
  status: ExportStatus | string;
  progress: number;
  error: string;
  start: string;
  end: string;
  sha256: string;
}

export const isActive = (e: { status: string }): boolean => e.status === "queued" || e.status === "rendering";

export function percent(progress: number): string {
  return `${Math.round(Math.min(Math.max(Number.isFinite(progress) ? progress : 0, 0), 1) * 100)} %`;
}

/** "Queued", "Rendering 42 %", "Done", "Failed: why". */
export function exportStatusLabel(e: ExportLike): string {
  switch (e.status) {
    case "queued": return "Queued";
    case "rendering": return `Rendering ${percent(e.progress)}`;
    case "done": return "Done";
    case "failed": return `Failed: ${e.error || "no reason given"}`;
    default: return e.status;
  }
}

/** The first 12 hex digits of a SHA-256 (the whole one goes in a title). */
export const shortHash = (sha: string | null | undefined): string => (sha ? `${sha.slice(0, 12)}…` : "—");

/** "2026-11-02 08:10:00 – 08:10:15 (15 s)" */
export function rangeLabel(start: string, end: string): string {
  const a = formatTime(start);
  const b = formatTime(end);
  const sameDay = a.slice(0, 10) === b.slice(0, 10) && a !== "—";
  const secs = (Date.parse(end) - Date.parse(start)) / 1000;
  return `${a} – ${sameDay ? b.slice(11) : b} (${formatDuration(secs)})`;
}
