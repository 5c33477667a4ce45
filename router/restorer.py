"""Placement over time, carried out: loads models an eviction displaced back onto their node.

Owns ``EvictionRestorer``, a background job (``router.app`` runs ``run_once`` every two
seconds under the supervisor) that asks ``router.scoring.restores`` which displaced models
should come back now, and loads each with an empty ``/api/generate`` (Ollama's way to load a model
without generating), off the request path. A node gets one load at a time, a model on a node is
tried again only after ``RETRY_S``, and nothing happens while the ``restore_evicted`` toggle is
off. Each restore is logged on the console and counted in ``/metrics`` (``herd_restores_total``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from herd_contract.units import GB
from router import model_size
from router.config import RouterSettings
from router.demand import Demand
from router.http_client import HTTPError
from router.metrics import Metrics
from router.queues import QueueBoard
from router.registry import NodeRecord, Registry
from router.scoring import restores, snapshot_from_heartbeat
from router.upstream import Upstream, error_message

log = logging.getLogger("herd.restorer")

RETRY_S = 60.0
"""A restore of the same model on the same node is not tried again sooner."""
LOAD_TIMEOUT_S = 600.0
"""The longest a load may take (a large model from a slow disk)."""


class EvictionRestorer:
    """Bring displaced models back where they ran, once their node is idle with room."""

    def __init__(
        self,
        settings: RouterSettings,
        registry: Registry,
        queues: QueueBoard,
        demand: Demand,
        upstream: Upstream,
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.queues = queues
        self.demand = demand
        self.upstream = upstream
        self.metrics = metrics
        self.clock = clock
        self._tried: dict[tuple[str, str], float] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}
        """node id -> its restore in progress."""

    async def run_once(self) -> list[restores.Restore]:
        """Start the restores due now (each runs on its own); the ones started."""
        if not self.settings.toggles.restore_evicted:
            return []
        now = self.clock()
        records = {
            record.node_id: (record, status)
            for record, status in self.registry.routable(now)
            if record.displaced
        }
        if not records:
            return []
        nodes = [
            snapshot_from_heartbeat(record.heartbeat, state=status)
            for record, status in records.values()
        ]
        due = restores.plan(
            nodes,
            {node_id: record.displaced for node_id, (record, _) in records.items()},
            self.demand.rates(now),
            self.queues.depths(),
            self._busy,
            lambda model: model_size.estimate(model) / GB,
            now,
        )
        started = []
        for restore in due:
            key = (restore.node_id, restore.model)
            if now - self._tried.get(key, float("-inf")) < RETRY_S:
                continue
            self._tried[key] = now
            record = records[restore.node_id][0]
            task = asyncio.create_task(self._load(record, restore))
            self._loading[restore.node_id] = task
            started.append(restore)
        return started

    def _busy(self, node_id: str) -> bool:
        """A restore already loading there, or requests of the router running or queued."""
        return node_id in self._loading or any(
            pending or running
            for (node, _), (pending, running, _) in self.queues.depths().items()
            if node == node_id
        )

    async def _load(self, record: NodeRecord, restore: restores.Restore) -> None:
        node_id, model = restore.node_id, restore.model
        log.info(
            "restoring %s on %s (displaced %.0fs ago, %.1f requests/min)",
            model,
            node_id,
            self.clock() - restore.displaced_at,
            restore.demand_per_s * 60,
            extra={"node_id": node_id, "model": model, "console": True},
        )
        try:
            response = await self.upstream.request_json(
                "POST", record.ollama_url, "/api/generate", {"model": model}, LOAD_TIMEOUT_S
            )
            if response.status_code >= 400:
                raise ValueError(error_message(response.content) or f"HTTP {response.status_code}")
            self.metrics.restored(model, node_id, ok=True)
        except (HTTPError, ValueError) as exc:
            self.metrics.restored(model, node_id, ok=False)
            log.warning(
                "could not restore %s on %s: %s",
                model,
                node_id,
                exc,
                extra={"node_id": node_id, "model": model},
            )
        finally:
            self._loading.pop(node_id, None)

    async def aclose(self) -> None:
        """Stop the loads in progress (the nodes finish or drop them on their own)."""
        tasks = list(self._loading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
