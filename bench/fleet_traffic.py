"""The fleet benchmark's traffic: every session's turns sent on schedule, each outcome measured.

Owns ``Outcome`` (one request as the client saw it: end-to-end latency, streaming TTFT, status,
error, the model that answered, the node and fallback headers) and ``drive``, which sends every
session at its start time (turns in order, each after its gap), reads streamed and whole answers,
and cuts whatever still runs ``DRAIN_TIMEOUT_S`` after the arrival window (counted as an error,
with the time it had waited).

Never starts or stops a fleet and never summarises: ``bench.fleet_runner`` and
``bench.fleet_summary`` do.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.workload import Session

REQUEST_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 90.0
"""After the last arrival, how long the sessions still running may take before being cut."""
_UNFINISHED = "unfinished when the drain deadline passed"


@dataclass
class Outcome:
    session_id: int
    turn: int
    model: str
    size_class: str
    path: str
    stream: bool
    sent_at_s: float = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    status: int = 0
    error: str | None = None
    served_model: str | None = None
    fallback_header: str | None = None
    node: str | None = None


def _outcome(session: Session, index: int, **measured: Any) -> Outcome:
    """The outcome of a session's turn ``index``, before (or with) what was measured."""
    turn = session.turns[index]
    stream = bool(turn.body.get("stream"))
    return Outcome(
        session.session_id, index, session.model, session.size_class, turn.path, stream, **measured
    )


async def _send(
    client: httpx.AsyncClient, base: str, session: Session, index: int, t0: float
) -> Outcome:
    turn = session.turns[index]
    out = _outcome(session, index)
    stream = out.stream
    start = time.perf_counter()
    out.sent_at_s = start - t0
    try:
        async with client.stream(
            "POST", f"{base}{turn.path}", json=turn.body, timeout=REQUEST_TIMEOUT_S
        ) as reply:
            out.status = reply.status_code
            out.node = reply.headers.get("x-fleet-node")
            out.fallback_header = reply.headers.get("x-fleet-fallback")
            done = False
            if stream and reply.status_code == 200:
                async for line in reply.aiter_lines():
                    if not line.strip():
                        continue
                    chunk = json.loads(line)
                    if out.ttft_s is None:
                        out.ttft_s = time.perf_counter() - start
                    if "error" in chunk:
                        out.error = f"stream error: {chunk['error']}"
                        break
                    out.served_model = chunk.get("model", out.served_model)
                    if chunk.get("done"):
                        done = True
            else:
                raw = await reply.aread()
                data = json.loads(raw) if raw else {}
                if reply.status_code != 200 or "error" in data:
                    out.error = f"HTTP {reply.status_code}: {data.get('error', raw[:200])}"
                else:
                    out.served_model = data.get("model")
                    done = bool(data.get("done"))
            if out.error is None and not done:
                out.error = "no final chunk (done: true)"
    except (httpx.HTTPError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    except asyncio.CancelledError:
        out.error = _UNFINISHED
        out.latency_s = time.perf_counter() - start
        raise
    out.latency_s = time.perf_counter() - start
    return out


async def _run_session(
    client: httpx.AsyncClient, base: str, session: Session, t0: float, outcomes: list[Outcome]
) -> None:
    delay = t0 + session.start_s - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    for index, turn in enumerate(session.turns):
        if turn.gap_s:
            await asyncio.sleep(turn.gap_s)
        pending = _outcome(session, index, sent_at_s=time.perf_counter() - t0, error=_UNFINISHED)
        position = len(outcomes)
        outcomes.append(pending)
        try:
            outcomes[position] = await _send(client, base, session, index, t0)
        except asyncio.CancelledError:
            pending.latency_s = time.perf_counter() - t0 - pending.sent_at_s
            raise


async def drive(base: str, sessions: list[Session], window_s: float) -> list[Outcome]:
    """Send every session's turns on schedule; cut whatever still runs at the deadline."""
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=2048, max_keepalive_connections=512)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        t0 = time.perf_counter()
        tasks = [
            asyncio.ensure_future(_run_session(client, base, s, t0, outcomes)) for s in sessions
        ]
        done, pending = await asyncio.wait(tasks, timeout=window_s + DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # a bug in this benchmark, not a routing error
    return outcomes
