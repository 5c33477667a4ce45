"""Qwen3-ASR's server (``mlx-qwen3-asr serve``) as a speech-to-text backend.

Owns ``Qwen3Asr``. The server's API is a job queue: ``POST /transcribe`` (multipart ``audio``,
``language``, ``timestamps``; Bearer key) answers 202 ``{job_id, status}``; ``GET /jobs/{id}``
answers ``{status: queued|processing|completed|failed, result: {text, language, chunks[{text,
start, end}]}, error}``; ``GET /health`` says ``{status: "ok", model}``. The adapter submits, polls
with a bounded deadline (the job's timeout) and maps the result into a ``Transcript``. It starts
the server itself when the program is installed and nothing answers at its URL (``launch``), as a
child that dies with the agent, and stops it on ``aclose``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from herd_contract.children import die_with_parent

from .http import ServerClient
from .jobs import (
    AudioJob,
    BackendError,
    BackendReport,
    BackendTimeout,
    Transcript,
)
from .occupancy import Occupancy
from .openai_speech import chunks_from

PROGRAM = "mlx-qwen3-asr"
DEFAULT_PORT = 8765
MODEL = "qwen3-asr"
POLL_S = 0.25
START_TIMEOUT_S = 120.0


def transcript_from_job(payload: Any, job: AudioJob, seconds: float) -> Transcript:
    """The transcript in a completed job, or the failure a failed job reports."""
    if not isinstance(payload, dict):
        raise BackendError("Qwen3-ASR answered something that is not a job")
    if payload.get("status") == "failed":
        raise BackendError(f"Qwen3-ASR failed: {payload.get('error') or 'no reason given'}")
    result = payload.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        raise BackendError("Qwen3-ASR's completed job has no result text")
    chunks = chunks_from(result.get("chunks")) or chunks_from(result.get("segments"))
    return Transcript(
        text=result["text"].strip(),
        language=str(result.get("language") or job.language or ""),
        model=job.model,
        seconds=seconds,
        duration=chunks[-1].end if chunks else None,
        chunks=chunks,
    )


class Qwen3Asr:
    adapter = "qwen3-asr"

    def __init__(
        self,
        url: str = f"http://127.0.0.1:{DEFAULT_PORT}",
        *,
        api_key: str = "herd",
        models: list[str] | None = None,
        timeout_s: float = 600.0,
        poll_s: float = POLL_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = ServerClient(url, api_key=api_key, timeout_s=30.0, transport=transport)
        self.api_key = api_key
        self.models = list(models or [MODEL])
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.occupancy = Occupancy(1)
        self._child: asyncio.subprocess.Process | None = None

    def serves(self, model: str) -> bool:
        return model in self.models

    async def healthy(self) -> tuple[bool, str]:
        try:
            response = await self.server.call(lambda: self.server.client.get("/health", timeout=3))
        except BackendError as exc:
            return False, exc.message
        return response.json().get("status") == "ok", ""

    async def report(self) -> BackendReport:
        reachable, detail = await self.healthy()
        return BackendReport(
            "stt", self.adapter, self.server.url, self.models, reachable=reachable,
            capacity=1, busy=self.occupancy.busy, detail=detail,
        )  # fmt: skip

    async def launch(self, program: str | None = None) -> bool:
        """Start ``mlx-qwen3-asr serve`` on this URL's port unless a server already answers."""
        if (await self.healthy())[0]:
            return True
        program = program or shutil.which(PROGRAM)
        if program is None:
            return False
        parts = urlsplit(self.server.url)
        self._child = await asyncio.create_subprocess_exec(
            program, "serve",
            "--host", parts.hostname or "127.0.0.1",
            "--port", str(parts.port or DEFAULT_PORT),
            "--api-key", self.api_key,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self._child.returncode is None:
            if (await self.healthy())[0]:
                return True
            await asyncio.sleep(0.5)
        return False

    async def transcribe(self, job: AudioJob) -> Transcript:
        fields = {"timestamps": "true"}
        if job.language:
            fields["language"] = job.language
        files = {"audio": (job.filename, job.audio, job.content_type)}
        async with self.occupancy.slot():
            started = time.perf_counter()
            submitted = await self.server.call(
                lambda: self.server.client.post("/transcribe", data=fields, files=files)
            )
            job_id = submitted.json().get("job_id")
            if not isinstance(job_id, str):
                raise BackendError("Qwen3-ASR accepted the audio without a job id")
            payload = await self._wait(job_id, started + self.timeout_s)
            seconds = time.perf_counter() - started
        return transcript_from_job(payload, job, seconds)

    async def _wait(self, job_id: str, deadline: float) -> Any:
        while True:
            response = await self.server.call(lambda: self.server.client.get(f"/jobs/{job_id}"))
            payload = response.json()
            if payload.get("status") in ("completed", "failed"):
                return payload
            if time.perf_counter() >= deadline:
                raise BackendTimeout(
                    f"Qwen3-ASR did not finish within {self.timeout_s:g}s (job {job_id})"
                )
            await asyncio.sleep(self.poll_s)

    async def aclose(self) -> None:
        await self.server.aclose()
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
