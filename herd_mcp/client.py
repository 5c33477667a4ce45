"""A typed async client of the router's HTTP API: the only way herd-mcp touches the fleet.

Owns the URLs, the keys it sends (``HERD_API_KEY`` for reads, ``HERD_ADMIN_KEY`` for changes,
both as ``Authorization: Bearer``) and turning transport failures into two typed errors:
``RouterUnreachable`` (nothing answered) and ``RouterApiError`` (an answer with an error status,
or an ``{"error": ...}`` line in a stream, kept whole). It never starts, stops or restarts
anything, and never reads or writes files: everything goes through the router.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.parse
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from herd_mcp.router_views import FleetView, HealthView, PullJob, PullPlanView, RecommendationsView

DEFAULT_ROUTER_URL = "http://localhost:11435"
READ_TIMEOUT_S = 30.0


class RouterUnreachable(Exception):
    """No HTTP answer from the router at all (refused, DNS, timeout)."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(f"{url}: {type(cause).__name__}: {cause}")
        self.url = url
        self.cause = cause


class RouterApiError(Exception):
    """The router answered, with an error status or an error line in a stream."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(f"{method} {path} -> {status}: {self.body_text}")

    @property
    def body_text(self) -> str:
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, sort_keys=True)

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), str):
            return str(self.body["error"])
        return self.body_text


@dataclass(slots=True)
class ChatOutcome:
    """One short chat through the fleet: what the headers and the final chunk said."""

    status: int
    headers: dict[str, str]
    reply: str
    final: dict[str, Any]
    latency_ms: float
    time_to_first_chunk_ms: float | None
    chunks: int = 0
    errors: list[str] = field(default_factory=list)


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


async def _json_lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a streamed NDJSON body; blank, broken and non-object lines skipped."""
    async for raw in response.aiter_lines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            yield line


