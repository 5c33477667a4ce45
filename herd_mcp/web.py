"""The streamable HTTP front of herd-mcp: who may talk to it over the network.

Owns two checks in front of the SDK's streamable HTTP app: the ``Origin`` header (a browser page
from another site must not drive the fleet; requests without ``Origin`` are not from a browser and
pass) and, when a token is configured, ``Authorization: Bearer <token>`` compared in constant time.
``cli`` refuses to bind anything but loopback without a token. Never touches the fleet itself.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_ORIGINS = ("http://127.0.0.1", "http://localhost", "http://[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """``http://127.0.0.1`` allows that host on any port; a full ``scheme://host:port`` is exact."""
    origin = origin.rstrip("/").lower()
    for entry in allowed:
        entry = entry.rstrip("/").lower()
        if origin == entry:
            return True
        base, sep, port = origin.rpartition(":")
        if sep and port.isdigit() and base == entry:
            return True
    return False


class AccessGate:
    """ASGI middleware: refuse foreign origins (403) and, with a token, missing/wrong ones (401)."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, allowed_origins: Iterable[str] = LOOPBACK_ORIGINS
    ) -> None:
        self.app = app
        self.token = token or None
        self.allowed = tuple(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin and not origin_allowed(origin, self.allowed):
            await _refuse(send, 403, f"origin {origin} is not allowed")
            return
        if self.token is not None:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                await _refuse(send, 401, "a bearer token is required", bearer=True)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str, bearer: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
