"""The audit trail (``chain``): ``record(action, actor_for(request), target=…, details=…)`` from a view."""

from __future__ import annotations

from typing import Any


def record(action: str, actor: Any, *, target: str = "", details: dict[str, Any] | None = None) -> None:
    from .chain import record as _record

    _record(action, actor, target=target, details=details)


def actor_for(request: Any, user: Any = None) -> Any:
    from .context import actor_for as _actor_for

    return _actor_for(request, user)