class RouterClient:
    """Async client of one router. ``transport`` lets tests plug an in-memory app."""

    def __init__(
        self,
        base_url: str = DEFAULT_ROUTER_URL,
        *,
        api_key: str | None = None,
        admin_key: str | None = None,
        timeout_s: float = READ_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        self._admin_key = admin_key or None
        self._timeout = timeout_s
        self._transport = transport
        self._clock = clock
        self._http: httpx.AsyncClient | None = None

    # --- plumbing --------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url, timeout=self._timeout, transport=self._transport
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _headers(self, admin: bool) -> dict[str, str]:
        key = (self._admin_key or self._api_key) if admin else (self._api_key or self._admin_key)
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        admin: bool = False,
        timeout: float | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            response = await self._client().request(
                method,
                path,
                params=clean or None,
                json=body,
                headers=self._headers(admin),
                timeout=timeout or self._timeout,
            )
        except httpx.TransportError as exc:
            raise RouterUnreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise RouterApiError(method, path, response.status_code, _decode(response))
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, path, **kwargs)
        data = _decode(response)
        if not isinstance(data, dict):
            raise RouterApiError(
                method, path, response.status_code, {"error": "not a JSON object", "body": data}
            )
        return data

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, body: dict[str, Any], *, admin: bool, timeout: float
    ) -> AsyncIterator[httpx.Response]:
        """``POST path`` with a streamed answer; an error status raises ``RouterApiError``, and a
        transport failure, also while reading the stream, ``RouterUnreachable``."""
        try:
            async with self._client().stream(
                "POST", path, json=body, headers=self._headers(admin), timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise RouterApiError("POST", path, response.status_code, _decode(response))
                yield response
        except httpx.TransportError as exc:
            raise RouterUnreachable(self.base_url, exc) from exc

    # --- reads -----------------------------------------------------------------------------------

    async def fleet_status(self) -> FleetView:
        return FleetView.model_validate(await self._json("GET", "/fleet/status"))

    async def tags(self) -> dict[str, Any]:
        return await self._json("GET", "/api/tags")

    async def ps(self) -> dict[str, Any]:
        return await self._json("GET", "/api/ps")

    async def usage(self, days: int) -> dict[str, Any]:
        return await self._json("GET", "/dashboard/api/usage", params={"days": days})

    async def traces(
        self,
        limit: int,
        *,
        model: str | None = None,
        node_id: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        since: float | None = None,
    ) -> dict[str, Any]:
        params = {
            "limit": limit,
            "model": model,
            "node_id": node_id,
            "status": status,
            "tag": tag,
            "since": since,
        }
        return await self._json("GET", "/dashboard/api/traces", params=params)

    async def model_insights(self, days: int) -> dict[str, Any]:
        return await self._json("GET", "/dashboard/api/models", params={"days": days})

    async def apps(self, days: int) -> dict[str, Any]:
        return await self._json("GET", "/dashboard/api/apps", params={"days": days})

    async def health(self) -> HealthView:
        return HealthView.model_validate(await self._json("GET", "/dashboard/api/health"))

    async def recommendations(self) -> RecommendationsView:
        data = await self._json("GET", "/dashboard/api/recommendations")
        return RecommendationsView.model_validate(data)

    async def pull_plan(self, model: str, node_id: str | None) -> PullPlanView:
        """Where a pull would go and whether it fits, as the router works it out."""
        body = {"model": model, "node_id": node_id} if node_id else {"model": model}
        data = await self._json("POST", "/dashboard/api/pulls/plan", body=body)
        return PullPlanView.model_validate(data)

    async def pull_jobs(self) -> list[PullJob]:
        data = await self._json("GET", "/dashboard/api/pulls")
        return [PullJob.model_validate(job) for job in data.get("pulls", [])]

    async def pull_job(self, job_id: str) -> PullJob:
        path = f"/dashboard/api/pulls/{urllib.parse.quote(job_id, safe='')}"
        return PullJob.model_validate(await self._json("GET", path))

    async def settings(self) -> dict[str, Any]:
        return await self._json("GET", "/dashboard/api/settings")

    async def log_path(self) -> str | None:
        """The router's JSONL log as its settings name it (``<data_dir>/logs/herd.jsonl``)."""
        try:
            response = await self._request("GET", "/dashboard/api/settings", timeout=3.0)
            data_dir = (response.json().get("config") or {}).get("data_dir")
        except (RouterUnreachable, RouterApiError, ValueError, AttributeError):
            return None
        return f"{str(data_dir).rstrip('/')}/logs/herd.jsonl" if data_dir else None

    # --- changes (admin key) ---------------------------------------------------------------------

    async def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        return await self._json("POST", "/dashboard/api/settings", body=changes, admin=True)

    async def start_pull(self, model: str, node_id: str) -> PullJob:
        """Start a pull job on the router (or join the one already pulling it there)."""
        body = {"model": model, "node_id": node_id}
        data = await self._json("POST", "/dashboard/api/pulls", body=body, admin=True)
        return PullJob.model_validate(data)

    async def cancel_pull(self, job_id: str) -> PullJob:
        path = f"/dashboard/api/pulls/{urllib.parse.quote(job_id, safe='')}/cancel"
        return PullJob.model_validate(await self._json("POST", path, admin=True))

    async def delete(self, model: str, node_id: str) -> dict[str, Any]:
        body = {"model": model, "node_id": node_id}
        return await self._json("DELETE", "/api/delete", body=body, admin=True)

    # --- inference -------------------------------------------------------------------------------

    async def chat(self, model: str, prompt: str, max_tokens: int) -> ChatOutcome:
        """A short streamed ``/api/chat`` through the fleet, timed from request to final chunk."""
        path = "/api/chat"
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "options": {"num_predict": max_tokens},
            "metadata": {"tags": ["herd-mcp:test_inference"]},
        }
        started = self._clock()
        first: float | None = None
        reply: list[str] = []
        final: dict[str, Any] = {}
        chunks = 0
        errors: list[str] = []
        async with self._stream(path, body, admin=False, timeout=120.0) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            async for chunk in _json_lines(response):
                if "error" in chunk:
                    errors.append(str(chunk["error"]))
                    continue
                chunks += 1
                if first is None:
                    first = self._clock()
                reply.append(str((chunk.get("message") or {}).get("content") or ""))
                if chunk.get("done"):
                    final = chunk
            status = response.status_code
        ended = self._clock()
        if errors and not final:
            raise RouterApiError("POST", path, status, {"error": "; ".join(errors)})
        return ChatOutcome(
            status=status,
            headers=headers,
            reply="".join(reply),
            final=final,
            latency_ms=(ended - started) * 1000.0,
            time_to_first_chunk_ms=None if first is None else (first - started) * 1000.0,
            chunks=chunks,
            errors=errors,
        )

    async def try_media(self, kind: str, model: str) -> ChatOutcome:
        """One small image (``kind`` ``image``) or the transcription of one second of silence
        (``stt``) through the fleet, timed; the outcome's ``reply`` says what came back."""
        tags = {"X-Herd-Tags": "herd-mcp:test_inference"}
        if kind == "image":
            path = "/api/generate-image"
            send: dict[str, Any] = {
                "json": {
                    "model": model,
                    "prompt": "a small test image",
                    "width": 256,
                    "height": 256,
                }
            }
        else:
            path = "/api/transcribe"
            send = {
                "files": {"audio": ("test.wav", _silence(), "audio/wav")},
                "data": {"model": model},
            }
        started = self._clock()
        try:
            response = await self._client().post(
                path, headers={**self._headers(False), **tags}, timeout=300.0, **send
            )
        except httpx.TransportError as exc:
            raise RouterUnreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise RouterApiError("POST", path, response.status_code, _decode(response))
        latency = (self._clock() - started) * 1000.0
        headers = {k.lower(): v for k, v in response.headers.items()}
        if kind == "image":
            reply = f"a {len(response.content)}-byte PNG"
        else:
            reply = str(_decode(response).get("text", ""))
        return ChatOutcome(response.status_code, headers, reply, {}, latency, latency)


def _silence(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV of silence, the smallest audio a speech backend accepts."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()
