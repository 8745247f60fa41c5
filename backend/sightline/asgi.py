"""ASGI entry point: HTTP through the upload gate to Django, WebSockets through Channels (``backend.live``).

HTTP passes :class:`~backend.sightline.upload_gate.UploadGate` first: a large body is refused (413, or 401
without a login) before Django would read it.

WebSockets pass the origin check (``AllowedHostsOriginValidator``; token clients without ``Origin`` are let
through, see ``backend.live.auth``), then cookie-session auth, then ``?token=`` auth.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings")
# Django must be set up before anything that imports models (the consumers) is imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backend.live.auth import websocket_auth  # noqa: E402
from backend.live.routing import websocket_urlpatterns  # noqa: E402
from backend.sightline.upload_gate import UploadGate  # noqa: E402

application = ProtocolTypeRouter({
    "http": UploadGate(django_asgi_app),
    "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
})
