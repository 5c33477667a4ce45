"""``/api/show`` across the fleet: ask the nodes that hold a model (an Ollama's image models
included), loaded ones first, and trace it.

Owns ``ModelShow``: one lookup is one trace (kind ``show``): the node that answered, or the
nodes tried and why each failed, and how long it took. Never ranks or queues: a show is cheap and
any holder answers it.
"""

from __future__ import annotations

import time

from herd_contract.model_names import normalize
from router.errors import NotFound, UpstreamFailure
from router.http_client import HTTPError
from router.pipeline.journal import TraceJournal
from router.pipeline.request import Api
from router.registry import Registry
from router.traces import TraceRecord
from router.upstream import Upstream, error_message

SHOW_TIMEOUT_S = 10.0


class ModelShow:
    def __init__(self, registry: Registry, upstream: Upstream, journal: TraceJournal) -> None:
        self.registry = registry
        self.upstream = upstream
        self.journal = journal

    async def show(
        self,
        model: str,
        body: dict[str, object],
        request_id: str,
        client_ip: str | None,
        api: Api = "ollama",
    ) -> tuple[str, bytes]:
        """The node that answered and its ``/api/show`` body; ``NotFound`` when no node holds
        the model, ``UpstreamFailure`` naming every node tried when none answered."""
        wanted = normalize(model)
        holders = [
            r
            for r, _ in self.registry.routable()
            if wanted in r.available_models or wanted in r.ollama_image_models
        ]
        if not holders:
            raise NotFound(f"model '{model}' not found")
        holders.sort(key=lambda r: (wanted not in r.loaded_models, r.node_id))
        started = time.perf_counter()
        trace = TraceRecord(
            request_id=request_id,
            model=wanted,
            original_model=wanted,
            node_id=None,
            status="completed",
            kind="show",
            api=api,
            stream=False,
            client_ip=client_ip,
        )
        tried: list[str] = []
        for record in holders:
            trace.node_id = record.node_id
            try:
                response = await self.upstream.request_json(
                    "POST", record.ollama_url, "/api/show", {**body, "model": model}, SHOW_TIMEOUT_S
                )
            except HTTPError as exc:
                tried.append(f"{record.node_id}: {exc}")
                continue
            if response.status_code == 200:
                self._record(trace, started, len(tried), None, 200)
                return record.node_id, response.content
            why = error_message(response.content) or f"HTTP {response.status_code}"
            tried.append(f"{record.node_id}: {why}")
        message = f"no node answered /api/show for {model}: {'; '.join(tried)}"
        self._record(trace, started, len(tried) - 1, message, 502)
        raise UpstreamFailure(message)

    def _record(
        self, trace: TraceRecord, started: float, retries: int, error: str | None, status: int
    ) -> None:
        trace.status = "completed" if error is None else "failed"
        trace.error_message = error
        trace.http_status = status
        trace.retry_count = retries
        trace.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        self.journal.record(trace)
