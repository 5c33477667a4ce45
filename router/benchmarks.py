"""Fleet benchmark runs: a bounded load through the router's own pipeline, measured and stored.

A run sends short chat requests for the chosen models at a fixed concurrency for a fixed duration
(both capped), through the same pipeline as client traffic (tagged ``herd:benchmark``), and
stores throughput, latency and TTFT percentiles per model and per node in SQLite. Progress can be
read while it runs, and a run can be cancelled. The summary maths is pure (``summarise``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from router.errors import HerdError
from router.measures import percentile
from router.pipeline.dispatch import Pipeline
from router.pipeline.request import InferenceRequest
from router.store import TraceStore

log = logging.getLogger("herd.benchmarks")
MAX_DURATION_S = 600.0
MAX_CONCURRENCY = 32
MAX_REQUESTS = 100_000
BENCHMARK_TAG = "herd:benchmark"
PROMPT = "Write two sentences about the sea."


class BenchmarkParams(BaseModel):
    model_config = {"extra": "forbid"}

    models: list[str] = Field(min_length=1, max_length=16)
    duration_s: float = Field(default=30.0, gt=0, le=MAX_DURATION_S)
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    max_tokens: int = Field(default=64, ge=1, le=4096)


@dataclass(slots=True)
class Sample:
    model: str
    node_id: str | None
    ok: bool
    latency_ms: float
    ttft_ms: float | None
    tokens: int


@dataclass
class Run:
    run_id: int
    params: BenchmarkParams
    started_at: float
    samples: list[Sample] = field(default_factory=list)
    status: str = "running"
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None

    def progress(self, now: float) -> dict[str, Any]:
        elapsed = (self.finished_at or now) - self.started_at
        return {
            "run_id": self.run_id,
            "status": self.status,
            "elapsed_s": round(elapsed, 2),
            "progress": round(min(1.0, elapsed / self.params.duration_s), 3),
            "requests": len(self.samples),
            "errors": sum(not s.ok for s in self.samples),
        }


def summarise(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    """Throughput and percentiles overall, per model and per node."""

    def block(group: list[Sample]) -> dict[str, Any]:
        ok = [s for s in group if s.ok]
        latencies = sorted(s.latency_ms for s in ok)
        ttfts = sorted(s.ttft_ms for s in ok if s.ttft_ms is not None)
        tokens = sum(s.tokens for s in ok)
        return {
            "requests": len(group),
            "errors": len(group) - len(ok),
            "requests_per_s": round(len(ok) / wall_s, 3) if wall_s > 0 else None,
            "tokens_per_s": round(tokens / wall_s, 2) if wall_s > 0 else None,
            "latency_ms": {f"p{q}": percentile(latencies, q / 100) for q in (50, 95, 99)},
            "ttft_ms": {f"p{q}": percentile(ttfts, q / 100) for q in (50, 95, 99)},
        }

    by_model: dict[str, list[Sample]] = {}
    by_node: dict[str, list[Sample]] = {}
    for sample in samples:
        by_model.setdefault(sample.model, []).append(sample)
        by_node.setdefault(sample.node_id or "(none)", []).append(sample)
    return {
        "wall_s": round(wall_s, 3),
        "overall": block(samples),
        "per_model": {k: block(v) for k, v in sorted(by_model.items())},
        "per_node": {k: block(v) for k, v in sorted(by_node.items())},
    }


class BenchmarkRunner:
    def __init__(self, store: TraceStore, pipeline: Pipeline, clock: Callable[[], float]) -> None:
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        self.runs: dict[int, Run] = {}

    @property
    def active(self) -> Run | None:
        return next((r for r in self.runs.values() if r.status == "running"), None)

    async def start(self, params: BenchmarkParams) -> Run:
        if self.active is not None:
            raise HerdError("a benchmark is already running; cancel it first", status=409)
        started = self.clock()
        run_id = await self.store.save_benchmark_run(
            started_at=started, status="running", params=params.model_dump()
        )
        run = Run(run_id=run_id, params=params, started_at=started)
        self.runs[run_id] = run
        run.task = asyncio.create_task(self._execute(run))
        return run

    def cancel(self, run_id: int) -> Run | None:
        run = self.runs.get(run_id)
        if run is not None and run.status == "running" and run.task is not None:
            run.status = "cancelled"
            run.task.cancel()
        return run

    async def aclose(self) -> None:
        for run in list(self.runs.values()):
            if run.status == "running" and run.task is not None:
                run.status = "cancelled"
                run.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task

    async def _execute(self, run: Run) -> None:
        begun = time.perf_counter()
        deadline = begun + run.params.duration_s
        try:
            async with asyncio.TaskGroup() as group:
                for worker in range(run.params.concurrency):
                    model = run.params.models[worker % len(run.params.models)]
                    group.create_task(self._worker(run, model, deadline))
            run.status = "completed"
        except asyncio.CancelledError:
            run.status = "cancelled"
        except Exception as exc:  # a benchmark failure must be recorded, not lost
            log.exception("benchmark run %s failed", run.run_id)
            run.status = f"failed: {exc}"
        finally:
            run.finished_at = self.clock()
            results = summarise(run.samples, time.perf_counter() - begun)
            await asyncio.shield(
                self.store.save_benchmark_run(
                    started_at=run.started_at,
                    status=run.status,
                    params=run.params.model_dump(),
                    results=results,
                    finished_at=run.finished_at,
                    run_id=run.run_id,
                )
            )

    async def _worker(self, run: Run, model: str, deadline: float) -> None:
        while time.perf_counter() < deadline and len(run.samples) < MAX_REQUESTS:
            started = time.perf_counter()
            request = InferenceRequest(
                kind="chat",
                model=model,
                body={
                    "model": model,
                    "messages": [{"role": "user", "content": PROMPT}],
                    "options": {"num_predict": run.params.max_tokens},
                    "stream": True,
                },
                stream=True,
                api="ollama",
                tags=[BENCHMARK_TAG],
                client_ip="127.0.0.1",
            )
            try:
                routed = await self.pipeline.open(request)
            except HerdError:
                run.samples.append(Sample(model, None, False, _ms(started), None, 0))
                await asyncio.sleep(0.05)  # back off: a refused request returns at once
                continue
            try:
                async for _line in routed.lines():
                    pass
            finally:
                await routed.close()
            trace = routed.trace
            run.samples.append(
                Sample(
                    model=model,
                    node_id=routed.node_id,
                    ok=routed.error is None,
                    latency_ms=_ms(started),
                    ttft_ms=trace.time_to_first_token_ms,
                    tokens=trace.completion_tokens or 0,
                )
            )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
