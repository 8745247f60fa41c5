import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Case, type Export } from "../api/client";
import { AuthLink } from "../components/Media";
import { EXPORT_POLL_MS } from "../components/ExportPanel";
import { drfMessage, exportStatusLabel, isActive, maskingName, percent, rangeLabel, shortHash } from "../lib/exports";
import { formatBytes, formatTime } from "../lib/format";
import { navigate } from "../lib/router";

/** The case filter from the page's query (`/exports?case=3`). */
function caseFilter(search: string): number | null {
  const n = Number(new URLSearchParams(search).get("case"));
  return Number.isInteger(n) && n > 0 ? n : null;
}

function cursorOf(next: string | null | undefined): string | null {
  if (!next) return null;
  try { return new URL(next, location.origin).searchParams.get("cursor"); } catch { return null; }
}

function ExportsTable({ caseId, cases }: { caseId: number | null; cases: Case[] }) {
  const [rows, setRows] = useState<Export[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const gen = useRef(0);

  const load = async (cursor: string | null) => {
    const mine = cursor ? gen.current : ++gen.current;
    const query: { case?: number; cursor?: string } = {};
    if (caseId != null) query.case = caseId;
    if (cursor) query.cursor = cursor;
    const { data, error: err, response } = await api.GET("/api/v1/exports/", { params: { query } });
    if (mine !== gen.current) return;
    if (!data) { setError(drfMessage(err, response.status)); return; }
    setError(null);
    setRows((r) => (cursor ? [...(r ?? []), ...data.results] : data.results));
    setNext(cursorOf(data.next));
  };

  useEffect(() => { setRows(null); setNext(null); load(null); }, [caseId]);

  // While any export is queued or rendering, re-read those (one request each, for the rows shown).
  const active = (rows ?? []).filter(isActive).map((e) => e.id).join(",");
  useEffect(() => {
    if (!active) return;
    let live = true;
    const t = setTimeout(async () => {
      const ids = active.split(",").map(Number);
      const fresh = await Promise.all(ids.map((id) => api.GET("/api/v1/exports/{id}/", { params: { path: { id } } })
        .then(({ data }) => data).catch(() => undefined)));
      if (!live) return;
      const byId = new Map(fresh.filter((e): e is Export => !!e).map((e) => [e.id, e]));
      setRows((r) => (r ?? []).map((e) => byId.get(e.id) ?? { ...e }));
    }, EXPORT_POLL_MS);
    return () => { live = false; clearTimeout(t); };
  }, [active, rows]);

  const title = (id: number | null) => (id == null ? "—" : cases.find((c) => c.id === id)?.title ?? `Case ${id}`);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!rows) return <p class="muted">Loading…</p>;
  if (!rows.length) return <p class="muted">{caseId != null ? "No exports in this case." : "No exports yet."}</p>;
  return (
    <>
      <table data-testid="exports">
        <thead><tr>
          <th scope="col">Export</th><th scope="col">Camera</th><th scope="col">Range</th><th scope="col">Masking</th>
          <th scope="col">Status</th><th scope="col">Size</th><th scope="col">SHA-256</th><th scope="col">Case</th>
          <th scope="col">Files</th>
        </tr></thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id} data-testid="export-row" data-export={e.id} data-status={e.status}>
              <th scope="row">#{e.id}<div class="muted small">{formatTime(e.created_at)}{e.created_by ? ` · ${e.created_by}` : ""}</div></th>
              <td>{e.camera_name}</td>
              <td>{rangeLabel(e.start, e.end)}</td>
              <td>{maskingName(e.masking)}{e.burn_boxes ? <div class="muted small">boxes burnt in</div> : null}</td>
              <td>
                <span class={e.status === "failed" ? "error" : e.status === "done" ? "ok" : ""}>{exportStatusLabel(e)}</span>
                {isActive(e) && (
                  <progress max={1} value={e.status === "rendering" ? e.progress : undefined}
                    aria-label={`Export #${e.id} progress`} aria-valuetext={percent(e.progress)} />
                )}
                {e.expired_at && <div class="muted small">expired {formatTime(e.expired_at)}</div>}
              </td>
              <td>{e.status === "done" ? formatBytes(e.size_bytes) : "—"}</td>
              <td>{e.sha256 ? <code title={e.sha256} data-testid="sha">{shortHash(e.sha256)}</code> : "—"}</td>
              <td>{title(e.case)}</td>
              <td class="row">
                {e.download_url ? (
                  <AuthLink href={e.download_url} filename={`sightline-export-${e.id}.mp4`} label={`Download export #${e.id}`}>
                    Download</AuthLink>
                ) : <span class="muted">—</span>}
                {e.manifest_url && <AuthLink href={e.manifest_url} label={`Manifest of export #${e.id}`}>Manifest</AuthLink>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && <p><button type="button" onClick={() => load(next)}>Load more exports</button></p>}
    </>
  );
}

