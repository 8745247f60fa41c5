"""Serves the single-page app (frontend/) at ``/`` and at its client-side routes.

Vite builds ``frontend/dist/`` with content-hashed file names and writes ``dist/.vite/manifest.json``; this
view reads the manifest (cached until the file changes) and renders ``index.html`` with the entry's script and
style sheets. The files themselves are served under ``STATIC_URL`` by WhiteNoise (``STATICFILES_DIRS``).
Written here rather than taking ``django-vite``: one entry, no dev-server integration needed, 40 lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

MANIFEST = Path(settings.BASE_DIR) / "frontend" / "dist" / ".vite" / "manifest.json"
ENTRY = "index.html"
# Client-side routes the SPA handles; Django answers them with the same page so deep links and reloads work.
KNOWN_ROUTES = re.compile(r"^(?:login|live|upload|cameras|cameras/\d+/live|exports|sightings/\d+)/?$")
# Every other path outside the server's own prefixes also gets the SPA (with status 404), which shows its own
# "page not found" with a way back, instead of Django's bare "Not Found".
ROUTE_PATTERN = r"^(?!(?:api|admin|static|media|ws)(?:/|$)).+$"

_cache: dict[str, Any] = {"mtime": None, "assets": None}


def spa_assets(manifest: Path = MANIFEST) -> dict[str, list[str]] | None:
    """``{"js": [...], "css": [...]}`` URLs of the built entry, or ``None`` when the front end is not built."""
    try:
        mtime = manifest.stat().st_mtime_ns
    except OSError:
        return None
    if _cache["mtime"] == mtime and manifest == MANIFEST:
        return _cache["assets"]  # type: ignore[no-any-return]
    data = json.loads(manifest.read_text(encoding="utf-8"))
    entry = data.get(ENTRY) or next((c for c in data.values() if c.get("isEntry")), None)
    if entry is None:
        return None
    css = list(entry.get("css", []))
    for imported in entry.get("imports", []):
        css.extend(data.get(imported, {}).get("css", []))
    prefix = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
    assets = {"js": [prefix + entry["file"]], "css": [prefix + c for c in dict.fromkeys(css)],
              "preload": [prefix + data[i]["file"] for i in entry.get("imports", []) if i in data]}
    if manifest == MANIFEST:
        _cache.update(mtime=mtime, assets=assets)
    return assets


@never_cache
@ensure_csrf_cookie
def spa_view(request: HttpRequest, **kwargs: object) -> HttpResponse:
    assets = spa_assets()
    known = request.path_info in ("", "/") or KNOWN_ROUTES.match(request.path_info.lstrip("/"))
    status = 404 if not known else 200 if assets else 503
    return render(request, "index.html", {"spa": assets}, status=status)
