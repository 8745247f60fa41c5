"""Wakes live-feed consumers when the event log grows: :func:`on_log_appended`, a receiver of the event
log's ``log_appended`` signal (connected in :class:`backend.live.apps.LiveConfig`), runs after each commit.

The notification is only a hint. Consumers always read the log itself (pull, not push) and also poll it,
so a lost notification costs latency, never an event. Hence this module must never make an append fail or
stall: channel-layer errors are logged and swallowed, and a send that hangs (an unreachable Redis) is cut
off after :data:`SEND_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

#: The channel-layer group every live-feed consumer joins.
GROUP = "eventlog.appended"
#: Longest an append may wait for the channel layer (it runs after commit, but in the appender's thread).
SEND_TIMEOUT_S = 0.5


async def _send(head: int) -> None:
    layer = get_channel_layer()
    if layer is None:  # No CHANNEL_LAYERS configured: consumers rely on polling.
        return
    await asyncio.wait_for(layer.group_send(GROUP, {"type": "log.appended", "head": head}), SEND_TIMEOUT_S)


def on_log_appended(*, head: int, **_: object) -> None:
    """Tell every consumer (in every process, with the Redis layer) that the log now reaches ``head``."""
    try:
        async_to_sync(_send)(head)
    except Exception:
        # Includes being called from an event loop's own thread, where async_to_sync refuses to run.
        log.warning("live feed: could not notify consumers of log head %s", head, exc_info=True)
