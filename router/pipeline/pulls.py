"""Pulling and deleting models on nodes: where a model should go, and pulling it only once.

``ensure`` is the auto-pull: a model missing everywhere is pulled onto the best-fitting node, once,
however many requests ask for it at the same moment (they all wait for the one pull). ``stream``
serves ``/api/pull`` with Ollama's progress lines. After a change the node's model list is read
back into the registry so routing sees it at once. Never routes inference.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from router import model_size
from router.errors import BadRequest, NotFound, UpstreamFailure
from router.http_client import HTTPError
from router.model_names import normalize
from router.registry import NodeRecord, Registry
from router.upstream import AttemptFailed, Upstream, error_message, is_error_line, iter_lines
from router.wire import AvailableModel

log = logging.getLogger("herd.pulls")
PULL_TIMEOUT_S = 3600.0
GB = 1e9


class PullCoordinator:
    def __init__(self, registry: Registry, upstream: Upstream) -> None:
        self.registry = registry
        self.upstream = upstream
        self._in_progress: dict[str, asyncio.Task[bool]] = {}
        self.pull_count = 0

    def best_node(self, model: str) -> NodeRecord | None:
        """The online node where ``model`` fits best: memory for it to run, disk to hold it.

        Among the nodes that fit, the one with the most free memory left after loading it, so the
        big machines take the big models.
        """
        need = model_size.estimate(model)
        file_need = need * 0.8
        best: tuple[float, NodeRecord] | None = None
        for record, status in self.registry.routable():
            if status != "online":
                continue
            hb = record.heartbeat
            memory = (hb.memory.total_gb or hb.hardware.memory_gb) * GB
            disk_free = hb.disk.free_gb * GB if hb.disk is not None else float("inf")
            if memory < need or disk_free < file_need:
                continue
            spare = memory - need
            if best is None or spare > best[0]:
                best = (spare, record)
        return best[1] if best else None

    def resolve_node(self, model: str, node_id: str | None) -> NodeRecord:
        if node_id:
            record = self.registry.get(node_id)
            if record is None:
                raise NotFound(f"unknown node {node_id!r}")
            if self.registry.status_of(record) == "offline":
                raise BadRequest(f"node {node_id!r} is offline")
            return record
        record = self.best_node(model)
        if record is None:
            raise BadRequest(
                f"no online node has the memory and disk for {model} "
                f"(about {model_size.estimate(model) / GB:.1f} GB needed)"
            )
        return record

    async def ensure(self, model: str) -> bool:
        """Pull ``model`` onto the best node unless a pull of it is already running; wait for it."""
        model = normalize(model)
        task = self._in_progress.get(model)
        if task is None:
            record = self.best_node(model)
            if record is None:
                return False
            task = asyncio.create_task(self._pull_quietly(record, model))
            self._in_progress[model] = task
            task.add_done_callback(lambda _t: self._in_progress.pop(model, None))
        return await asyncio.shield(task)

    async def _pull_quietly(self, record: NodeRecord, model: str) -> bool:
        log.info("auto-pulling %s onto %s", model, record.node_id, extra={"console": True})
        try:
            async for line in self.stream(record, model):
                if is_error_line(line):
                    log.warning("auto-pull of %s failed: %s", model, line.decode().strip())
                    return False
        except (AttemptFailed, UpstreamFailure) as exc:
            log.warning("auto-pull of %s on %s failed: %s", model, record.node_id, exc)
            return False
        return True

    async def stream(self, record: NodeRecord, model: str) -> AsyncIterator[bytes]:
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
            AvailableModel.model_validate({**m, "size_gb": round(m.get("size", 0) / GB, 2)})
            for m in tags.get("models", [])
            if isinstance(m, dict) and m.get("name")
        ]
        self.registry.replace_available(record.node_id, models)


async def final_status(lines: AsyncIterator[bytes]) -> dict[str, Any]:
    """Consume pull progress lines; the last one, or the first error line."""
    last: dict[str, Any] = {}
    async for line in lines:
        try:
            last = json.loads(line)
        except ValueError:
            continue
        if "error" in last:
            break
    return last
