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

const listeners = new Set<() => void>();

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search + location.hash) return;
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((l) => l());
}

export function onNavigate(fn: () => void): () => void {
  listeners.add(fn);
  window.addEventListener("popstate", fn);
  return () => { listeners.delete(fn); window.removeEventListener("popstate", fn); };
}

/** Click handler for in-app links: plain clicks navigate without a reload; modified clicks open a tab. */
export function linkClick(e: MouseEvent): void {
  const a = (e.currentTarget as HTMLAnchorElement | null);
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("/admin") || href.startsWith("/api")) return;
  e.preventDefault();
  navigate(href);
}
