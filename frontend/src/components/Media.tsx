import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { auth, mediaUrl } from "../api/client";

/** An authenticated image: the API URL with a session, else a blob fetched with the token. */
export function AuthImg({ src, alt, className }: { src: string; alt: string; className?: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const ctl = new AbortController();
    let revoke = () => {};
    mediaUrl(src, ctl.signal).then((m) => { revoke = m.revoke; setUrl(m.url); }).catch(() => setFailed(true));
    return () => { ctl.abort(); revoke(); };
  }, [src]);
  if (failed) return <span class="muted">no picture</span>;
  return url ? <img src={url} alt={alt} class={className} loading="lazy" onError={() => setFailed(true)} /> : null;
}

/**
 * A link to an authenticated file (an export's MP4, its manifest). With a session the browser follows it
 * (the cookie authenticates it); in blob mode a click fetches it with the token and saves or opens the blob.
 */
export function AuthLink({ href, filename, children, label, testId }: {
  href: string; filename?: string; children: ComponentChildren; label?: string; testId?: string;
}) {
  const [error, setError] = useState<string | null>(null);
  const click = async (e: MouseEvent) => {
    if (auth.mediaMode === "session" || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    setError(null);
    try {
      const m = await mediaUrl(href);
      const a = document.createElement("a");
      a.href = m.url;
      if (filename) a.download = filename;
      else a.target = "_blank";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => m.revoke(), 60_000);
    } catch (err) { setError((err as Error).message); }
  };
  return (
    <>
      <a href={href} download={filename} onClick={click} aria-label={label} data-testid={testId}
        target={filename ? undefined : "_blank"} rel={filename ? undefined : "noopener"}>{children}</a>
      {error && <span class="error" role="alert"> {error}</span>}
    </>
  );
}
