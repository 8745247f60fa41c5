"""WebSocket URL routes (mounted by ``backend.sightline.asgi``)."""

from __future__ import annotations

from django.urls import path

from .consumers import DetectionFeedConsumer

websocket_urlpatterns = [
    path("ws/detections/", DetectionFeedConsumer.as_asgi()),
]
