/** A tiny History-API router: the routes Django serves the SPA at. */

export type Route =
  | { name: "search" }
  | { name: "sighting"; id: number }
  | { name: "live" }
  | { name: "upload" }
  | { name: "cameras" }
  | { name: "camera-live"; id: number }
  | { name: "exports" }
  | { name: "login" }
  | { name: "notfound" };

export function matchRoute(pathname: string): Route {
  const p = pathname.replace(/\/+$/, "") || "/";
  if (p === "/") return { name: "search" };
  const m = /^\/sightings\/(\d+)$/.exec(p);
  if (m) return { name: "sighting", id: Number(m[1]) };
  if (p === "/live") return { name: "live" };
  if (p === "/upload") return { name: "upload" };
  if (p === "/cameras") return { name: "cameras" };
  const c = /^\/cameras\/(\d+)\/live$/.exec(p);
  if (c) return { name: "camera-live", id: Number(c[1]) };
  if (p === "/exports") return { name: "exports" };
  if (p === "/login") return { name: "login" };
  return { name: "notfound" };
}

/** What a navigation asks of the page: `scroll: false` keeps the scroll position (a step between results). */
export interface Navigation { scroll: boolean }

const listeners = new Set<(n: Navigation) => void>();

export interface NavigateOptions { replace?: boolean; state?: unknown; scroll?: boolean }

/**
 * Go to `to` (pushed, or replacing the current entry). `state` is kept with the history entry (the Sighting page
 * reads whether it was opened from the grid); `scroll: false` asks the app to keep the scroll position.
 */
export function navigate(to: string, opts: NavigateOptions = {}): void {
  if (to === location.pathname + location.search + location.hash) return;
  if (opts.replace) history.replaceState(opts.state ?? null, "", to);
  else history.pushState(opts.state ?? null, "", to);
  listeners.forEach((l) => l({ scroll: opts.scroll ?? true }));
}

/** Called on every navigation: the app's own and the browser's Back/Forward (which scroll to the top; a page that
 * restores its own position, as Search does, does so after). */
export function onNavigate(fn: (n: Navigation) => void): () => void {
  const pop = () => fn({ scroll: true });
  listeners.add(fn);
  window.addEventListener("popstate", pop);
  return () => { listeners.delete(fn); window.removeEventListener("popstate", pop); };
}

/** Click handler for in-app links: plain clicks navigate without a reload; modified clicks open a tab. */
export function linkClick(e: MouseEvent): void {
  linkClickWith({})(e);
}

/** {@link linkClick} navigating with `opts` (a history state, replace, keeping the scroll position). */
export function linkClickWith(opts: NavigateOptions): (e: MouseEvent) => void {
  return (e) => {
    const a = (e.currentTarget as HTMLAnchorElement | null);
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const href = a.getAttribute("href");
    if (!href || !href.startsWith("/") || href.startsWith("/admin") || href.startsWith("/api")) return;
    e.preventDefault();
    navigate(href, opts);
  };
}
