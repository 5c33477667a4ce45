"""A minimal HTTP/1.1 load client on asyncio streams, so the load generator costs little CPU.

Keep-alive connections, one request at a time per connection, ``Content-Length`` and chunked
responses. Only for benchmarks against servers this project runs on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass


@dataclass(slots=True)
class Result:
    status: int
    latency_s: float
    ttfb_s: float
    """Until the status line."""
    body_bytes: int
    chunks: int
    ttft_s: float = 0.0
    """Until the first body chunk (a streamed answer's first token)."""
    body: bytes = b""
    """The body, when asked for (``keep_body``)."""


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def post(
        self, path: str, body: bytes, headers: str = "", keep_body: bool = False
    ) -> Result:
        """``headers``: extra header lines, each ending in CRLF."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        ttfb = time.perf_counter() - started
        status = int(status_line.split()[1])
        length = -1
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        size = 0
        chunks = 0
        ttft = 0.0
        kept: list[bytes] = []
        if chunked:
            while True:
                size_line = await self.reader.readline()
                n = int(size_line.strip().split(b";")[0], 16)
                if n == 0:
                    await self.reader.readline()
                    break
                data = await self.reader.readexactly(n + 2)
                ttft = ttft or time.perf_counter() - started
                size += len(data) - 2
                chunks += data.count(b"\n") - 1 if n else 0
                if keep_body:
                    kept.append(data[:-2])
        elif length >= 0:
            data = await self.reader.readexactly(length)
            ttft = time.perf_counter() - started
            size = len(data)
            chunks = 1
            kept.append(data)
        body = b"".join(kept) if keep_body else b""
        return Result(status, time.perf_counter() - started, ttfb, size, chunks, ttft, body)


async def run_closed_loop(
    host: str, port: int, path: str, body: bytes, concurrency: int, requests: int
) -> tuple[list[Result], float]:
    """``requests`` POSTs spread over ``concurrency`` keep-alive connections; (results, wall s)."""
    results: list[Result] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        connection = Connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                results.append(await connection.post(path, body))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started
