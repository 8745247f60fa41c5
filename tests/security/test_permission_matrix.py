"""The permission matrix: every route of the URL conf (and the WebSocket) × every persona → the expected
status, with real authentication (API tokens, the admin's session).

The routes come from the URL conf itself: a new route without a rule in :data:`RULES` (or a rule for a
route that no longer exists) fails :func:`test_every_route_has_a_rule`. Personas: anonymous; a viewer and
an operator granted the lobby camera only; an admin. Objects of the vault camera (granted to nobody) are
404 for the viewer and operator, as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from backend.analyze.models import AnalysisRequest
from backend.clips.models import Clip
from backend.exports.models import Case as Case_
from backend.exports.models import Export
from search.models import Sighting
from tests.factories import CameraFactory, UserFactory

PERSONAS = ("anonymous", "viewer", "operator", "admin")
ANON = 403  # DRF answers an unauthenticated API call 403 (session authentication comes first)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(PERSONAS, status)


def signed_in(status: int, *, anonymous: int = ANON, others: int | None = None) -> dict[str, int]:
    seen = status if others is None else others
    return {"anonymous": anonymous, "viewer": seen, "operator": seen, "admin": status}


def at_least(role: str, status: int, *, refused: int = 403, anonymous: int = ANON) -> dict[str, int]:
    order = PERSONAS.index(role)
    return {p: (anonymous if p == "anonymous" else status if PERSONAS.index(p) >= order else refused)
            for p in PERSONAS}


@dataclass(frozen=True)
class Case:
    """One request: which route, which object (``lobby`` or ``vault``), which method and body."""

    name: str
    method: str = "get"
    target: str = ""
    body: Any = None
    expected: dict[str, int] | None = None
    format: str = "json"


#: Route name → the requests made of it. Lobby objects are visible to the viewer and operator; vault ones
#: to the admin alone (404 for the others, never 403: a camera they may not see does not exist for them).
RULES: dict[str, list[Case]] = {
    "healthz": [Case("healthz", expected=everyone(200))],
    "readyz": [Case("readyz", expected=everyone(200))],
    # Off unless SIGHTLINE_METRICS_TOKEN is set; then only that bearer token opens it (tests/test_metrics.py).
    "metrics": [Case("metrics", expected=everyone(404))],
    "home": [Case("home", expected=everyone(200))],
    "spa": [Case("spa", expected=everyone(200))],
    "v1:api-root": [Case("v1:api-root", expected=signed_in(200))],
    "v1:token": [Case("v1:token", expected=everyone(405)),
                 Case("v1:token", "post", body={}, expected=everyone(400))],
    "v1:session": [Case("v1:session", "post", expected=signed_in(200, anonymous=401)),
                   Case("v1:session", "delete", expected=everyone(204))],
    "v1:me": [Case("v1:me", expected=signed_in(200))],
    "v1:search": [Case("v1:search", expected=signed_in(200))],
    "v1:events": [Case("v1:events", expected=signed_in(200))],
    "v1:schema": [Case("v1:schema", expected=signed_in(200))],
    "v1:audit": [Case("v1:audit", expected=at_least("admin", 200))],
    "v1:analysis-queue": [Case("v1:analysis-queue", expected=signed_in(200))],
    "v1:sighting": [Case("v1:sighting", target="lobby", expected=signed_in(200)),
                    Case("v1:sighting", target="vault", expected=signed_in(200, others=404))],
    "v1:sighting-thumbnail": [
        Case("v1:sighting-thumbnail", target="lobby", expected=signed_in(200)),
        Case("v1:sighting-thumbnail", target="vault", expected=signed_in(200, others=404))],
    "v1:sighting-track": [
        Case("v1:sighting-track", target="lobby", expected=signed_in(200)),
        Case("v1:sighting-track", target="vault", expected=signed_in(200, others=404))],
    "v1:sighting-similar": [
        Case("v1:sighting-similar", target="lobby", expected=signed_in(200)),
        Case("v1:sighting-similar", target="vault", expected=signed_in(200, others=404))],
    "v1:camera-list": [Case("v1:camera-list", expected=signed_in(200)),
                       Case("v1:camera-list", "post", body={}, expected=at_least("admin", 400))],
    "v1:camera-detail": [
        Case("v1:camera-detail", target="lobby", expected=signed_in(200)),
        Case("v1:camera-detail", target="vault", expected=signed_in(200, others=404)),
        Case("v1:camera-detail", "patch", target="lobby", body={}, expected=at_least("admin", 200)),
        Case("v1:camera-detail", "delete", target="lobby", expected=at_least("admin", 409))],
    "v1:camera-gaps": [Case("v1:camera-gaps", target="lobby", expected=signed_in(200)),
                       Case("v1:camera-gaps", target="vault", expected=signed_in(200, others=404))],
    "v1:camera-test": [Case("v1:camera-test", "post", target="lobby", expected=at_least("admin", 200))],
    # Live view (backend/recorder/live_api.py): the matrix's cameras do not stream, so one the persona may see
    # answers 409 (it has no live view), one it may not see 404 (tests/recorder/test_live_view.py streams).
    "v1:camera-live-playlist": [
        Case("v1:camera-live-playlist", target="lobby", expected=signed_in(409)),
        Case("v1:camera-live-playlist", target="vault", expected=signed_in(409, others=404))],
    "v1:camera-live-segment": [
        Case("v1:camera-live-segment", target="lobby", expected=signed_in(409)),
        Case("v1:camera-live-segment", target="vault", expected=signed_in(409, others=404))],
    "v1:clip-list": [Case("v1:clip-list", expected=signed_in(200)),
                     Case("v1:clip-list", "post", body={}, format="multipart",
                                          expected=at_least("operator", 400))],
    "v1:clip-detail": [Case("v1:clip-detail", target="lobby", expected=signed_in(200)),
                       Case("v1:clip-detail", target="vault", expected=signed_in(200, others=404))],
    "v1:clip-video": [Case("v1:clip-video", target="lobby", expected=signed_in(200)),
                      Case("v1:clip-video", target="vault", expected=signed_in(200, others=404))],
    "v1:clip-playback": [Case("v1:clip-playback", target="lobby", expected=signed_in(200)),
                         Case("v1:clip-playback", target="vault", expected=signed_in(200, others=404))],
    # Exports and cases: operators and admins only; a vault export does not exist for the operator.
    "v1:export-list": [Case("v1:export-list", expected=at_least("operator", 200)),
                       Case("v1:export-list", "post", body={}, expected=at_least("operator", 400))],
    "v1:export-detail": [
        Case("v1:export-detail", target="lobby", expected=at_least("operator", 200)),
        Case("v1:export-detail", target="vault", expected={**at_least("operator", 404), "admin": 200})],
    "v1:export-download": [
        Case("v1:export-download", target="lobby", expected=at_least("operator", 200)),
        Case("v1:export-download", target="vault", expected={**at_least("operator", 404), "admin": 200})],
    "v1:export-manifest": [
        Case("v1:export-manifest", target="lobby", expected=at_least("operator", 200)),
        Case("v1:export-manifest", target="vault", expected={**at_least("operator", 404), "admin": 200})],
    "v1:case-list": [Case("v1:case-list", expected=at_least("operator", 200)),
                     Case("v1:case-list", "post", body={}, expected=at_least("operator", 400))],
    "v1:case-detail": [Case("v1:case-detail", target="lobby", expected=at_least("operator", 200)),
                       Case("v1:case-detail", "patch", target="lobby", body={}, expected=at_least("operator", 200))],
    "v1:case-close": [Case("v1:case-close", "post", target="lobby", expected=at_least("operator", 200))],
    "v1:case-reopen": [Case("v1:case-reopen", "post", target="lobby", expected=at_least("operator", 200))],
    # Synchronous analysis: operators and admins; a request is its requester's (the lobby one is the operator's,
    # the vault one the admin's) and every admin's: another operator's reads as unknown.
    "v1:analyze-list": [Case("v1:analyze-list", "post", body={}, format="multipart",
                             expected=at_least("operator", 400)),
                        Case("v1:analyze-list", expected=at_least("operator", 405))],
    "v1:analyze-detail": [
        Case("v1:analyze-detail", target="lobby", expected=at_least("operator", 200)),
        Case("v1:analyze-detail", target="vault", expected={**at_least("operator", 404), "admin": 200})],
    # Every page of the Django admin: staff (the admin role) only; everyone else goes to its login page.
    "admin:*": [],
}
#: The WebSocket: anonymous connections are refused; every signed-in persona may listen (to its cameras).
WEBSOCKET = {"anonymous": False, "viewer": True, "operator": True, "admin": True}


def route_names() -> set[str]:
    def walk(patterns: list[Any], namespace: str | None) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = pattern.name or f"<unnamed {pattern.pattern}>"
                yield f"{namespace}:{name}" if namespace else name

    return set(walk(get_resolver().url_patterns, None))


def test_every_route_has_a_rule():
    names = route_names()
    admin = {n for n in names if n.startswith("admin:")}
    assert admin, "the admin's routes are found"
    ruled = set(RULES) - {"admin:*"}
    assert names - admin - ruled == set(), "routes without a rule in the permission matrix"
    assert ruled - names == set(), "rules for routes that no longer exist"


@pytest.fixture
def world(own_media):
    """Two cameras, a clip and a sighting on each, and the personas (tests ask for the database first)."""
    lobby, vault = CameraFactory(name="Lobby"), CameraFactory(name="Vault")
    users = {"viewer": UserFactory(username="m-viewer", role="viewer"),
             "operator": UserFactory(username="m-operator", role="operator"),
             "admin": UserFactory(username="m-admin", role="admin", is_staff=True)}
    for user in (users["viewer"], users["operator"]):
        lobby.granted_users.add(user)
    objects: dict[str, dict[str, int]] = {}
    case = Case_.objects.create(title="matrix")
    for n, camera in enumerate((lobby, vault), start=1):
        # Unmasked footage: the matrix is about who may see what; masking has its own tests (tests/exports).
        camera.privacy_mask = "none"
        camera.save()
        name = default_storage.save(f"clips/{camera.pk}/m.mp4", ContentFile(b"\0" * 64))
        clip = Clip.objects.create(camera=camera, file=name, started_at=timezone.now(), status=Clip.Status.DONE)
        thumb = default_storage.save(f"thumbnails/{clip.pk}/000000000-000.jpg", ContentFile(b"\xff\xd8jpeg"))
        Sighting.objects.create(id=100 + n, camera_id=camera.pk, label="person", confidence=0.9, start_ms=0,
                                end_ms=1, best_ms=0, best_seq=1, best_clip_id=clip.pk, best_offset_ms=0, x1=0,
                                y1=0, x2=1, y2=1, model="m", thumbnail=thumb)
        exported = default_storage.save(f"exports/{camera.pk}/m.mp4", ContentFile(b"\0" * 64))
        export = Export.objects.create(camera=camera, start=timezone.now(), end=timezone.now(), masking="faces",
                                       status=Export.Status.DONE, file=exported, manifest={"export": n}, case=case)
        key = "lobby" if camera is lobby else "vault"
        analysis = AnalysisRequest.objects.create(
            requested_by=users["operator" if camera is lobby else "admin"], kind="image", status="done",
            result={"kind": "image", "model": "m", "width": 1, "height": 1, "detections": []})
        objects[key] = {"camera": camera.pk, "clip": clip.pk, "sighting": 100 + n, "export": export.pk,
                        "case": case.pk, "analyze": analysis.pk}
    return users, objects


def _url(case: Case, objects: dict[str, dict[str, int]]) -> str:
    if case.name == "spa":
        return "/live/"
    if not case.target:
        return reverse(case.name)
    ids = objects[case.target]
    if case.name == "v1:camera-live-segment":
        return reverse(case.name, kwargs={"pk": ids["camera"], "name": "s1.ts"})
    if case.name.startswith("v1:sighting"):
        return reverse(case.name, kwargs={"sighting_id": ids["sighting"]})
    kind = case.name.removeprefix("v1:").split("-")[0]
    return reverse(case.name, kwargs={"pk": ids[kind]})


def _client(persona: str, users: dict[str, Any]) -> APIClient:
    client = APIClient()
    if persona != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(users[persona])[1]}")
    return client


def test_the_api_matrix(db, world):
    users, objects = world
    failures, checked = [], 0
    for cases in RULES.values():
        for case in cases:
            for persona in PERSONAS:
                response = getattr(_client(persona, users), case.method)(
                    _url(case, objects), case.body, format=case.format)
                checked += 1
                expected = case.expected[persona]  # type: ignore[index]
                if response.status_code != expected:
                    failures.append(f"{case.method.upper()} {case.name} {case.target} as {persona}: "
                                    f"{response.status_code}, expected {expected}")
    print(f"API matrix: {checked} requests")
    assert not failures, "\n".join(failures)


def _admin_urls() -> Iterator[tuple[str, str]]:
    """(name, URL) of every admin route, with the ids of real objects filled in."""
    from django.apps import apps
    from django.contrib import admin

    site = admin.site
    yield "admin:index", reverse("admin:index")
    for model in site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        obj = model._default_manager.first()
        for suffix in ("changelist", "add"):
            yield f"admin:{info[0]}_{info[1]}_{suffix}", reverse(f"admin:{info[0]}_{info[1]}_{suffix}")
        if obj is not None:
            for suffix in ("change", "history", "delete"):
                yield (f"admin:{info[0]}_{info[1]}_{suffix}",
                       reverse(f"admin:{info[0]}_{info[1]}_{suffix}", args=[obj.pk]))
    for app in {m._meta.app_label for m in site._registry}:
        yield "admin:app_list", reverse("admin:app_list", kwargs={"app_label": app})
    assert apps.ready


def test_the_admin_matrix(db, world):
    """Non-staff personas (and anonymous) are sent to the admin's login page from every admin page; the
    admin gets every page (or a 403 where a model is read-only, a 404 for an app it may not see), never a
    server error."""
    from django.test import Client

    users, _ = world
    checked, failures = 0, []
    login = reverse("admin:login")
    for persona in PERSONAS:
        client = Client()
        if persona != "anonymous":
            client.force_login(users[persona])
        for name, url in _admin_urls():
            response = client.get(url)
            checked += 1
            if persona == "admin":
                # 404: an app none of whose models the admin role may see (django-axes' records).
                ok = (response.status_code in (200, 403)
                      or (name == "admin:app_list" and response.status_code == 404)
                      or (response.status_code == 302 and not response["Location"].startswith(login)))
            else:
                ok = response.status_code == 302 and response["Location"].startswith(login)
            if not ok:
                failures.append(f"{name} {url} as {persona}: {response.status_code}")
    print(f"admin matrix: {checked} requests")
    assert not failures, "\n".join(failures)


def test_the_websocket_matrix(transactional_db, world):
    from backend.sightline.asgi import application

    users, _ = world

    async def connects(token: str | None) -> bool:
        path = "/ws/detections/" + (f"?token={token}" if token else "")
        communicator = WebsocketCommunicator(application, path)
        connected, _ = await communicator.connect(timeout=10)
        await communicator.disconnect()
        return bool(connected)

    for persona, allowed in WEBSOCKET.items():
        token = None if persona == "anonymous" else AuthToken.objects.create(users[persona])[1]
        assert async_to_sync(connects)(token) is allowed, persona
