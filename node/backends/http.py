"""What every adapter of an HTTP inference server shares: one client, and its failures as
``jobs.BackendError`` kinds.

Owns ``ServerClient``: an ``httpx.AsyncClient`` for one server's base URL with its API key, the
model list from ``GET /v1/models`` (OpenAI's shape), and ``call``, which turns connection failures
into ``BackendUnavailable``, timeouts into ``BackendTimeout``, a 4xx into ``BadJob`` and a 5xx into
``BackendError``, each with the server's own message when it gave one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .jobs import (
    BackendError,
    BackendKind,
    BackendReport,
    BackendTimeout,
    BackendUnavailable,
    BadJob,
)
from .occupancy import Occupancy


def error_message(response: httpx.Response) -> str:
    """The server's message from an OpenAI, Ollama or FastAPI error body, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)[:300]
    return response.text[:300]


class ServerClient:
    """One inference server over HTTP."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"user-agent": "herd-node"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            transport=transport,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """``send()``'s response when it succeeded; failures raised as ``BackendError`` kinds."""
        try:
            response = await send()
        except httpx.TimeoutException:
            raise BackendTimeout(f"{self.url} did not answer within {self.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"{self.url} is unreachable: {exc!r}") from None
        if response.status_code >= 500:
            raise BackendError(f"{self.url} failed: {error_message(response)}")
        if response.status_code >= 400:
            raise BadJob(error_message(response))
        return response

    async def model_ids(self) -> list[str]:
        """Model ids from ``GET /v1/models``."""
        response = await self.call(lambda: self.client.get("/v1/models", timeout=5.0))
        data: Any = response.json().get("data", [])
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]


class ServedModels:
    """An image or speech server's adapter state: its client, its models (configured, else the
    server's ``/v1/models``, asked at each report, which also tells whether it answers) and its
    occupancy."""

    kind: BackendKind
    adapter: str

    def __init__(
        self,
        url: str,
        *,
        models: list[str] | None = None,
        api_key: str | None = None,
        capacity: int = 1,
        timeout_s: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = ServerClient(url, api_key=api_key, timeout_s=timeout_s, transport=transport)
        self.fixed_models = models
        self.models: list[str] = list(models or [])
        self.occupancy = Occupancy(capacity)

    def serves(self, model: str) -> bool:
        return model in self.models

    async def report(self) -> BackendReport:
        detail, reachable = "", True
        try:
            listed = await self.server.model_ids()
        except BackendError as exc:
            detail, reachable = exc.message, False
        else:
            self.models = self.fixed_models or listed
        return BackendReport(
            self.kind, self.adapter, self.server.url, self.models, reachable=reachable,
            capacity=self.occupancy.capacity, busy=self.occupancy.busy, detail=detail,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self.server.aclose()
