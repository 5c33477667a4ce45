"""The client facade: ``Client.stream`` and ``Client.request`` over the per-origin pools.

Owns ``Client``: its timeouts and limits, the pool per origin (looked up once per base URL), how a
request's bytes are framed (the cached head, ``Content-Length`` and body, in one write), the one
retry on a fresh connection when a reused one turns out stale, ``pool_stats`` and ``aclose``.

Never knows about Ollama, routing or retries across nodes (``router.upstream`` does), never
follows redirects, never decodes content encodings and never sends ``HEAD``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import ConnectError, RemoteProtocolError, StaleConnection
from .pool import Origin
from .response import Response
from .stalls import Stalls


class Client:
    """Pooled HTTP/1.1 requests. ``stream`` leaves the body unread; ``request`` reads it."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 600.0,
        read_timeout: float | None = None,
        pool_timeout: float = 30.0,
        max_connections: int = 512,
        keepalive_expiry: float = 20.0,
        high_water: int = 1 << 20,
        low_water: int = 1 << 18,
        user_agent: str = "herd-router",
    ) -> None:
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.read_timeout = first_byte_timeout if read_timeout is None else read_timeout
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.high_water = high_water
        self.low_water = min(low_water, high_water)
        self.common_headers = f"User-Agent: {user_agent}\r\n".encode()
        self.closed = False
        self.stalls = Stalls()
        """The event loop's stalls, which connect timeouts do not count."""
        self._origins: dict[tuple[str, str], Origin] = {}
        self._bases: dict[str, tuple[Origin, str]] = {}

    def _base(self, base_url: str) -> tuple[Origin, str]:
        """The pool for ``base_url`` (scheme://host[:port][/prefix]) and its path prefix."""
        base = self._bases.get(base_url)
        if base is None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {base_url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            netloc = parts.netloc.rpartition("@")[2]
            key = (parts.scheme, netloc.lower())
            origin = self._origins.get(key)
            if origin is None:
                origin = Origin(self, parts.scheme, parts.hostname, port, netloc)
                self._origins[key] = origin
            if len(self._bases) > 4096:
                self._bases.clear()
            self._bases[base_url] = base = (origin, parts.path.rstrip("/"))
        return base

    async def stream(
        self,
        method: str,
        base_url: str,
        path: str,
        body: bytes = b"",
        headers: bytes = b"",
        timeout: float | None = None,
        first_byte_timeout: float | None = None,
    ) -> Response:
        """Send a request and return once the response's headers arrived; the body is unread.

        ``headers`` are extra raw header lines (``b"Name: value\\r\\n"`` each); ``timeout``
        replaces every timeout of this request, ``first_byte_timeout`` only the wait for the
        first byte. Raises ``HTTPError`` subclasses.
        """
        if self.closed:
            raise ConnectError("the client is closed")
        if method == "HEAD":
            raise ValueError("HEAD is not supported")
        origin, prefix = self._base(base_url)
        head = origin.head(method, prefix + path if prefix else path, headers)
        if body or method not in ("GET", "DELETE", "OPTIONS"):
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        else:
            data = head + b"\r\n"
        if timeout is None:
            connect, pool = self.connect_timeout, self.pool_timeout
            first_byte, read = self.first_byte_timeout, self.read_timeout
        else:
            connect = pool = first_byte = read = timeout
        if first_byte_timeout is not None:
            first_byte = first_byte_timeout
        url = base_url + path
        fresh = False
        for _ in range(2):
            conn = await origin.acquire(fresh, connect, pool)
            response = Response(method, url, self.low_water)
            try:
                await conn.send(data, response, first_byte, read)
            except StaleConnection:
                fresh = True  # the server had closed the pooled connection: once, on a new one
                continue
            return response
        raise RemoteProtocolError("the server closed a fresh connection before answering")

    async def request(
        self,
        method: str,
        base_url: str,
        path: str,
        body: bytes = b"",
        headers: bytes = b"",
        timeout: float | None = None,
    ) -> Response:
        """Send a request and read its whole body (``response.content``)."""
        response = await self.stream(method, base_url, path, body, headers, timeout)
        try:
            await response.aread()
        finally:
            response.close()
        return response

    def pool_stats(self, base_url: str) -> dict[str, int]:
        """Connections to ``base_url``: total (incl. connecting), idle, and requests waiting."""
        origin = self._base(base_url)[0]
        waiting = sum(1 for w in origin.waiters if not w.done())
        return {"total": origin.total, "idle": len(origin.idle), "waiting": waiting}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        self.stalls.close()
        for origin in self._origins.values():
            origin.close()
