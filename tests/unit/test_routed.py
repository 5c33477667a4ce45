"""A streamed answer frees its node's slot when the node's last line arrives.

The node is done with the request then; the client may still be reading the last lines through
the router. The next request waiting for that slot starts at once, not after the relay's tail.
A real queue board and slot; the node's lines are an async generator; no network.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from router.pipeline.attempt import Attempt
from router.pipeline.candidates import Choice
from router.pipeline.framing import NDJSON
from router.pipeline.request import InferenceRequest
from router.pipeline.routed import Routed
from router.queues import QueueBoard
from router.traces import TraceRecord, TraceStatus

MODEL = "llama3.2:3b"


def line(**fields: Any) -> bytes:
    return json.dumps({"model": MODEL, **fields}).encode() + b"\n"


async def node_lines() -> AsyncIterator[bytes]:
    yield line(message={"role": "assistant", "content": " there"}, done=False)
    yield line(message={"role": "assistant", "content": ""}, done=True, eval_count=2)


async def test_the_slot_frees_at_the_last_line_and_the_end_records_once() -> None:
    queues = QueueBoard(clock=lambda: 0.0)
    queue = queues.queue("a", MODEL, 1)
    slot = queue.try_acquire()
    assert slot is not None
    choice = Choice("a", "http://a", 1.0, {}, True, 1, 4096)
    request = InferenceRequest(kind="chat", model=MODEL, body={}, stream=True)
    ended: list[TraceStatus] = []

    def finished(status: TraceStatus) -> None:  # as the pipeline's finisher: release, record
        slot.release(ok=status == "completed")
        ended.append(status)

    routed = Routed(
        request,
        Attempt(choice=choice, model=MODEL, slot=slot, started=0.0),
        TraceRecord(request.request_id, MODEL, MODEL, "a", "completed"),
        line(message={"role": "assistant", "content": "hi"}, done=False),
        node_lines(),
        framing=NDJSON,
        finish=lambda status, _final: finished(status),
        clock=lambda: 0.0,
        reaper_timeout_s=60.0,
    )
    stream = routed.lines()
    await anext(stream)  # the first line, already read
    await anext(stream)  # a middle line: the node is still generating
    assert queue.in_flight == 1
    last = await anext(stream)  # the done line, not yet sent on to the client
    assert json.loads(last)["done"] is True
    assert queue.in_flight == 0 and queue.try_acquire() is not None  # the next one may start
    assert [rest async for rest in stream] == []  # the node's stream ends cleanly
    await routed.close()
    assert ended == ["completed"] and queue.done == 1 and queue.failed == 0


def _routed(
    node: str,
    first: bytes,
    rest: AsyncIterator[bytes],
    request: InferenceRequest,
    ended: list[tuple[str, TraceStatus]],
    resume: Any = None,
) -> Routed:
    queue = QueueBoard(clock=lambda: 0.0).queue(node, MODEL, 1)
    slot = queue.try_acquire()
    assert slot is not None

    def finished(status: TraceStatus) -> None:
        slot.release(ok=status == "completed")
        ended.append((node, status))

    return Routed(
        request,
        Attempt(Choice(node, f"http://{node}", 1.0, {}, True, 1, 4096), MODEL, slot, 0.0),
        TraceRecord(request.request_id, MODEL, MODEL, node, "completed"),
        first,
        rest,
        framing=NDJSON,
        finish=lambda status, _final: finished(status),
        clock=lambda: 0.0,
        reaper_timeout_s=60.0,
        resume=resume,
    )


def chunk(text: str) -> bytes:
    return line(message={"role": "assistant", "content": text}, done=False)


async def test_a_stream_whose_node_breaks_goes_on_where_it_broke_off() -> None:
    from router.http_client import HTTPError

    request = InferenceRequest(
        kind="chat", model=MODEL, body={"model": MODEL, "messages": [{"role": "user"}]}, stream=True
    )
    ended: list[tuple[str, TraceStatus]] = []
    asked: list[tuple[InferenceRequest, frozenset[str]]] = []

    async def breaking() -> AsyncIterator[bytes]:
        yield chunk(" b")
        raise HTTPError("connection reset")

    async def rest() -> AsyncIterator[bytes]:
        yield chunk(" d")
        yield line(message={"role": "assistant", "content": ""}, done=True, eval_count=2)

    async def resume(continued: InferenceRequest, excluded: frozenset[str]) -> Routed:
        asked.append((continued, excluded))
        return _routed("b", chunk(""), rest(), continued, ended)

    routed = _routed("a", chunk("A"), breaking(), request, ended, resume)
    got = [json.loads(x) async for x in routed.lines()]
    await routed.close()
    texts = [g["message"]["content"] for g in got]
    assert texts == ["A", " b", " d", ""] and got[-1]["eval_count"] == 4  # 2 + the 2 streamed
    continued, excluded = asked[0]
    assert excluded == {"a"}
    assert continued.body["messages"][-1] == {"role": "assistant", "content": "A b"}
    assert ended == [("a", "retried"), ("b", "completed")]
    assert routed.trace.resumed_from == ["a"] and routed.node_id == "b"


async def test_a_broken_stream_with_a_tool_call_ends_with_the_error() -> None:
    request = InferenceRequest(kind="chat", model=MODEL, body={"messages": []}, stream=True)
    ended: list[tuple[str, TraceStatus]] = []

    async def breaking() -> AsyncIterator[bytes]:
        yield line(message={"role": "assistant", "content": "", "tool_calls": [{}]}, done=False)

    async def resume(continued: InferenceRequest, excluded: frozenset[str]) -> Routed:
        raise AssertionError("not resumed")

    routed = _routed("a", chunk("A"), breaking(), request, ended, resume)
    got = [json.loads(x) async for x in routed.lines()]
    await routed.close()
    assert got[-1] == {"error": "the node closed the stream before it was done"}
    assert ended == [("a", "incomplete")]


async def test_a_stream_the_reaper_stopped_goes_on_too() -> None:
    import asyncio

    request = InferenceRequest(
        kind="generate", model=MODEL, body={"model": MODEL, "prompt": "p"}, stream=True
    )
    ended: list[tuple[str, TraceStatus]] = []

    async def stalled() -> AsyncIterator[bytes]:
        yield line(response=" b", done=False)
        await asyncio.Event().wait()  # no progress: the reaper cancels the streaming task
        yield b""

    async def rest() -> AsyncIterator[bytes]:
        yield line(message={"role": "assistant", "content": ""}, done=True, eval_count=1)

    async def resume(continued: InferenceRequest, excluded: frozenset[str]) -> Routed:
        assert continued.kind == "chat" and continued.body["messages"][-1]["content"] == "A b"
        return _routed(
            "b", line(message={"role": "assistant", "content": " c"}), rest(), continued, ended
        )

    routed = _routed("a", line(response="A", done=False), stalled(), request, ended, resume)
    stream = routed.lines()
    got = [await anext(stream), await anext(stream)]
    task = asyncio.current_task()
    assert task is not None
    routed._attempt.slot.reaped = True  # as QueueBoard.reap marks it before cancelling
    asyncio.get_running_loop().call_soon(task.cancel)
    got += [x async for x in stream]
    await routed.close()
    answer = [json.loads(x) for x in got]
    assert [a.get("response") for a in answer] == ["A", " b", " c", ""]
    assert "message" not in answer[2] and answer[-1]["eval_count"] == 3
    assert ended == [("a", "retried"), ("b", "completed")]


async def test_an_answer_goes_on_at_most_twice_and_never_where_it_failed() -> None:
    from router.http_client import HTTPError

    request = InferenceRequest(
        kind="chat", model=MODEL, body={"model": MODEL, "messages": []}, stream=True
    )
    ended: list[tuple[str, TraceStatus]] = []
    excluded_seen: list[frozenset[str]] = []

    async def breaking() -> AsyncIterator[bytes]:
        yield chunk(" more")
        raise HTTPError("reset")

    async def resume(continued: InferenceRequest, excluded: frozenset[str]) -> Routed:
        excluded_seen.append(excluded)
        node = f"n{len(excluded_seen)}"
        return _routed(node, chunk(f" {node}"), breaking(), continued, ended)

    routed = _routed("n0", chunk("A"), breaking(), request, ended, resume)
    got = [json.loads(x) async for x in routed.lines()]
    await routed.close()
    assert excluded_seen == [{"n0"}, {"n0", "n1"}]
    assert "".join(g.get("message", {}).get("content", "") for g in got) == (
        "A more n1 more n2 more"
    )
    assert "mid-stream" in got[-1]["error"]
    assert ended == [("n0", "retried"), ("n1", "retried"), ("n2", "incomplete")]
    assert routed.trace.resumed_from == ["n0", "n1"]
