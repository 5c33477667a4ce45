"""The router's long-lived parts, built once per process and handed to every front end.

Holds references only; it owns no behaviour. ``router.app`` builds it and closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from router.auth import Keys
from router.config import RouterSettings
from router.queues import QueueBoard
from router.registry import Registry

if TYPE_CHECKING:
    from router.dispatch import Pipeline
    from router.events import EventHub
    from router.store import TraceStore


@dataclass
class RouterContext:
    settings: RouterSettings
    registry: Registry
    queues: QueueBoard
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    store: TraceStore | None = None
    pipeline: Pipeline | None = None
    events: EventHub | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> Keys:
        s = self.settings
        return Keys(fleet_token=s.fleet_token, api_key=s.api_key, admin_key=s.admin_key)


def build_context(
    settings: RouterSettings, clock: Callable[[], float] = time.time
) -> RouterContext:
    registry = Registry(
        clock,
        degraded_after_s=settings.degraded_after_s,
        offline_after_s=settings.offline_after_s,
        forget_after_s=settings.forget_after_s,
    )
    queues = QueueBoard(clock, max_queue=settings.max_queue_per_model)
    return RouterContext(settings=settings, registry=registry, queues=queues, clock=clock)
