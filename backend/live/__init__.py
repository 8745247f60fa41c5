"""The live detection feed: a WebSocket projection of the event log (``ws /ws/detections/``)."""
