"""Talking to the nodes' Ollama: one pooled HTTP client, and failures sorted into what to do next.

Sends a request body to a node as-is and reads the answer line by line (NDJSON) or event by event
(SSE, from Ollama's compatibility endpoints) without decoding it. Classifies every failure before
the first byte reached the client as retryable or not. A pooled connection the node had already
closed is retried once on a fresh connection, because that is the pool's fault, not the node's (a
known trap: clients got truncated 200s). Never decides where to route, never records traces.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from router.http_client import (
    Client,
    ConnectError,
    HTTPError,
    PoolTimeout,
    Response,
    TimeoutException,
)

_JSON_HEADERS = b"Content-Type: application/json\r\nAccept: application/x-ndjson\r\n"
_JSON_BODY = b"Content-Type: application/json\r\n"


class AttemptFailed(Exception):
    """A node did not serve the request; ``retryable`` says whether another node may.

    ``kind`` is one of ``connect``, ``timeout``, ``http``, ``stream_error``, ``dropped``, or
    ``local``: the router's own limit (its connection pool to the node stayed full), which says
    nothing about the node.
    """

    def __init__(
        self, message: str, retryable: bool, status: int | None = None, kind: str = "error"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.kind = kind


class Upstream:
    """The router's client to the nodes. Errors other than ``AttemptFailed`` are
    ``router.http_client.HTTPError`` subclasses."""

    def __init__(
        self,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 600.0,
        max_connections: int = 1024,
        read_timeout_s: float | None = None,
    ) -> None:
        self.client = Client(
            connect_timeout=connect_timeout_s,
            first_byte_timeout=first_byte_timeout_s,
            read_timeout=read_timeout_s,
            pool_timeout=30.0,
            max_connections=max_connections,
            keepalive_expiry=20.0,
            user_agent="herd-router",
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def open(
        self,
        base_url: str,
        path: str,
        body: bytes,
        headers: bytes = _JSON_HEADERS,
        first_byte_timeout_s: float | None = None,
    ) -> Response:
        """POST ``body`` and return the response with its body not yet read.

        Raises ``AttemptFailed`` for connection failures, timeouts and error statuses (the error
        body read and summarised). A pooled connection the node had already closed is retried
        once on a fresh connection by the client, before any response byte.
        """
        try:
            response = await self.client.stream(
                "POST", base_url, path, body, headers, first_byte_timeout=first_byte_timeout_s
            )
        except HTTPError as exc:
            raise _classify(exc) from None
        if response.status_code >= 400:
            raw = await _read_capped(response, 65_536)
            await response.aclose()
            message = error_message(raw) or f"HTTP {response.status_code} from node"
            retryable = response.status_code >= 500 or response.status_code in (404, 408, 429)
            raise AttemptFailed(
                message, retryable=retryable, status=response.status_code, kind="http"
            )
        return response

    async def get_json(self, base_url: str, path: str, timeout: float = 5.0) -> Any:
        response = await self.client.request("GET", base_url, path, timeout=timeout)
        response.raise_for_status()
        return response.json()

    async def request_json(
        self, method: str, base_url: str, path: str, payload: dict[str, Any], timeout: float
    ) -> Response:
        """A small JSON request with its answer read (``content``, ``status_code``, ``json()``)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self.client.request(method, base_url, path, body, _JSON_BODY, timeout)


def _classify(exc: HTTPError) -> AttemptFailed:
    if isinstance(exc, PoolTimeout):
        return AttemptFailed(f"router busy: {exc}", retryable=True, kind="local")
    if isinstance(exc, TimeoutException):
        return AttemptFailed(f"node timed out: {exc}", retryable=True, kind="timeout")
    if isinstance(exc, ConnectError):
        return AttemptFailed(f"cannot connect to node: {exc}", retryable=True, kind="connect")
    return AttemptFailed(
        f"node connection failed: {exc or type(exc).__name__}", retryable=True, kind="dropped"
    )


async def _read_capped(response: Response, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= cap:
                break
    except HTTPError:
        pass
    return b"".join(chunks)[:cap]


def error_message(raw: bytes) -> str | None:
    """The ``error`` of an Ollama error body, or the text itself."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message", data["error"]))
    return text[:500]


async def iter_lines(response: Response) -> AsyncIterator[bytes]:
    """Complete NDJSON lines (each ending in ``\\n``) as they arrive, undecoded."""
    carry = b""
    async for chunk in response.aiter_raw():
        if carry:
            chunk = carry + chunk
        if b"\n" not in chunk:
            carry = chunk
            continue
        end = chunk.rfind(b"\n") + 1
        carry = chunk[end:]
        body = chunk[:end]
        if body.count(b"\n") == 1:
            yield body
        else:
            for line in body.splitlines(keepends=True):
                if line.strip():
                    yield line
    if carry.strip():
        yield carry + b"\n"


async def iter_events(response: Response) -> AsyncIterator[bytes]:
    """Complete server-sent events (each ending in a blank line) as they arrive, undecoded."""
    carry = b""
    async for chunk in response.aiter_raw():
        carry += chunk.replace(b"\r\n", b"\n")
        while True:
            end = carry.find(b"\n\n")
            if end < 0:
                break
            event, carry = carry[: end + 2], carry[end + 2 :]
            if event.strip():
                yield event
    if carry.strip():
        yield carry.rstrip(b"\n") + b"\n\n"


def is_error_line(line: bytes) -> bool:
    return line.lstrip().startswith(b'{"error"')


def is_done_line(line: bytes) -> bool:
    """Whether an Ollama stream line is the final one (``"done": true``), without parsing it."""
    at = line.rfind(b'"done"')
    if at < 0:
        return False
    rest = line[at + 6 :].lstrip()
    return rest.startswith(b":") and rest[1:].lstrip().startswith(b"true")
