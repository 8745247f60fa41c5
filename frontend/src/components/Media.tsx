import { useEffect, useState } from "preact/hooks";
import { mediaUrl } from "../api/client";

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
