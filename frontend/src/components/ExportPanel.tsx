import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Case, type Export, type ExportRequestBody, type Me, type Sighting } from "../api/client";
import {
  chosenCase, defaultExportForm, drfMessage, exportRequestBody, type ExportFormState, exportStatusLabel, isActive,
  MASKINGS, maskingName, percent, shortHash, validateExportForm,
} from "../lib/exports";
import { formatBytes } from "../lib/format";
import { AuthLink } from "./Media";

export const EXPORT_POLL_MS = 1500;

/** Follow one export until it is done or failed: its state, re-read every EXPORT_POLL_MS while it renders. */
export function useExportProgress(initial: Export | null): Export | null {
  const [exp, setExp] = useState<Export | null>(initial);
  useEffect(() => { setExp(initial); }, [initial]);
  useEffect(() => {
    if (!exp || !isActive(exp)) return;
    let live = true;
    const t = setTimeout(async () => {
      const { data } = await api.GET("/api/v1/exports/{id}/", { params: { path: { id: exp.id } } }).catch(() => ({ data: undefined }));
      if (!live) return;
      setExp(data ?? { ...exp }); // a failed read: try again at the next tick
    }, EXPORT_POLL_MS);
    return () => { live = false; clearTimeout(t); };
  }, [exp]);
  return exp;
}

/** An export's state in words with its progress bar, and its files once it is done. */
export function ExportProgress({ exp }: { exp: Export }) {
  return (
    <div class="export-progress" data-testid="export-progress" data-status={exp.status}>
      <p role="status" aria-live="polite">
        Export #{exp.id} of {exp.camera_name}: <span class={exp.status === "failed" ? "error" : exp.status === "done" ? "ok" : ""}
          data-testid="export-status">{exportStatusLabel(exp)}</span>
      </p>
      {isActive(exp) && (
        <progress max={1} value={exp.status === "rendering" ? exp.progress : undefined}
          aria-label={`Export #${exp.id} progress`} aria-valuetext={percent(exp.progress)} />
      )}
      {exp.status === "done" && (
        <p class="row">
          {exp.download_url && (
            <AuthLink href={exp.download_url} filename={`sightline-export-${exp.id}.mp4`} testId="export-download">
              Download MP4</AuthLink>
          )}
          {exp.manifest_url && <AuthLink href={exp.manifest_url} testId="export-manifest">Manifest</AuthLink>}
          <span class="muted">{formatBytes(exp.size_bytes)} · masking: {maskingName(exp.masking)} · SHA-256{" "}
            <code title={exp.sha256}>{shortHash(exp.sha256)}</code></span>
        </p>
      )}
    </div>
  );
}

/** "Export…" on a sighting: the form (margins, masking, boxes, case) and then the job's progress. */
export function ExportPanel({ sighting, me }: { sighting: Sighting; me: Me | null }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState<ExportFormState>(defaultExportForm);
  const [cases, setCases] = useState<Case[] | null>(null);
  const [cameraMask, setCameraMask] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState<Export | null>(null);
  const exp = useExportProgress(started);
  const first = useRef<HTMLInputElement>(null);

  useEffect(() => { setOpen(false); setStarted(null); setError(null); setForm(defaultExportForm()); }, [sighting.id]);
  useEffect(() => {
    if (!open) return;
    first.current?.focus();
    api.GET("/api/v1/cases/").then(({ data }) => setCases(data ? data.results.filter((c) => c.is_open) : []))
      .catch(() => setCases([]));
    api.GET("/api/v1/cameras/{id}/", { params: { path: { id: sighting.camera.id } } })
      .then(({ data }) => setCameraMask(data?.privacy_mask ?? null)).catch(() => undefined);
  }, [open, sighting.camera.id]);

  const set = (patch: Partial<ExportFormState>) => setForm((f) => ({ ...f, ...patch }));

  const submit = async (e: Event) => {
    e.preventDefault();
    const invalid = validateExportForm(form);
    setError(invalid);
    if (invalid) return;
    setBusy(true);
    try {
      let caseId = chosenCase(form);
      if (form.caseChoice === "new") {
        const { data, error: err, response } = await api.POST("/api/v1/cases/", {
          body: { title: form.newCaseTitle.trim(), note: "" },
        });
        if (!data) { setError(`New case: ${drfMessage(err, response.status)}`); return; }
        caseId = data.id;
        setCases((cs) => [data, ...(cs ?? [])]);
        set({ caseChoice: String(data.id), newCaseTitle: "" });
      }
      const body = exportRequestBody(sighting.id, form, caseId);
      const { data, error: err, response } = await api.POST("/api/v1/exports/", {
        // The schema types `case` as a string (its field has no model type): the server takes the id.
        body: body as unknown as ExportRequestBody,
      });
      if (!data) { setError(drfMessage(err, response.status)); return; }
      setStarted(data);
    } catch (x) {
      setError(`Network error: ${(x as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const canUnmask = !!me?.may_unmask;
  return (
    <section class="export-panel" aria-label="Export">
      <button type="button" aria-expanded={open} aria-controls="export-form" onClick={() => setOpen(!open)}>
        Export…</button>
      {open && (
        <form id="export-form" class="panel export-form" onSubmit={submit} aria-label="Export this sighting">
          <div class="row">
            <div class="field">
              <label for="x-before">Seconds before</label>
              <input id="x-before" ref={first} type="number" min="0" step="0.5" inputMode="decimal" value={form.beforeS}
                onInput={(e) => set({ beforeS: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="x-after">Seconds after</label>
              <input id="x-after" type="number" min="0" step="0.5" inputMode="decimal" value={form.afterS}
                onInput={(e) => set({ afterS: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="x-masking">Masking</label>
              <select id="x-masking" value={form.masking}
                onChange={(e) => set({ masking: e.currentTarget.value as ExportFormState["masking"] })}>
                <option value="">Camera default{cameraMask ? ` (${maskingName(cameraMask).toLowerCase()})` : ""}</option>
                {MASKINGS.filter((m) => canUnmask || m.value !== "none").map((m) => (
                  <option value={m.value}>{m.label}</option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="x-case">Case</label>
              <select id="x-case" value={form.caseChoice} onChange={(e) => set({ caseChoice: e.currentTarget.value })}>
                <option value="">No case</option>
                {(cases ?? []).map((c) => <option value={String(c.id)}>{c.title}</option>)}
                <option value="new">New case…</option>
              </select>
            </div>
            {form.caseChoice === "new" && (
              <div class="field">
                <label for="x-case-title">New case title</label>
                <input id="x-case-title" type="text" maxLength={200} value={form.newCaseTitle}
                  onInput={(e) => set({ newCaseTitle: e.currentTarget.value })} />
              </div>
            )}
            <label class="check">
              <input type="checkbox" checked={form.burnBoxes} onChange={(e) => set({ burnBoxes: e.currentTarget.checked })} />
              Burn in boxes
            </label>
          </div>
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>{busy ? "Starting…" : "Start export"}</button>
            {error && <span class="error" role="alert" data-testid="export-error">{error}</span>}
          </div>
        </form>
      )}
      {exp && <ExportProgress exp={exp} />}
    </section>
  );
}
