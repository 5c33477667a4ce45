"""Pull jobs: a model download that outlives the request that started it.

Owns each job's progress (per layer, bytes done of bytes known, the recent rate, an estimate of the
time left), its state (``running``, then ``done``, ``failed`` or ``cancelled``), following a job as
Ollama progress lines (``POST /api/pull`` streams a job this way; a reader that goes away leaves the
job running), cancelling one, and forgetting ended jobs after ``KEEP_ENDED_S``.

A pull of a model onto a node that is already pulling it joins the running job instead of starting
a second download. The lines come from a ``source`` function (the pull coordinator's stream to the
node), so this module never talks HTTP itself. Times come from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from router.fleet_status import JobState, LayerProgress, PullJobView

log = logging.getLogger("herd.pulls")

KEEP_ENDED_S = 600.0
"""An ended job stays listed this long, so whoever started it can still read how it ended."""
MAX_ENDED = 50
RECENT_LINES = 256
"""Progress lines a follower may lag behind before it is sent a fresh summary instead."""
RATE_WINDOW_S = 10.0

Source = Callable[[], AsyncGenerator[bytes, None]]


def _line(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode() + b"\n"


class PullJob:
    """One download of ``model`` onto ``node_id``; lines go in through ``absorb``."""

    def __init__(self, job_id: str, model: str, node_id: str, started_by: str, now: float) -> None:
        self.id = job_id
        self.model = model
        self.node_id = node_id
        self.started_by = started_by
        self.state: JobState = "running"
        self.status = "starting"
        self.error: str | None = None
        self.started_at = self.updated_at = now
        self.ended_at: float | None = None
        self.layers: dict[str, LayerProgress] = {}
        self.task: asyncio.Task[None] | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=RECENT_LINES)
        self._seq = 0
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.state != "running"

    @property
    def completed_bytes(self) -> int:
        return sum(layer.completed_bytes for layer in self.layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(layer.total_bytes for layer in self.layers.values())

    def absorb(self, raw: bytes, now: float) -> None:
        """Take one progress line from the node: update the figures, pass it on to followers."""
        try:
            body = json.loads(raw)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if isinstance(body.get("status"), str):
            self.status = body["status"]
        digest, total = body.get("digest"), body.get("total")
        if isinstance(digest, str) and isinstance(total, int):
            done = body.get("completed")
            before = self.layers.get(digest)
            completed = max(before.completed_bytes if before else 0, int(done or 0))
            self.layers[digest] = LayerProgress(
                digest=digest, total_bytes=total, completed_bytes=min(completed, total)
            )
            self._samples.append((now, self.completed_bytes))
        self.updated_at = now
        if "error" not in body and body.get("status") != "success":  # ``finish`` writes the end
            self._publish(raw if raw.endswith(b"\n") else raw + b"\n")

    def finish(self, state: JobState, now: float, error: str | None = None) -> None:
        if self.ended:
            return
        self.state = state
        self.error = error
        self.ended_at = self.updated_at = now
        if state == "done":
            self.status = "success"
        self._publish(self._final_line())
        self._ended.set()

    async def wait(self) -> None:
        await self._ended.wait()

    def _final_line(self) -> bytes:
        if self.state == "done":
            return _line({"status": "success"})
        return _line({"error": self.error or f"pull {self.state}"})

    def _publish(self, line: bytes) -> None:
        self._seq += 1
        self._recent.append((self._seq, line))
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _summary_lines(self) -> list[bytes]:
        """Where the job stands, as progress lines: one per layer, then the current status."""
        lines = [
            _line(
                {
                    "status": f"pulling {layer.digest.removeprefix('sha256:')[:12]}",
                    "digest": layer.digest,
                    "total": layer.total_bytes,
                    "completed": layer.completed_bytes,
                }
            )
            for layer in self.layers.values()
        ]
        if self.ended:
            lines.append(self._final_line())
        elif not self.status.startswith("pulling ") and self.status != "starting":
            lines.append(_line({"status": self.status}))
        return lines

    async def follow(self) -> AsyncIterator[bytes]:
        """The job as Ollama progress lines, from where it stands now to its end. A follower that
        falls more than ``RECENT_LINES`` behind gets a summary instead of the lines it missed."""
        seen = self._seq
        for line in self._summary_lines():
            yield line
        while True:
            if seen == self._seq:
                if self.ended:
                    return
                await self._wake.wait()
                continue
            oldest = self._recent[0][0]
            if oldest > seen + 1:
                seen = self._seq
                for line in self._summary_lines():
                    yield line
                continue
            for seq, line in list(self._recent):
                if seq > seen:
                    seen = seq
                    yield line

    def view(self) -> PullJobView:
        total = self.total_bytes
        done = self.completed_bytes
        rate = self._rate()
        left = total - done
        return PullJobView(
            id=self.id,
            model=self.model,
            node_id=self.node_id,
            started_by=self.started_by,
            state=self.state,
            status=self.status,
            completed_bytes=done,
            total_bytes=total,
            percent=round(100.0 * done / total, 1) if total else None,
            rate_bytes_per_s=None if rate is None else round(rate, 1),
            eta_s=round(left / rate, 1) if rate and not self.ended and left > 0 else None,
            layers=list(self.layers.values()),
            started_at=self.started_at,
            updated_at=self.updated_at,
            ended_at=self.ended_at,
            error=self.error,
        )

    def _rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        last_t, last_c = self._samples[-1]
        recent = [(t, c) for t, c in self._samples if t >= last_t - RATE_WINDOW_S]
        first_t, first_c = recent[0]
        if last_t <= first_t:
            return None
        return max(0.0, (last_c - first_c) / (last_t - first_t))


class PullJobs:
    """Every pull job of this router process: running ones and recently ended ones."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: dict[str, PullJob] = {}

    def start(self, model: str, node_id: str, started_by: str, source: Source) -> PullJob:
        """A running job pulling ``model`` onto ``node_id``: the one already running, or a new
        one reading ``source()``."""
        self._forget_old()
        running = self.running(model=model, node_id=node_id)
        if running:
            return running[0]
        job = PullJob(f"pull-{secrets.token_hex(6)}", model, node_id, started_by, self._clock())
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job, source), name=f"herd-{job.id}")
        # A job cancelled before its task ran never reaches ``_run``'s handler: end it here.
        job.task.add_done_callback(
            lambda _t: job.finish("cancelled", self._clock(), "the pull was cancelled")
        )
        log.info("pull %s: %s onto %s (%s)", job.id, model, node_id, started_by)
        return job

    def get(self, job_id: str) -> PullJob | None:
        return self._jobs.get(job_id)

    def all(self) -> list[PullJob]:
        """Newest first."""
        self._forget_old()
        return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def running(self, *, model: str | None = None, node_id: str | None = None) -> list[PullJob]:
        return [
            j
            for j in self._jobs.values()
            if not j.ended
            and (model is None or j.model == model)
            and (node_id is None or j.node_id == node_id)
        ]

    def cancel(self, job_id: str) -> PullJob | None:
        """Stop a running job (its download to the node is closed); ``None`` when unknown."""
        job = self._jobs.get(job_id)
        if job is not None and not job.ended and job.task is not None:
            job.task.cancel()
        return job

    async def aclose(self) -> None:
        """Cancel every running job and wait for them (router shutdown)."""
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: PullJob, source: Source) -> None:
        error: str | None = None
        try:
            async with contextlib.aclosing(source()) as lines:
                async for raw in lines:
                    job.absorb(raw, self._clock())
                    body = _error_of(raw)
                    if body is not None:
                        error = body
                        break
        except asyncio.CancelledError:
            job.finish("cancelled", self._clock(), "the pull was cancelled")
            log.info("pull %s cancelled", job.id)
            return
        except Exception as exc:  # the job must end whatever the node did
            error = str(exc) or type(exc).__name__
        if error is None and job.status != "success":
            error = f"the pull ended without success (last status: {job.status})"
        if error is not None:
            job.finish("failed", self._clock(), error)
            log.warning("pull %s of %s on %s failed: %s", job.id, job.model, job.node_id, error)
        else:
            job.finish("done", self._clock())

    def _forget_old(self) -> None:
        now = self._clock()
        ended = sorted(
            (j for j in self._jobs.values() if j.ended_at is not None),
            key=lambda j: j.ended_at or 0.0,
        )
        for i, job in enumerate(ended):
            if now - (job.ended_at or now) > KEEP_ENDED_S or i < len(ended) - MAX_ENDED:
                del self._jobs[job.id]


def _error_of(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return None
