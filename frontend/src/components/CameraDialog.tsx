import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Camera } from "../api/client";
import { errorMessage } from "../lib/format";

/** A modal dialog (the platform's <dialog>: focus is trapped, Escape closes it) titled by its heading. */
export function Modal({ title, onClose, children, testId }: {
  title: string; onClose(): void; children: ComponentChildren; testId: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} class="cam-dialog" aria-labelledby={`${testId}-h`} data-testid={testId}
      onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id={`${testId}-h`}>{title}</h2>
      {children}
    </dialog>
  );
}

type FieldErrors = Partial<Record<string, string>>;

/** DRF's 400 body as one message per field; what names no field of the form goes to `_`. */
function fieldErrors(body: unknown, fields: string[]): FieldErrors {
  if (!body || typeof body !== "object" || Array.isArray(body)) return { _: errorMessage(body) };
  const out: FieldErrors = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (fields.includes(k)) out[k] = errorMessage(v);
    else rest[k] = v;
  }
  if (Object.keys(rest).length) out._ = errorMessage(rest);
  return out;
}

const FIELDS = ["name", "site", "stream_address", "username", "password", "analysis_fps", "enabled"];

/**
 * Add or edit a camera (admins), on the cameras API: name, site, stream address, user name, password, analysis
 * rate, enabled. The address is checked by the API as everywhere (backend/cameras/addresses.py) and its message
 * shown at the field. The password is write-only: never shown, left empty it is kept, and "Remove the password"
 * clears it; it leaves the page only in the request that sets it. Grants, retention, masking and tracked
 * objects stay in the Django admin.
 */
export function CameraDialog({ camera, onClose, onSaved }: {
  camera: Camera | null; onClose(): void; onSaved(c: Camera): void;
}) {
  const [name, setName] = useState(camera?.name ?? "");
  const [site, setSite] = useState(camera?.site ?? "");
  const [address, setAddress] = useState(camera?.stream_address ?? "");
  const [username, setUsername] = useState(camera?.username ?? "");
  const [password, setPassword] = useState("");
  const [clearPassword, setClearPassword] = useState(false);
  const [fps, setFps] = useState(String(camera?.analysis_fps ?? 2));
  const [enabled, setEnabled] = useState(camera?.enabled ?? true);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    const body = {
      name: name.trim(), site: site.trim(), stream_address: address.trim(), username: username.trim(),
      analysis_fps: Number(fps), enabled,
      ...(clearPassword ? { password: "" } : password ? { password } : {}),
    };
    const r = camera
      ? await api.PATCH("/api/v1/cameras/{id}/", { params: { path: { id: camera.id } }, body })
      : await api.POST("/api/v1/cameras/", { body });
    setBusy(false);
    if (r.data) { setPassword(""); onSaved(r.data); return; }
    setErrors(r.response.status === 400 ? fieldErrors(r.error, FIELDS)
      : { _: errorMessage(r.error, `Saving failed (${r.response.status})`) });
  };

  const field = (id: string, label: string, input: ComponentChildren, help?: string) => (
    <div class="field">
      <label for={`cam-${id}`}>{label}</label>
      {input}
      {help && <span class="muted small" id={`cam-${id}-help`}>{help}</span>}
      {errors[id] && <span class="error small" id={`cam-${id}-err`} data-testid={`cam-${id}-error`}>{errors[id]}</span>}
    </div>
  );
  const described = (id: string, help: boolean) =>
    [help ? `cam-${id}-help` : "", errors[id] ? `cam-${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  const attrs = (id: string, help = false) => ({
    id: `cam-${id}`, "aria-invalid": errors[id] ? true : undefined, "aria-describedby": described(id, help),
  });

  return (
    <Modal title={camera ? `Edit ${camera.name}` : "Add a camera"} onClose={onClose} testId="camera-dialog">
      <form class="cam-form" onSubmit={submit} noValidate>
        {field("name", "Name", <input {...attrs("name")} required maxLength={100} value={name}
          onInput={(e) => setName(e.currentTarget.value)} />)}
        {field("site", "Site", <input {...attrs("site", true)} maxLength={100} value={site}
          onInput={(e) => setSite(e.currentTarget.value)} />, "Building or area, for grouping.")}
        {field("stream_address", "Stream address", <input {...attrs("stream_address", true)} value={address}
          placeholder="rtsp://192.168.1.64:554/Streaming/101" inputMode="url" spellcheck={false} autoComplete="off"
          onInput={(e) => setAddress(e.currentTarget.value)} />,
        "rtsp:// or rtsps://, without user name or password. Empty: a camera whose footage is uploaded.")}
        {field("username", "User name", <input {...attrs("username")} value={username} autoComplete="off"
          onInput={(e) => setUsername(e.currentTarget.value)} />)}
        {field("password", "Password", <input {...attrs("password", true)} type="password" value={password}
          autoComplete="new-password" disabled={clearPassword} onInput={(e) => setPassword(e.currentTarget.value)} />,
        camera?.has_password ? "A password is set. It is never shown: leave this empty to keep it." : "None set.")}
        {camera?.has_password && (
          <label class="check"><input type="checkbox" checked={clearPassword}
            onChange={(e) => setClearPassword(e.currentTarget.checked)} />Remove the password</label>
        )}
        {field("analysis_fps", "Analysis rate (frames per second)", <input {...attrs("analysis_fps", true)} type="number"
          min="0.1" max="30" step="0.1" value={fps} onInput={(e) => setFps(e.currentTarget.value)} />,
        "How many frames a second the detector looks at: 0.1 to 30.")}
        <label class="check"><input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          Enabled (recorded and analysed)</label>
        {errors.enabled && <span class="error small">{errors.enabled}</span>}
        {errors._ && <p class="error" role="alert">{errors._}</p>}
        {Object.keys(errors).some((k) => k !== "_") && (
          <p class="error" role="alert">Not saved: see the messages at the fields.</p>
        )}
        <div class="row cam-form-buttons">
          <button type="submit" class="primary" disabled={busy}>{camera ? "Save" : "Add camera"}</button>
          <button type="button" onClick={onClose}>Cancel</button>
        </div>
      </form>
    </Modal>
  );
}

/** "Delete <name>?" A camera whose footage is kept cannot be deleted (the API says so, 409): disable it instead. */
export function DeleteCameraDialog({ camera, onClose, onDeleted }: { camera: Camera; onClose(): void; onDeleted(): void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const remove = async () => {
    setBusy(true);
    const { response, error: err } = await api.DELETE("/api/v1/cameras/{id}/", { params: { path: { id: camera.id } } });
    setBusy(false);
    if (response.ok) { onDeleted(); return; }
    setError(errorMessage(err, `Deleting failed (${response.status})`));
  };
  return (
    <Modal title={`Delete ${camera.name}?`} onClose={onClose} testId="delete-dialog">
      <p>The camera, its settings and who may see it are deleted. This cannot be undone. A camera whose footage is
        kept cannot be deleted: disable it instead.</p>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="row">
        <button type="button" class="danger" disabled={busy} onClick={remove}>Delete camera</button>
        <button type="button" onClick={onClose}>Cancel</button>
      </div>
    </Modal>
  );
}
