"""Point this test process's Celery app at a real broker for a while (instead of running tasks eagerly)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from backend.sightline.celery import app


def _drop_connections() -> None:
    """Forget every broker connection and producer (kombu keeps producer pools in a registry of its own)."""
    from kombu import pools

    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextlib.contextmanager
def publishing_to(url: str | None = None, options: dict | None = None) -> Iterator[None]:
    """Tasks are sent to ``url`` (default: the broker the settings name) and not run in this process."""
    previous = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "broker_transport_options")}
    update: dict[str, object] = {"task_always_eager": False}
    if url is not None:
        update.update(broker_url=url, broker_transport_options=options or {})
    app.conf.update(update)
    _drop_connections()
    try:
        yield
    finally:
        app.conf.update(previous)
        _drop_connections()
