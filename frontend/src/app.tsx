import { useEffect, useRef, useState } from "preact/hooks";
import { api, auth, logout, type Me, onSignedInElsewhere, onUnauthorized, resume } from "./api/client";
import { CameraLivePage } from "./pages/CameraLive";
import { CamerasPage } from "./pages/Cameras";
import { ExportsPage } from "./pages/Exports";
import { LivePage } from "./pages/Live";
import { LoginPage } from "./pages/Login";
import { SearchPage } from "./pages/Search";
import { SightingPage } from "./pages/Sighting";
import { UploadPage } from "./pages/Upload";
import { mayExport } from "./lib/exports";
import { linkClick, matchRoute, navigate, onNavigate } from "./lib/router";

const NAV = [["/", "Search", "search"], ["/live", "Live", "live"], ["/upload", "Upload", "upload"],
  ["/cameras", "Cameras", "cameras"]] as const;
const TITLES: Record<string, string> = {
  search: "Search", live: "Live", upload: "Upload", cameras: "Cameras", exports: "Exports",
  notfound: "Page not found",
};

export function App() {
  const [loc, setLoc] = useState({ path: location.pathname, search: location.search });
  // null: a tab without a token of its own, asking whether the browser's session signs it in.
  const [authed, setAuthed] = useState<boolean | null>(auth.token ? true : null);
  const [me, setMe] = useState<Me | null>(null);

  useEffect(() => {
    // The app scrolls itself: to the top on a new page, kept on a step between results, restored by Search.
    history.scrollRestoration = "manual";
    return onNavigate((n) => {
      setLoc({ path: location.pathname, search: location.search });
      if (n.scroll) window.scrollTo(0, 0);
    });
  }, []);
  useEffect(() => onUnauthorized(() => setAuthed(false)), []);
  // Signed in here: the focus goes to the page (the login form it was in is gone), where Tab goes on.
  const signedInHere = useRef(false);
  useEffect(() => {
    if (authed && signedInHere.current) { signedInHere.current = false; document.getElementById("main")?.focus(); }
  }, [authed]);
  const tryResume = () => resume().then((m) => { if (m) setMe(m); setAuthed(!!m); });
  useEffect(() => { if (authed === null) tryResume(); }, []);
  useEffect(() => onSignedInElsewhere(() => { if (!auth.token) tryResume(); }), []);
  useEffect(() => {
    if (!authed) { setMe(null); return; }
    if (me) return;
    api.GET("/api/v1/me/").then(({ data }) => data && setMe(data));
  }, [authed]);

  const route = matchRoute(loc.path);
  useEffect(() => { if (TITLES[route.name]) document.title = `${TITLES[route.name]} · Sightline`; }, [route.name]);

  if (authed === null) return <main><p class="muted" aria-live="polite">Loading…</p></main>;
  if (!authed || route.name === "login") {
    const onLogin = () => {
      signedInHere.current = true;
      setAuthed(true);
      if (route.name === "login") navigate("/", { replace: true });
    };
    return <LoginPage onLogin={onLogin} />;
  }
  let page;
  switch (route.name) {
    case "search": page = <SearchPage search={loc.search} />; break;
    case "sighting": page = <SightingPage id={route.id} search={loc.search} me={me} />; break;
    case "live": page = <LivePage />; break;
    case "upload": page = <UploadPage />; break;
    case "cameras": page = <CamerasPage me={me} />; break;
    case "camera-live": page = <CameraLivePage id={route.id} me={me} />; break;
    case "exports":
      page = !me ? <p class="muted">Loading…</p> : mayExport(me.role) ? <ExportsPage search={loc.search} />
        : <p class="error" role="alert">Only operators and admins may see exports and cases.</p>;
      break;
    default: page = <NotFound path={loc.path} />;
  }
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/" onClick={linkClick}>Sightline</a>
        <nav aria-label="Main">
          {NAV.map(([href, label, name]) => (
            <a href={href} onClick={linkClick} aria-current={route.name === name || (name === "search" && route.name === "sighting")
              || (name === "cameras" && route.name === "camera-live") ? "page" : undefined}>{label}</a>
          ))}
          {mayExport(me?.role) && (
            <a href="/exports" onClick={linkClick} aria-current={route.name === "exports" ? "page" : undefined}>Exports</a>
          )}
          {me?.role === "admin" && <a href="/admin/">Admin</a>}
        </nav>
        <div class="who">
          <span data-testid="whoami">{me ? `${me.username} (${me.role})` : ""}</span>
          <button type="button" onClick={async () => { await logout(); setAuthed(false); }}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </>
  );
}

/** The SPA's own 404: the server answers unknown paths with this app (status 404), so say so and offer a way on. */
function NotFound({ path }: { path: string }) {
  return (
    <section class="panel notfound" aria-labelledby="nf-h">
      <h1 id="nf-h">Page not found</h1>
      <p>There is no page at <code>{path}</code>. The link may be mistyped or out of date.</p>
      <p><a href="/" onClick={linkClick}>Go to Search</a></p>
    </section>
  );
}