function Cases({ cases, onChange, caseId, onFilter, error }: {
  cases: Case[] | null; onChange(c: Case | null): void; caseId: number | null; onFilter(id: number | null): void;
  error: string | null;
}) {
  const [title, setTitle] = useState("");
  const [note, setNote] = useState("");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState<number | "new" | null>(null);

  const create = async (e: Event) => {
    e.preventDefault();
    if (!title.trim()) { setMsg({ ok: false, text: "Give the case a title." }); return; }
    setBusy("new");
    const { data, error: err, response } = await api.POST("/api/v1/cases/", { body: { title: title.trim(), note } })
      .catch(() => ({ data: undefined, error: undefined, response: { status: 0 } as Response }));
    setBusy(null);
    if (!data) { setMsg({ ok: false, text: drfMessage(err, response.status) }); return; }
    setTitle(""); setNote("");
    setMsg({ ok: true, text: `Case “${data.title}” created.` });
    onChange(data);
  };

  const flip = async (c: Case) => {
    setBusy(c.id);
    const path = { params: { path: { id: c.id } } };
    const { data, error: err, response } = await (c.is_open
      ? api.POST("/api/v1/cases/{id}/close/", path) : api.POST("/api/v1/cases/{id}/reopen/", path))
      .catch(() => ({ data: undefined, error: undefined, response: { status: 0 } as Response }));
    setBusy(null);
    if (!data) { setMsg({ ok: false, text: drfMessage(err, response.status) }); return; }
    setMsg({ ok: true, text: `Case “${data.title}” ${data.is_open ? "reopened" : "closed"}.` });
    onChange(data);
  };

  return (
    <section aria-labelledby="cases-h" class="cases">
      <h2 id="cases-h">Cases</h2>
      <form class="panel row case-form" onSubmit={create} aria-label="New case">
        <div class="field">
          <label for="c-title">Title</label>
          <input id="c-title" type="text" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </div>
        <div class="field grow">
          <label for="c-note">Note</label>
          <textarea id="c-note" rows={1} maxLength={10000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
        </div>
        <button type="submit" class="primary" disabled={busy === "new"}>Create case</button>
      </form>
      <p aria-live="polite" class={msg?.ok ? "ok" : "error"} data-testid="case-message">{msg?.text ?? ""}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {!cases ? <p class="muted">Loading…</p> : !cases.length ? <p class="muted">No cases yet.</p> : (
        <table data-testid="cases">
          <thead><tr><th scope="col">Case</th><th scope="col">Note</th><th scope="col">State</th><th scope="col">Exports</th>
            <th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {cases.map((c) => (
              <tr key={c.id} data-testid="case-row" data-case={c.id} data-open={String(c.is_open)}>
                <th scope="row">{c.title}</th>
                <td class="note">{c.note || <span class="muted">—</span>}</td>
                <td>
                  <span class={`state ${c.is_open ? "open" : "closed"}`}>{c.is_open ? "Open" : "Closed"}</span>
                  {!c.is_open && c.closed_at && (
                    <div class="muted small">{formatTime(c.closed_at)}{c.closed_by ? ` by ${c.closed_by}` : ""}</div>
                  )}
                </td>
                <td>{c.exports.length}</td>
                <td>{formatTime(c.created_at)}{c.created_by ? <div class="muted small">{c.created_by}</div> : null}</td>
                <td class="row">
                  <button type="button" disabled={busy === c.id} onClick={() => flip(c)}
                    aria-label={`${c.is_open ? "Close" : "Reopen"} case ${c.title}`}>{c.is_open ? "Close" : "Reopen"}</button>
                  <button type="button" aria-pressed={caseId === c.id} onClick={() => onFilter(caseId === c.id ? null : c.id)}
                    aria-label={`Show exports of case ${c.title}`}>Show exports</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ExportsPage({ search }: { search: string }) {
  const caseId = caseFilter(search);
  const [cases, setCases] = useState<Case[] | null>(null);
  const [casesError, setCasesError] = useState<string | null>(null);

  useEffect(() => {
    // Every case, following the cursor (a case list is short).
    (async () => {
      const all: Case[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 20; i++) {
        const { data, error: err, response } = await api.GET("/api/v1/cases/", { params: { query: cursor ? { cursor } : {} } });
        if (!data) { setCasesError(drfMessage(err, response.status)); break; }
        all.push(...data.results);
        cursor = cursorOf(data.next);
        if (!cursor) break;
      }
      setCases(all);
    })().catch(() => setCasesError("Network error: the cases could not be read."));
  }, []);

  const filter = (id: number | null) => navigate(id == null ? "/exports" : `/exports?case=${id}`);
  const changed = (c: Case | null) => {
    if (!c) return;
    setCases((cs) => {
      const list = cs ?? [];
      return list.some((x) => x.id === c.id) ? list.map((x) => (x.id === c.id ? c : x)) : [c, ...list];
    });
  };

  return (
    <div>
      <h1>Exports</h1>
      <div class="row">
        <div class="field">
          <label for="e-case">Case</label>
          <select id="e-case" value={caseId == null ? "" : String(caseId)}
            onChange={(e) => filter(e.currentTarget.value ? Number(e.currentTarget.value) : null)}>
            <option value="">All exports</option>
            {(cases ?? []).map((c) => <option value={String(c.id)}>{c.title}{c.is_open ? "" : " (closed)"}</option>)}
            {caseId != null && cases && !cases.some((c) => c.id === caseId) && <option value={String(caseId)}>Case {caseId}</option>}
          </select>
        </div>
      </div>
      <ExportsTable caseId={caseId} cases={cases ?? []} />
      <Cases cases={cases} onChange={changed} caseId={caseId} onFilter={filter} error={casesError} />
    </div>
  );
}
