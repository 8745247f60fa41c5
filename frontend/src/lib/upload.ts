/** Multipart upload with progress events (fetch has no upload progress; XMLHttpRequest does). */
import { errorMessage } from "./format";

export interface UploadResult<T> { ok: boolean; status: number; body: T | null; message: string }

export function uploadWithProgress<T>(url: string, form: FormData, headers: Record<string, string>,
  onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<UploadResult<T>> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body: unknown = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = xhr.responseText || null; }
      const ok = xhr.status >= 200 && xhr.status < 300;
      resolve({ ok, status: xhr.status, body: ok ? (body as T) : null,
        message: ok ? "" : errorMessage(body, `Upload failed (${xhr.status})`) });
    };
    xhr.onerror = () => resolve({ ok: false, status: 0, body: null, message: "Network error: the upload did not reach the server." });
    xhr.onabort = () => resolve({ ok: false, status: 0, body: null, message: "Upload cancelled." });
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}
