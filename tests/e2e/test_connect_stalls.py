"""A connect timeout measures the server, not the router: while the router's event loop is too
busy to run anything (a burst of requests being routed), a connection the server accepted in time
is not a timeout; a server that really does not accept still times out. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import pytest

from router.http_client import Client, ConnectTimeout
from router.upstream import AttemptFailed, Upstream
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT_S = 0.2
BOUND_S = 20.0


def busy(seconds: float) -> None:
    """CPU work on the event loop, as routing a burst of requests is: nothing else runs."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@asynccontextmanager
async def answering() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_stalled_loop_does_not_turn_an_accepted_connection_into_a_timeout() -> None:
    async with answering() as url, Client(connect_timeout=TIMEOUT_S) as client:
        asked = asyncio.ensure_future(client.request("GET", url, "/"))
        # Runs right after the request started connecting: the loop stalls for 3x the timeout.
        asyncio.get_running_loop().call_soon(busy, 3 * TIMEOUT_S)
        response = await asyncio.wait_for(asked, BOUND_S)
    assert response.status_code == 200 and response.content == b"ok"
    assert client.stalls.stalled() >= 2 * TIMEOUT_S  # the stall was seen, and not counted


async def test_a_server_that_does_not_accept_still_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]  # fill its accept queue: SYNs are dropped
        try:
            for filler in fillers:
                filler.setblocking(False)
                with suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            wait_until(lambda: fillers[0].getpeername(), what="the accept queue to fill")
            upstream = Upstream(connect_timeout_s=TIMEOUT_S)
            try:
                with pytest.raises(AttemptFailed) as failed:
                    await asyncio.wait_for(
                        upstream.open(f"http://127.0.0.1:{port}", "/api/chat", b"{}"), BOUND_S
                    )
            finally:
                await upstream.aclose()
            assert failed.value.kind == "timeout"
            async with Client(connect_timeout=TIMEOUT_S) as client:
                with pytest.raises(ConnectTimeout):
                    await asyncio.wait_for(
                        client.request("GET", f"http://127.0.0.1:{port}", "/"), BOUND_S
                    )
        finally:
            for filler in fillers:
                filler.close()
