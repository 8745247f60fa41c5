import type Hls from "hls.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { auth, authHeaders, type Camera, type Me } from "../api/client";
import { chooseEngine, type LiveAnswer, type LiveState, playerError, playlistUrl, waitForPlaylist } from "../lib/liveview";
import { maskedBadge } from "../lib/playback";

/** One playlist request (the token in its header, like every API request). */
async function askPlaylist(url: string): Promise<LiveAnswer> {
  const r = await fetch(url, { headers: authHeaders(), credentials: "same-origin" });
  const text = await r.text();
  let body: unknown = text;
  if (r.status !== 200) {
    try { body = JSON.parse(text); } catch { /* not JSON: the text */ }
  }
  return { status: r.status, retryAfter: r.headers.get("Retry-After"), body };
}

/**
 * A camera's live view: waits until the view has started (the playlist answers 202 meanwhile), then plays it
 * with hls.js, which sends the token on every request (playlist and segments) and keeps fetching the playlist
 * (which keeps the view running); natively only where hls.js cannot run and a session cookie authenticates.
 * Masked as the camera says; users who may unmask get a switch, which reloads the stream.
 */
export function LiveVideo({ camera, me }: { camera: Pick<Camera, "id" | "name" | "privacy_mask">; me: Me | null }) {
  const [unmask, setUnmask] = useState(false);
  const [state, setState] = useState<LiveState>({ phase: "starting" });
  const [playing, setPlaying] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const video = useRef<HTMLVideoElement>(null);
  const masking = camera.privacy_mask ?? "none";

  useEffect(() => {
    let live = true;
    let hls: Hls | null = null;
    let media: HTMLVideoElement | null = null;
    setPlaying(false);
    const fail = (error: string) => { if (live) setState({ phase: "failed", error }); };
    const play = async (url: string) => {
      const { default: Player } = await import("hls.js/light"); // a chunk of its own, loaded here only
      const v = video.current;
      if (!live || !v) return;
      media = v;
      const engine = chooseEngine(Player.isSupported(), v.canPlayType("application/vnd.apple.mpegurl") !== "",
        auth.mediaMode);
      if (engine === "native") { v.src = url; return; }
      if (!engine) { fail("This browser cannot play the live view."); return; }
      const h = new Player({
        enableWorker: false, // the page's CSP allows no blob: workers; live segments are small
        xhrSetup: (xhr) => { const t = auth.token; if (t) xhr.setRequestHeader("Authorization", `Token ${t}`); },
      });
      hls = h;
      let recovered = false;
      h.on(Player.Events.MANIFEST_PARSED, () => { void v.play().catch(() => undefined); });
      h.on(Player.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Player.ErrorTypes.MEDIA_ERROR && !recovered) { recovered = true; h.recoverMediaError(); return; }
        h.destroy();
        hls = null;
        fail(playerError(data.response?.code, data.details));
      });
      h.loadSource(url);
      h.attachMedia(v);
    };
    const w = waitForPlaylist({
      url: playlistUrl(camera.id, unmask),
      load: askPlaylist,
      onState: (st) => {
        if (!live) return;
        setState(st);
        if (st.phase === "ready") play(st.url).catch((e) => fail(`The player could not be loaded: ${(e as Error).message}`));
      },
    });
    return () => {
      live = false;
      w.stop();
      hls?.destroy();
      if (media) { media.removeAttribute("src"); media.load(); }
    };
  }, [camera.id, unmask, attempt]);

  const failed = state.phase === "failed";
  return (
    <div class="live-view">
      <div class="row playback-bar">
        {playing && !unmask && masking !== "none" && (
          <span class="badge" data-testid="masked-badge">{maskedBadge(masking)}</span>
        )}
        {playing && unmask && <span class="badge warn" data-testid="unmasked-badge">Unmasked</span>}
        {me?.may_unmask && masking !== "none" && (
          <>
            <label class="check">
              <input type="checkbox" role="switch" checked={unmask} aria-describedby="unmask-note"
                onChange={(e) => setUnmask(e.currentTarget.checked)} data-testid="unmask" />
              Show unmasked
            </label>
            <span id="unmask-note" class="muted small">Each unmasked view is recorded in the audit trail.</span>
          </>
        )}
      </div>
      <div class="player">
        {failed ? (
          <div class="player-status" data-testid="live-failed">
            <p class="error" role="alert">{state.error}</p>
            <button type="button" onClick={() => setAttempt((a) => a + 1)}>Try again</button>
          </div>
        ) : (
          <>
            <video ref={video} muted autoPlay playsInline controls data-testid="live-video"
              aria-label={`Live view of ${camera.name}`} onPlaying={() => setPlaying(true)} />
            {!playing && (
              <div class="player-status live-status" role="status" data-testid="live-status" data-phase={state.phase}>
                Starting…</div>
            )}
          </>
        )}
      </div>
    </div>
  );
}
