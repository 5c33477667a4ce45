"""Injected faults and client disconnects, seen from a real client over real TCP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from tests.procs import get_json, running_sim, wait_until

pytestmark = pytest.mark.e2e

MODEL = "llama3.2:3b"
CHAT_BODY = {"model": MODEL, "messages": [{"role": "user", "content": "tell me"}]}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    flags = ("--profile", "laptop", "--time-scale", "0.001", "--num-parallel", "1")
    with running_sim("sim-faults", *flags) as url:
        yield url


@pytest.fixture
def sim(base: str) -> str:
    httpx.post(base + "/_sim/reset", json={}).raise_for_status()
    httpx.post(base + "/_sim/config", json={"time_scale": 0.001}).raise_for_status()
    return base


def arm(sim: str, **fault: Any) -> str:
    response = httpx.post(sim + "/_sim/faults", json=fault)
    response.raise_for_status()
    return response.json()["fault_id"]


def records(sim: str, path: str = "/api/chat") -> list[dict[str, Any]]:
    return get_json(sim + "/_sim/records", params={"path": path})["requests"]


def last_outcome(sim: str, path: str = "/api/chat") -> Any:
    found = records(sim, path)
    return found[-1]["outcome"] if found else None


def test_http_error_fault(sim: str) -> None:
    arm(sim, kind="http_error", status=503, message="overloaded", path="/api/chat")
    client = ollama.Client(host=sim)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(**CHAT_BODY)
    assert caught.value.status_code == 503 and caught.value.error == "overloaded"
    assert client.chat(**CHAT_BODY).done  # count 1: the next request is fine
    outcomes = [(r["outcome"], r["fault"]) for r in records(sim)]
    assert outcomes == [("error", "http_error"), ("completed", None)]


def test_http_error_on_openai_path_uses_openai_error_shape(sim: str) -> None:
    arm(sim, kind="http_error", status=500, message="boom", path="/v1/chat/completions")
    response = httpx.post(sim + "/v1/chat/completions", json=CHAT_BODY)
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "boom"


def test_drop_before_first_chunk_closes_without_a_response(sim: str) -> None:
    arm(sim, kind="drop_before_first_chunk", model=MODEL)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(sim + "/api/chat", json=CHAT_BODY, timeout=10)
    assert last_outcome(sim) == "dropped"
    assert httpx.post(sim + "/api/chat", json=CHAT_BODY, timeout=10).status_code == 200


def test_drop_after_first_chunk_streaming(sim: str) -> None:
    arm(sim, kind="drop_after_first_chunk", path="/api/chat")
    received: list[dict[str, Any]] = []
    with (
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
        httpx.stream("POST", sim + "/api/chat", json=CHAT_BODY, timeout=10) as response,
    ):
        assert response.status_code == 200
        for text in response.iter_lines():
            received.append(json.loads(text))
    assert len(received) == 1 and received[0]["done"] is False
    record = records(sim)[-1]
    assert record["outcome"] == "dropped" and record["chunks_sent"] == 1


def test_drop_after_first_chunk_non_streaming_truncates_the_body(sim: str) -> None:
    arm(sim, kind="drop_after_first_chunk", path="/api/chat")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(sim + "/api/chat", json={**CHAT_BODY, "stream": False}, timeout=10)
    assert last_outcome(sim) == "dropped"


def test_midstream_error_keeps_status_200(sim: str) -> None:
    arm(sim, kind="midstream_error", after_chunks=2, message="runner crashed")
    response = httpx.post(sim + "/api/chat", json=CHAT_BODY, timeout=10)
    assert response.status_code == 200
    lines = [json.loads(x) for x in response.text.splitlines()]
    assert len(lines) == 3
    assert all("message" in x for x in lines[:2])
    assert lines[2] == {"error": "runner crashed"}
    assert last_outcome(sim) == "error"
    arm(sim, kind="midstream_error", after_chunks=1, message="again")
    with pytest.raises(ollama.ResponseError):
        list(ollama.Client(host=sim).chat(**CHAT_BODY, stream=True))


def test_midstream_error_on_a_non_streaming_request_is_an_http_error(sim: str) -> None:
    arm(sim, kind="midstream_error", message="runner crashed")
    response = httpx.post(sim + "/api/chat", json={**CHAT_BODY, "stream": False}, timeout=10)
    assert response.status_code == 500 and response.json() == {"error": "runner crashed"}


def test_hang_sends_headers_then_nothing_until_the_client_leaves(sim: str) -> None:
    arm(sim, kind="hang", path="/api/chat")
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST", sim + "/api/chat", json=CHAT_BODY, timeout=httpx.Timeout(10, read=0.5)
        ) as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_lines():
            pytest.fail("a hung request sent a chunk")
    record = wait_until(
        lambda: next((r for r in records(sim) if r["client_gone"]), None), what="client gone"
    )
    assert record["outcome"] == "hung" and record["finished_at"] is not None
    assert record["chunks_sent"] == 0


def test_slow_fault_delays_but_completes(sim: str) -> None:
    arm(sim, kind="slow", delay_s=0.2, chunk_delay_s=0.01, path="/api/generate")
    reply = ollama.Client(host=sim).generate(model=MODEL, prompt="slowly")
    assert reply.done and reply.response
    record = records(sim, "/api/generate")[-1]
    assert record["fault"] == "slow" and record["outcome"] == "completed"


def test_faults_with_filters_forever_and_clearing(sim: str) -> None:
    arm(sim, kind="http_error", path="/api/tags", count=-1, status=502)
    arm(sim, kind="http_error", model="mistral:7b")
    for _ in range(3):
        assert httpx.get(sim + "/api/tags").status_code == 502
    assert httpx.get(sim + "/api/ps").status_code == 200  # not consumed by polls
    assert httpx.post(sim + "/api/chat", json={**CHAT_BODY, "stream": False}).status_code == 200
    mistral = {**CHAT_BODY, "model": "mistral:7b", "stream": False}
    assert httpx.post(sim + "/api/chat", json=mistral).status_code == 500
    assert len(get_json(sim + "/_sim/faults")["faults"]) == 1
    httpx.delete(sim + "/_sim/faults").raise_for_status()
    assert httpx.get(sim + "/api/tags").status_code == 200
    bad = httpx.post(sim + "/_sim/faults", json={"kind": "meteor"})
    assert bad.status_code == 400


def test_client_disconnect_mid_generation_cancels_upstream(sim: str) -> None:
    # ~14 tokens/s for this model on a laptop at time scale 5: a reply takes seconds
    httpx.post(sim + "/_sim/config", json={"time_scale": 5}).raise_for_status()
    with httpx.stream("POST", sim + "/api/chat", json=CHAT_BODY, timeout=30) as response:
        lines = response.iter_lines()
        first = json.loads(next(lines))
        assert first["done"] is False
    record = wait_until(
        lambda: next((r for r in records(sim) if r["outcome"] == "cancelled"), None),
        what="cancelled record",
    )
    assert record["client_gone"] is True
    assert record["chunks_sent"] < 16  # a full reply has at least 16 tokens
    state = get_json(sim + "/_sim/state")
    assert all(m["in_flight"] == 0 for m in state["loaded"])


def test_client_disconnect_while_queued_leaves_the_queue(sim: str) -> None:
    httpx.post(sim + "/_sim/config", json={"time_scale": 5}).raise_for_status()
    with httpx.Client(timeout=30) as holder_client, httpx.Client(timeout=30) as waiter_client:
        with holder_client.stream("POST", sim + "/api/chat", json=CHAT_BODY) as holding:
            held = holding.iter_lines()  # keep a reference: a dropped iterator closes the socket
            next(held)  # the single slot is now taken
            with pytest.raises(httpx.ReadTimeout):
                waiter_client.post(
                    sim + "/api/chat", json=CHAT_BODY, timeout=httpx.Timeout(30, read=0.3)
                )
            state = get_json(sim + "/_sim/state")
            assert state["max_concurrent_seen"][MODEL] == 1
        wait_until(
            lambda: sum(r["outcome"] == "cancelled" for r in records(sim)) == 2,
            what="both cancelled",
        )
    state = get_json(sim + "/_sim/state")
    assert state["queued"] == {}
    assert state["max_concurrent_seen"][MODEL] == 1
    assert all(m["in_flight"] == 0 for m in state["loaded"])


def test_parallel_limit_seen_by_real_concurrent_clients(sim: str) -> None:
    import concurrent.futures

    httpx.post(
        sim + "/_sim/config", json={"time_scale": 0.05, "num_parallel": 2}
    ).raise_for_status()

    def one(_: int) -> int:
        body = {**CHAT_BODY, "stream": False, "options": {"num_predict": 8}}
        return httpx.post(sim + "/api/chat", json=body, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        assert list(pool.map(one, range(5))) == [200] * 5
    state = get_json(sim + "/_sim/state")
    assert state["max_concurrent_seen"][MODEL] <= 2
    starts = sorted(r["concurrent_at_start"] for r in records(sim))
    assert max(starts) <= 2 and min(starts) >= 1
    httpx.post(sim + "/_sim/config", json={"num_parallel": 1}).raise_for_status()


def test_queue_limit_answers_503(sim: str) -> None:
    import threading

    httpx.post(
        sim + "/_sim/config", json={"time_scale": 5, "max_queue": 1, "num_parallel": 1}
    ).raise_for_status()

    def queued_request() -> None:
        with contextlib.suppress(httpx.HTTPError):  # served late or timed out: either is fine
            httpx.post(sim + "/api/chat", json=CHAT_BODY, timeout=httpx.Timeout(10, read=2))

    try:
        with (
            httpx.Client(timeout=30) as first,
            first.stream("POST", sim + "/api/chat", json=CHAT_BODY) as holding,
        ):
            held = holding.iter_lines()  # keep a reference: a dropped iterator closes the socket
            next(held)
            waiter = threading.Thread(target=queued_request)
            waiter.start()
            try:
                wait_until(lambda: get_json(sim + "/_sim/state")["queued"].get(MODEL) == 1)
                busy = httpx.post(sim + "/api/chat", json=CHAT_BODY, timeout=10)
                assert busy.status_code == 503
                assert busy.json() == {
                    "error": "server busy, please try again.  maximum pending requests exceeded"
                }
            finally:
                waiter.join(timeout=15)
    finally:
        httpx.post(sim + "/_sim/config", json={"max_queue": 512}).raise_for_status()
