"""Pulling and deleting models on nodes: the plan of a pull, starting it as a job, deleting.

``plan`` reads the nodes' room from the registry and asks ``router.pull_plan`` where a model goes
and whether it fits; ``start`` refuses what cannot fit (``PullRefused``, with the figures) and
otherwise starts a job (``router.pull_jobs``) that outlives the request that asked for it.
``ensure`` is the auto-pull: a model missing everywhere is pulled onto the best-fitting node, once,
however many requests ask for it at the same moment (they all wait for the one job). ``stream`` is
the download itself, the node's progress lines. After a change the node's model list is read back
into the registry so routing sees it at once. Never routes inference.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from herd_contract.heartbeat import AvailableModel
from herd_contract.model_names import normalize
from router import pull_plan
from router.errors import BadRequest, NotFound, UpstreamFailure
from router.http_client import HTTPError
from router.pipeline.pull_jobs import PullJob, PullJobs
from router.pull_plan import NodeRoom, PullPlan
from router.registry import NodeRecord, Registry
from router.upstream import AttemptFailed, Upstream, error_message, iter_lines

log = logging.getLogger("herd.pulls")
PULL_TIMEOUT_S = 3600.0


class PullRefused(BadRequest):
    """A pull that cannot go ahead (no room, node offline); ``plan`` holds the figures."""

    def __init__(self, plan: PullPlan) -> None:
        super().__init__(plan.reason or f"cannot pull {plan.model}")
        self.plan = plan


class PullCoordinator:
    def __init__(self, registry: Registry, upstream: Upstream, clock: Callable[[], float]) -> None:
        self.registry = registry
        self.upstream = upstream
        self.jobs = PullJobs(clock)
        self.pull_count = 0

    def _rooms(self, model: str) -> list[NodeRoom]:
        rooms = []
        for record, status in self.registry.with_status():
            hb = record.heartbeat
            memory = hb.memory.total_bytes or hb.hardware.memory_bytes
            rooms.append(
                NodeRoom(
                    node_id=record.node_id,
                    online=status == "online" and not record.draining,
                    memory_bytes=memory,
                    disk_free_bytes=hb.disk.free_bytes if hb.disk is not None else None,
                    holds=model in record.available_models,
                )
            )
        return rooms

    def _reported_size(self, model: str) -> int | None:
        """The model's file size as a node that holds it reports it."""
        for record in self.registry.records():
            for entry in record.heartbeat.ollama.models_available:
                if normalize(entry.name) == model and entry.size > 0:
                    return entry.size
        return None

    def plan(self, model: str, node_id: str | None) -> PullPlan:
        """Where a pull of ``model`` would go and whether it fits there (``NotFound`` for an
        unknown node)."""
        model = normalize(model)
        if node_id is not None and self.registry.get(node_id) is None:
            raise NotFound(f"unknown node {node_id!r}")
        need = pull_plan.need_of(model, self._reported_size(model))
        return pull_plan.plan(need, self._rooms(model), node_id)

    def start(self, model: str, node_id: str | None, started_by: str) -> PullJob:
        """A running job pulling ``model`` onto ``node_id`` (or the best-fitting node); the job of
        the same pull when one is running. ``PullRefused`` when it cannot fit."""
        model = normalize(model)
        plan = self.plan(model, node_id)
        if not plan.fits or plan.node_id is None:
            raise PullRefused(plan)
        record = self.registry.get(plan.node_id)
        if record is None:
            raise NotFound(f"unknown node {plan.node_id!r}")
        return self.jobs.start(
            model, record.node_id, started_by, lambda: self.stream(record, model)
        )

    async def ensure(self, model: str) -> bool:
        """Pull ``model`` onto the best node unless a pull of it is already running; wait for it."""
        model = normalize(model)
        running = self.jobs.running(model=model)
        if running:
            job = running[0]
        else:
            try:
                job = self.start(model, None, "auto")
            except (PullRefused, NotFound):
                return False
            log.info("auto-pulling %s onto %s", model, job.node_id, extra={"console": True})
        await job.wait()
        return job.state == "done"

    async def stream(self, record: NodeRecord, model: str) -> AsyncGenerator[bytes, None]:
        """Ollama's pull progress lines from ``record``, ending with the node's model list read."""
        self.pull_count += 1
        payload = json.dumps({"model": model, "stream": True}).encode()
        try:
            response = await self.upstream.open(record.ollama_url, "/api/pull", payload)
        except AttemptFailed as exc:
            raise UpstreamFailure(f"pull of {model} on {record.node_id} failed: {exc}") from None
        ok = False
        try:
            async for line in iter_lines(response):
                if b'"success"' in line:
                    ok = True
                yield line
        except HTTPError as exc:
            yield json.dumps({"error": f"pull interrupted: {exc}"}).encode() + b"\n"
        finally:
            await response.aclose()
        if ok:
            await self.refresh(record)

    async def delete(self, record: NodeRecord, model: str) -> tuple[bool, str | None]:
        """Delete ``model`` on one node: (deleted, error message)."""
        try:
            response = await self.upstream.request_json(
                "DELETE", record.ollama_url, "/api/delete", {"model": model}, timeout=30.0
            )
        except HTTPError as exc:
            return False, f"cannot reach {record.node_id}: {exc}"
        if response.status_code >= 400:
            return False, error_message(response.content) or f"HTTP {response.status_code}"
        await self.refresh(record)
        return True, None

    async def refresh(self, record: NodeRecord) -> None:
        """Read the node's ``/api/tags`` back into the registry."""
        try:
            tags: Any = await self.upstream.get_json(record.ollama_url, "/api/tags")
        except (HTTPError, ValueError) as exc:
            log.warning("could not refresh models of %s: %s", record.node_id, exc)
            return
        models = [
            AvailableModel.model_validate(m)
            for m in tags.get("models", [])
            if isinstance(m, dict) and m.get("name")
        ]
        self.registry.replace_available(record.node_id, models)
