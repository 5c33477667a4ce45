"""The router's HTTP/1.1 client against real servers on loopback.

Normal behaviour (framing, streaming, keep-alive, limits, backpressure, timeouts, statuses) is
checked against a uvicorn server running a small app in the test's own event loop; the faults a
well-behaved server never commits (closing a reused connection before answering, dying mid-body,
sending garbage) against a scripted asyncio server. Waits are on events and conditions, bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from node.sim import SimConfig, start_in_thread
from router.http_client import (
    Client,
    ConnectError,
    HTTPStatusError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseClosed,
)
from router.upstream import AttemptFailed, Upstream, is_done_line, iter_lines
from tests.procs import free_port

pytestmark = pytest.mark.e2e

WAIT_S = 10.0
BIG = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # 8 MiB


# --- a uvicorn server in the test's loop --------------------------------------------------------


class Server:
    """What the app saw, and the switches a test uses to let it go on."""

    def __init__(self) -> None:
        self.url = ""
        self.peers: list[tuple[str, int]] = []
        self.release = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.in_flight = 0
        self.changed = asyncio.Condition()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), WAIT_S)

    async def bump(self, delta: int) -> None:
        async with self.changed:
            self.in_flight += delta
            self.changed.notify_all()


def _app(server: Server) -> Callable[..., Awaitable[None]]:
    def seen(request: Request) -> None:
        assert request.client is not None
        server.peers.append((request.client.host, request.client.port))

    async def fixed(request: Request) -> Response:
        seen(request)
        return Response(b'{"ok":true}', media_type="application/json")

    async def echo(request: Request) -> Response:
        seen(request)
        return Response(await request.body(), media_type="application/octet-stream")

    async def close(request: Request) -> Response:
        seen(request)
        return Response(b"bye", headers={"Connection": "close"})

    async def stream(request: Request) -> StreamingResponse:
        seen(request)

        async def body() -> AsyncIterator[bytes]:
            yield b'{"n":1}\n'
            await asyncio.wait_for(server.release.wait(), WAIT_S)
            yield b'{"n":2}\n'
            yield b'{"n":3,"done":true}\n'

        return StreamingResponse(body(), media_type="application/x-ndjson")

    async def slow(request: Request) -> Response:
        seen(request)
        await asyncio.wait_for(server.release.wait(), WAIT_S)
        return Response(b"late")

    async def hold(request: Request) -> Response:
        seen(request)
        await server.bump(1)
        try:
            await asyncio.wait_for(server.release.wait(), WAIT_S)
        finally:
            await server.bump(-1)
        return Response(b"held")

    async def big(request: Request) -> Response:
        seen(request)
        return Response(BIG, media_type="application/octet-stream")

    async def big_chunked(request: Request) -> StreamingResponse:
        seen(request)

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(BIG), 65536):
                yield BIG[start : start + 65536]

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def status(request: Request) -> Response:
        seen(request)
        code = int(request.path_params["code"])
        return Response(json.dumps({"error": f"failed with {code}"}), status_code=code)

    starlette = Starlette(
        routes=[
            Route("/fixed", fixed, methods=["GET", "POST"]),
            Route("/echo", echo, methods=["POST"]),
            Route("/close", close),
            Route("/stream", stream, methods=["GET", "POST"]),
            Route("/slow", slow, methods=["GET", "POST"]),
            Route("/hold", hold),
            Route("/big", big),
            Route("/big-chunked", big_chunked),
            Route("/status/{code}", status, methods=["GET", "POST"]),
        ]
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/endless":
            # Streams until the client goes away, and notices it the way a node does.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            for _ in range(10):
                message = await asyncio.wait_for(receive(), WAIT_S)
                if message["type"] == "http.disconnect":
                    server.disconnected.set()
                    return
            return
        await starlette(scope, receive, send)

    return app


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app(state), log_level="warning", access_log=False, lifespan="off")
    config.timeout_graceful_shutdown = 2
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(1000):  # bounded: the server starts in a few milliseconds
        if uv.started or task.done():
            break
        await asyncio.sleep(0.005)
    assert uv.started, "the test server did not start"
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield state
    finally:
        state.release.set()
        uv.should_exit = True
        await asyncio.wait_for(task, WAIT_S)
        sock.close()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    c = Client(connect_timeout=2.0, first_byte_timeout=WAIT_S)
    try:
        yield c
    finally:
        await c.aclose()


# --- a scripted server for the faults ------------------------------------------------------------

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

Script = Callable[[int, int], bytes | None]
"""(connection number, request number on it) -> bytes to answer then keep going, or None to
close the connection without answering. Bytes ending in ``CLOSE`` are sent, then it closes."""

CLOSE = b"<close>"


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[dict[str, Any]]:
    seen: dict[str, Any] = {"connections": 0, "requests": []}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = seen["connections"]
        seen["connections"] += 1
        try:
            for index in range(100):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                seen["requests"].append((number, index))
                answer = script(number, index)
                if answer is None:
                    break
                if answer.endswith(CLOSE):
                    writer.write(answer[: -len(CLOSE)])
                    await writer.drain()
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen["url"] = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    try:
        yield seen
    finally:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), WAIT_S)


# --- framing and streaming ------------------------------------------------------------------------


async def test_content_length_body_and_case_insensitive_headers(
    server: Server, client: Client
) -> None:
    response = await client.request("GET", server.url, "/fixed")
    assert response.status_code == 200
    assert response.content == b'{"ok":true}'
    assert response.json() == {"ok": True}
    assert response.headers.get("Content-Type") == "application/json"
    assert response.headers["content-length"] == "11"
    assert "CONTENT-TYPE" in response.headers


async def test_request_body_is_sent_whole(server: Server, client: Client) -> None:
    body = hashlib.sha256(b"seed").digest() * 40_000  # ~1.3 MB
    response = await client.request("POST", server.url, "/echo", body)
    assert response.content == body


async def test_chunked_stream_delivers_the_first_chunk_before_the_last_is_sent(
    server: Server, client: Client
) -> None:
    response = await client.stream("POST", server.url, "/stream", b"{}")
    assert response.headers.get("transfer-encoding") == "chunked"
    chunks = response.aiter_raw()
    first = await asyncio.wait_for(anext(chunks), WAIT_S)
    assert first == b'{"n":1}\n'
    assert not server.release.is_set()  # the server has not even produced the rest yet
    server.release.set()
    rest = b""
    async for chunk in chunks:
        rest += chunk
    assert rest == b'{"n":2}\n{"n":3,"done":true}\n'
    await response.aclose()
    assert client.pool_stats(server.url) == {"total": 1, "idle": 1, "waiting": 0}


async def test_iter_lines_yields_each_ndjson_line_as_it_arrives(server: Server) -> None:
    upstream = Upstream(connect_timeout_s=2.0, first_byte_timeout_s=WAIT_S)
    try:
        response = await upstream.open(server.url, "/stream", b"{}")
        lines = iter_lines(response)
        assert await asyncio.wait_for(anext(lines), WAIT_S) == b'{"n":1}\n'
        server.release.set()
        rest = [line async for line in lines]
        assert rest == [b'{"n":2}\n', b'{"n":3,"done":true}\n']
        assert is_done_line(rest[-1])
        await response.aclose()
    finally:
        await upstream.aclose()


# --- keep-alive -----------------------------------------------------------------------------------


async def test_sequential_requests_share_one_connection(server: Server, client: Client) -> None:
    for _ in range(10):
        response = await client.request("POST", server.url, "/fixed", b"{}")
        assert response.status_code == 200
    assert len(server.peers) == 10
    assert len(set(server.peers)) == 1
    assert client.pool_stats(server.url)["total"] == 1


async def test_connection_close_from_the_server_is_not_reused(
    server: Server, client: Client
) -> None:
    for _ in range(3):
        response = await client.request("GET", server.url, "/close")
        assert response.content == b"bye"
    assert len(set(server.peers)) == 3
    assert client.pool_stats(server.url) == {"total": 0, "idle": 0, "waiting": 0}


async def test_reused_connection_closed_before_answering_is_retried_on_a_fresh_one() -> None:
    def script(connection: int, request: int) -> bytes | None:
        return OK_HEAD if request == 0 else None  # the 2nd request on a connection: hang up

    async with scripted(script) as seen, Client(connect_timeout=2.0) as c:
        first = await c.request("POST", seen["url"], "/a", b"{}")
        second = await c.request("POST", seen["url"], "/b", b"{}")
        assert (first.content, second.content) == (b"ok", b"ok")
        assert seen["connections"] == 2
        assert seen["requests"] == [(0, 0), (0, 1), (1, 0)]


async def test_a_pooled_connection_the_server_closed_while_idle_is_not_used() -> None:
    async with scripted(lambda _c, _r: OK_HEAD + CLOSE) as seen, Client() as c:
        first = await c.request("GET", seen["url"], "/a")
        assert first.content == b"ok"
        for _ in range(200):  # bounded: the EOF reaches the pool within a few loop turns
            if c.pool_stats(seen["url"])["total"] == 0:
                break
            await asyncio.sleep(0.005)
        assert c.pool_stats(seen["url"])["total"] == 0
        second = await c.request("GET", seen["url"], "/b")
        assert second.content == b"ok"
        assert seen["requests"] == [(0, 0), (1, 0)]


async def test_no_retry_once_a_response_byte_arrived() -> None:
    def script(connection: int, request: int) -> bytes | None:
        return OK_HEAD if request == 0 else b"HTTP/1.1 200" + CLOSE

    async with scripted(script) as seen, Client() as c:
        await c.request("POST", seen["url"], "/a", b"{}")
        with pytest.raises(RemoteProtocolError):
            await c.request("POST", seen["url"], "/b", b"{}")
        assert seen["connections"] == 1


async def test_a_fresh_connection_closed_before_answering_is_an_error_not_a_retry() -> None:
    async with scripted(lambda _c, _r: None) as seen, Client() as c:
        with pytest.raises(RemoteProtocolError):
            await c.request("POST", seen["url"], "/a", b"{}")
        assert seen["connections"] == 1
        assert c.pool_stats(seen["url"])["total"] == 0


async def test_a_server_dropping_mid_body_surfaces_the_error_after_the_bytes_it_sent() -> None:
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789" + CLOSE
    async with scripted(lambda _c, _r: partial) as seen, Client() as c:
        response = await c.stream("GET", seen["url"], "/a")
        received = b""
        with pytest.raises(RemoteProtocolError):
            async for chunk in response.aiter_raw():
                received += chunk
        assert received == b"0123456789"
        await response.aclose()
        assert c.pool_stats(seen["url"])["total"] == 0


async def test_a_chunked_stream_cut_short_fails_in_iter_lines() -> None:
    cut = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"n":1}\n\r\n' + CLOSE
    async with scripted(lambda _c, _r: cut) as seen:
        upstream = Upstream(connect_timeout_s=2.0)
        try:
            response = await upstream.open(seen["url"], "/api/chat", b"{}")
            lines: list[bytes] = []
            with pytest.raises(RemoteProtocolError):
                async for line in iter_lines(response):
                    lines.append(line)
            assert lines == [b'{"n":1}\n']
            await response.aclose()
        finally:
            await upstream.aclose()


async def test_a_body_delimited_by_the_end_of_the_connection() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end" + CLOSE
    async with scripted(lambda _c, _r: answer) as seen, Client() as c:
        response = await c.request("GET", seen["url"], "/a")
        assert response.content == b"until the end"
        assert c.pool_stats(seen["url"])["total"] == 0


async def test_garbage_is_a_protocol_error() -> None:
    async with scripted(lambda _c, _r: b"SMTP ready\r\n\r\n" + CLOSE) as seen, Client() as c:
        with pytest.raises(ProtocolError):
            await c.request("GET", seen["url"], "/a")


async def test_an_interim_100_continue_is_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD
    async with scripted(lambda _c, _r: answer) as seen, Client() as c:
        for _ in range(2):
            response = await c.request("POST", seen["url"], "/a", b"{}")
            assert (response.status_code, response.content) == (200, b"ok")
        assert seen["connections"] == 1


async def test_an_answer_nobody_asked_for_retires_the_connection() -> None:
    async with scripted(lambda _c, _r: OK_HEAD + OK_HEAD) as seen, Client() as c:
        for _ in range(2):
            response = await c.request("GET", seen["url"], "/a")
            assert response.content == b"ok"
        assert seen["connections"] == 2


# --- closing early --------------------------------------------------------------------------------


async def test_closing_a_response_early_closes_the_connection_and_the_server_sees_it(
    server: Server, client: Client
) -> None:
    response = await client.stream("POST", server.url, "/endless", b"{}")
    assert await asyncio.wait_for(anext(response.aiter_raw()), WAIT_S) == b"tick\n"
    await response.aclose()
    await asyncio.wait_for(server.disconnected.wait(), WAIT_S)
    assert client.pool_stats(server.url)["total"] == 0
    with pytest.raises(ResponseClosed):
        await response.aread()


# --- failures before an answer --------------------------------------------------------------------


async def test_connect_refused_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(connect_timeout=2.0) as c:
        with pytest.raises(ConnectError):
            await c.request("GET", url, "/")
        assert c.pool_stats(url)["total"] == 0
    upstream = Upstream(connect_timeout_s=2.0)
    try:
        with pytest.raises(AttemptFailed) as failed:
            await upstream.open(url, "/api/chat", b"{}")
        assert (failed.value.kind, failed.value.retryable) == ("connect", True)
    finally:
        await upstream.aclose()


async def test_first_byte_timeout(server: Server) -> None:
    async with Client(first_byte_timeout=0.2) as c:
        with pytest.raises(ReadTimeout):
            await c.request("GET", server.url, "/slow")
        assert c.pool_stats(server.url)["total"] == 0
    upstream = Upstream(first_byte_timeout_s=0.2)
    try:
        with pytest.raises(AttemptFailed) as failed:
            await upstream.open(server.url, "/slow", b"{}")
        assert failed.value.kind == "timeout"
        assert "timed out" in failed.value.message
    finally:
        await upstream.aclose()


async def test_read_timeout_between_chunks(server: Server) -> None:
    async with Client(first_byte_timeout=WAIT_S, read_timeout=0.2) as c:
        response = await c.stream("GET", server.url, "/stream")
        chunks = response.aiter_raw()
        assert await anext(chunks) == b'{"n":1}\n'
        with pytest.raises(ReadTimeout):
            await anext(chunks)
        await response.aclose()


# --- the pool limit -------------------------------------------------------------------------------


async def test_a_request_beyond_the_pool_limit_waits_for_a_connection(server: Server) -> None:
    async with Client(max_connections=2) as c:
        tasks = [asyncio.create_task(c.request("GET", server.url, "/hold")) for _ in range(3)]
        await server.wait_for(lambda: server.in_flight == 2)
        stats = c.pool_stats(server.url)
        assert stats == {"total": 2, "idle": 0, "waiting": 1}
        assert len(server.peers) == 2  # the third request has not reached the server
        server.release.set()
        done = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
        assert [r.content for r in done] == [b"held"] * 3
        assert len(server.peers) == 3
        assert len(set(server.peers)) == 2
        assert c.pool_stats(server.url) == {"total": 2, "idle": 2, "waiting": 0}


async def test_pool_timeout_gives_the_slot_back(server: Server) -> None:
    async with Client(max_connections=1, pool_timeout=0.1) as c:
        held = asyncio.create_task(c.request("GET", server.url, "/hold"))
        await server.wait_for(lambda: server.in_flight == 1)
        with pytest.raises(PoolTimeout):
            await c.request("GET", server.url, "/fixed")
        server.release.set()
        assert (await asyncio.wait_for(held, WAIT_S)).content == b"held"
        assert (await c.request("GET", server.url, "/fixed")).status_code == 200
        assert c.pool_stats(server.url) == {"total": 1, "idle": 1, "waiting": 0}


# --- large bodies and backpressure ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_large_body_with_backpressure(server: Server, path: str) -> None:
    high = 64 * 1024
    async with Client(high_water=high, low_water=16 * 1024) as c:
        response = await c.stream("GET", server.url, path)
        conn = response._conn
        assert conn is not None
        for _ in range(2000):  # bounded: the buffer fills within a few loop turns
            if conn._paused:
                break
            await asyncio.sleep(0.001)
        assert conn._paused, "reading was not paused while nobody consumed"
        bound = high + 256 * 1024  # one socket read may land past the high-water mark
        assert response._buffered <= bound
        digest = hashlib.sha256()
        size = 0
        async for chunk in response.aiter_raw():
            assert len(chunk) <= bound
            digest.update(chunk)
            size += len(chunk)
        assert size == len(BIG)
        assert digest.digest() == hashlib.sha256(BIG).digest()
        await response.aclose()
        assert c.pool_stats(server.url) == {"total": 1, "idle": 1, "waiting": 0}


# --- statuses -------------------------------------------------------------------------------------


async def test_error_statuses_carry_their_bodies(server: Server, client: Client) -> None:
    for code in (400, 404, 500, 503):
        response = await client.request("GET", server.url, f"/status/{code}")
        assert response.status_code == code
        assert response.json() == {"error": f"failed with {code}"}
        with pytest.raises(HTTPStatusError):
            response.raise_for_status()
    assert len(set(server.peers)) == 1  # error answers keep the connection


async def test_upstream_sorts_error_statuses_into_retryable_or_not(server: Server) -> None:
    upstream = Upstream()
    try:
        for code, retryable in ((400, False), (404, True), (500, True), (503, True)):
            with pytest.raises(AttemptFailed) as failed:
                await upstream.open(server.url, f"/status/{code}", b"{}")
            assert failed.value.status == code
            assert failed.value.retryable is retryable
            assert failed.value.message == f"failed with {code}"
        shown = await upstream.request_json("POST", server.url, "/status/404", {}, timeout=5.0)
        assert shown.status_code == 404
        assert shown.content == b'{"error": "failed with 404"}'
        assert await upstream.get_json(server.url, "/fixed") == {"ok": True}
    finally:
        await upstream.aclose()


# --- against the Ollama simulator -----------------------------------------------------------------


async def test_streams_a_simulated_chat_and_reuses_the_connection() -> None:
    body = json.dumps(
        {
            "model": "llama3.2:3b",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "options": {"num_predict": 20},
        }
    ).encode()
    with start_in_thread(SimConfig(time_scale=0)) as sim:
        upstream = Upstream(connect_timeout_s=2.0, first_byte_timeout_s=WAIT_S)
        try:
            for _ in range(3):
                response = await upstream.open(sim.url, "/api/chat", body)
                lines = [line async for line in iter_lines(response)]
                await response.aclose()
                assert all(line.endswith(b"\n") for line in lines)
                assert is_done_line(lines[-1])
                assert json.loads(lines[-1])["eval_count"] > 0
            assert upstream.client.pool_stats(sim.url) == {"total": 1, "idle": 1, "waiting": 0}
        finally:
            await upstream.aclose()
