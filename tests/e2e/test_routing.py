"""Routing behaviour proven through the simulators' own records, over real loopback HTTP.

One fleet for the module: a router and three simulated nodes (workstation, laptop, mini), each
a real ``herd-node --simulate`` process. Each test resets the simulators' faults and records.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("routing")
    with running_fleet(
        data_dir,
        [("ws", "workstation"), ("laptop", "laptop"), ("mini", "mini")],
        router_flags=["--reaper-timeout", "30"],
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(fleet: Fleet) -> Iterator[None]:
    fleet.reset()
    fleet.unload_all()
    fleet.reset()
    yield
    fleet.reset()
    set_toggles(fleet, reaper_timeout_s=30.0, auto_pull=True)


def set_toggles(fleet: Fleet, **toggles: Any) -> None:
    response = httpx.post(f"{fleet.router_url}/dashboard/api/settings", json=toggles, timeout=5)
    assert response.status_code == 200, response.text


def chat(fleet: Fleet, model: str, content: str = "hello", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": False}
    body.update(extra)
    return httpx.post(f"{fleet.router_url}/api/chat", json=body, timeout=60)


def stream_chat(fleet: Fleet, model: str) -> tuple[httpx.Response, list[str]]:
    """A streamed ``/api/chat`` through the router: the response and every NDJSON line."""
    with httpx.stream(
        "POST",
        f"{fleet.router_url}/api/chat",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    ) as response:
        return response, list(response.iter_lines())


def load_directly(fleet: Fleet, node_id: str, model: str) -> None:
    """Load ``model`` on one node by asking its simulator (not the router), then wait until the
    router's registry has heard about it."""
    sim = fleet.sim(node_id)
    response = httpx.post(f"{sim.url}/api/generate", json={"model": model}, timeout=30)
    assert response.status_code == 200, response.text
    fleet.wait_loaded(node_id, model)


def unload_directly(fleet: Fleet, node_id: str, model: str) -> None:
    sim = fleet.sim(node_id)
    httpx.post(
        f"{sim.url}/api/generate", json={"model": model, "keep_alive": 0}, timeout=30
    ).raise_for_status()


def inference_records(fleet: Fleet, node_id: str, model: str | None = None) -> list[dict]:
    return [
        r
        for r in fleet.sim(node_id).records()
        if r["path"] in ("/api/chat", "/api/generate", "/api/embed")
        and (model is None or r["model"] == model)
        and r.get("body", {}).get("messages", r.get("body", {}).get("prompt")) not in ([], "", None)
    ]


def traces(fleet: Fleet, **filters: Any) -> list[dict]:
    response = httpx.get(
        f"{fleet.router_url}/dashboard/api/traces", params={"limit": 50, **filters}, timeout=5
    )
    return response.json()["traces"]


def latest_trace(fleet: Fleet, **filters: Any) -> dict:
    """The newest trace matching ``filters``, waiting for the batched writer to store it."""
    return wait_until(lambda: (traces(fleet, **filters) or [None])[0], what=f"trace {filters}")


def wait_trace(fleet: Fleet, request_id: str, status: str) -> dict:
    def found() -> dict | None:
        return next(
            (t for t in traces(fleet) if t["request_id"] == request_id and t["status"] == status),
            None,
        )

    return wait_until(found, timeout=10, what=f"trace {request_id} {status}")


# --- choosing the node ----------------------------------------------------------------------


def test_a_hot_node_beats_a_cold_one(fleet: Fleet) -> None:
    # qwen2.5-coder:7b is on disk on the workstation and the laptop; only the laptop has it in
    # memory. For a short answer the load would cost more than the workstation's faster decoding
    # saves, so the laptop answers without a cold load, though the workstation is faster.
    load_directly(fleet, "laptop", "qwen2.5-coder:7b")
    try:
        response = chat(fleet, "qwen2.5-coder:7b", options={"num_predict": 8})
        assert response.status_code == 200
        assert response.headers["X-Fleet-Node"] == "laptop"
        assert inference_records(fleet, "ws", "qwen2.5-coder:7b") == []
    finally:
        unload_directly(fleet, "laptop", "qwen2.5-coder:7b")


def test_a_big_model_goes_to_the_big_machine(fleet: Fleet) -> None:
    # gemma3:27b (17 GB) is on the workstation (128 GB); put it on the laptop (32 GB) as well, so
    # both hold it cold. A model that big belongs on the big machine.
    laptop = fleet.sim("laptop")
    pulled = httpx.post(
        f"{laptop.url}/api/pull", json={"model": "gemma3:27b", "stream": False}, timeout=60
    )
    assert pulled.json() == {"status": "success"}
    wait_until(
        lambda: any(
            m["name"] == "gemma3:27b"
            for m in (fleet.node_status("laptop") or {})["ollama"]["models_available"]
        ),
        what="the laptop to report gemma3:27b",
    )
    try:
        response = chat(fleet, "gemma3:27b")
        assert response.status_code == 200
        assert response.headers["X-Fleet-Node"] == "ws"
        trace = wait_trace(fleet, response.headers["X-Request-Id"], "completed")
        breakdown = trace["scores_breakdown"]
        assert breakdown["role"] < 0  # seconds credited: a big model on a big machine
    finally:
        httpx.request("DELETE", f"{laptop.url}/api/delete", json={"model": "gemma3:27b"})


def test_a_conversation_returns_to_the_node_that_holds_its_cache(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.1:8b")
    load_directly(fleet, "laptop", "llama3.1:8b")
    opening = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]
    first = httpx.post(
        f"{fleet.router_url}/api/chat",
        json={"model": "llama3.1:8b", "messages": opening, "stream": False},
        timeout=30,
    )
    node = first.headers["X-Fleet-Node"]
    messages = list(opening)
    for turn in range(3):
        messages += [
            {"role": "assistant", "content": f"answer {turn}"},
            {"role": "user", "content": f"follow-up {turn}"},
        ]
        response = httpx.post(
            f"{fleet.router_url}/api/chat",
            json={"model": "llama3.1:8b", "messages": messages, "stream": False},
            timeout=30,
        )
        assert response.headers["X-Fleet-Node"] == node
    last = wait_trace(fleet, response.headers["X-Request-Id"], "completed")
    assert last["scores_breakdown"]["session"] < 0  # seconds saved by the prompt cache


# --- queues ---------------------------------------------------------------------------------


def test_num_parallel_one_never_runs_two_at_once(fleet: Fleet) -> None:
    # llama3.2:1b lives only on the mini, whose OLLAMA_NUM_PARALLEL is 1.
    fleet.sim("mini").fault(kind="slow", delay_s=0.15, count=-1, model="llama3.2:1b")
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda i: chat(fleet, "llama3.2:1b", f"q{i}"), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert {r.headers["X-Fleet-Node"] for r in responses} == {"mini"}
    state = fleet.sim("mini").state()
    assert state["max_concurrent_seen"]["llama3.2:1b"] == 1
    assert {r["concurrent_at_start"] for r in inference_records(fleet, "mini", "llama3.2:1b")} == {
        1
    }


def test_queue_counters_show_in_fleet_status(fleet: Fleet) -> None:
    chat(fleet, "llama3.2:1b")
    queues = fleet.status()["queues"]
    assert queues["mini:llama3.2:1b"]["done"] >= 1
    assert queues["mini:llama3.2:1b"]["concurrency"] == 1
    assert fleet.status()["fleet"]["requests_active"] == 0


# --- resilience -----------------------------------------------------------------------------


def test_a_failure_before_the_first_byte_is_retried_on_another_node(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="http_error", status=500, message="boom", count=-1)
    response = chat(fleet, "llama3.2:3b")
    assert response.status_code == 200
    assert response.headers["X-Fleet-Node"] != "ws"
    assert response.headers["X-Fleet-Retries"] == "1"
    assert [r["outcome"] for r in inference_records(fleet, "ws", "llama3.2:3b")] == ["error"]
    request_id = response.headers["X-Request-Id"]
    retried = wait_trace(fleet, request_id, "retried")
    assert retried["node_id"] == "ws" and "boom" in retried["error_message"]
    done = wait_trace(fleet, request_id, "completed")
    assert done["node_id"] == response.headers["X-Fleet-Node"] and done["retry_count"] == 1


def test_when_every_node_fails_the_final_row_names_the_nodes_the_reasons_and_the_time(
    fleet: Fleet,
) -> None:
    # Before: a `failed` row with node_id NULL, latency 0 and retry_count 0 after the `retried`
    # rows, and a 502 without X-Request-Id.
    load_directly(fleet, "ws", "llama3.2:3b")
    for node in ("ws", "laptop", "mini"):
        fleet.sim(node).fault(kind="http_error", status=500, message=f"boom-{node}", count=-1)
    response = chat(fleet, "llama3.2:3b")
    assert response.status_code == 502
    request_id = response.headers["X-Request-Id"]
    failed = wait_trace(fleet, request_id, "failed")
    rows = [t for t in traces(fleet) if t["request_id"] == request_id]
    retried = [t for t in rows if t["status"] == "retried"]
    assert len(rows) == len(retried) + 1, rows
    tried = [t["node_id"] for t in retried] + [failed["node_id"]]
    assert None not in tried and len(set(tried)) == len(tried)
    for node in tried:
        assert f"{node}: " in failed["error_message"] or len(tried) == 1
        assert f"boom-{node}" in failed["error_message"]
    assert failed["latency_ms"] > 0
    assert failed["retry_count"] == len(retried)


def test_a_dropped_connection_is_retried_too(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="drop_before_first_chunk", count=-1)
    response, lines = stream_chat(fleet, "llama3.2:3b")
    assert response.status_code == 200
    assert response.headers["X-Fleet-Node"] != "ws"
    assert int(response.headers["X-Fleet-Retries"]) >= 1
    assert '"done":true' in lines[-1].replace(" ", "")


def test_no_retry_once_bytes_reached_the_client(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="midstream_error", after_chunks=2, message="GPU fell over")
    response, lines = stream_chat(fleet, "llama3.2:3b")
    assert response.status_code == 200 and response.headers["X-Fleet-Node"] == "ws"
    assert len(lines) == 3 and "GPU fell over" in lines[-1] and '"error"' in lines[-1]
    assert inference_records(fleet, "laptop") == [] and inference_records(fleet, "mini") == []
    wait_trace(fleet, response.headers["X-Request-Id"], "incomplete")


def test_an_openai_stream_that_fails_midway_ends_with_an_error_event(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="midstream_error", after_chunks=1, message="out of memory")
    with httpx.stream(
        "POST",
        f"{fleet.router_url}/v1/chat/completions",
        json={
            "model": "llama3.2:3b",
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
        timeout=30,
    ) as response:
        body = response.read().decode()
    assert response.status_code == 200
    assert "out of memory" in body and '"error"' in body


def test_fallback_models_are_tried_in_order(fleet: Fleet) -> None:
    set_toggles(fleet, auto_pull=False)
    response = chat(
        fleet, "no-such-model:1b", fallback_models=["nor-this:2b", "llama3.2:1b", "llama3.2:3b"]
    )
    assert response.status_code == 200
    assert response.headers["X-Fleet-Fallback"] == "llama3.2:1b"
    assert response.json()["model"] == "llama3.2:1b"
    [record] = inference_records(fleet, "mini", "llama3.2:1b")
    assert "fallback_models" not in record["body"]


def test_a_model_missing_everywhere_is_pulled_once_under_a_burst(fleet: Fleet) -> None:
    def ask(i: int) -> httpx.Response:
        return chat(fleet, "phi4:14b", f"burst {i}")

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(ask, range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    pulls = sum(fleet.sim(n).state()["pulls"].get("phi4:14b", 0) for n in fleet.nodes)
    assert pulls == 1
    for node_id in fleet.nodes:  # leave the fleet as it was
        httpx.request("DELETE", f"{fleet.sim(node_id).url}/api/delete", json={"model": "phi4:14b"})


def test_a_client_disconnect_cancels_the_generation_upstream(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="slow", delay_s=0.0, chunk_delay_s=0.2, count=1)
    with httpx.stream(
        "POST",
        f"{fleet.router_url}/api/chat",
        json={"model": "llama3.2:3b", "messages": [{"role": "user", "content": "long"}]},
        timeout=30,
    ) as response:
        assert response.headers["X-Fleet-Node"] == "ws"
        first = next(response.iter_lines())
        assert '"done":false' in first.replace(" ", "")
        request_id = response.headers["X-Request-Id"]
    # Leaving the block closed the connection mid-stream.
    wait_until(
        lambda: (
            [r["outcome"] for r in inference_records(fleet, "ws", "llama3.2:3b")] == ["cancelled"]
        ),
        what="the simulator to see the generation cancelled",
    )
    wait_trace(fleet, request_id, "client_disconnected")
    wait_until(lambda: fleet.status()["fleet"]["requests_active"] == 0, what="slot freed")


def test_the_reaper_frees_a_stalled_request_and_it_is_retried(fleet: Fleet) -> None:
    set_toggles(fleet, reaper_timeout_s=1.0)
    load_directly(fleet, "ws", "llama3.2:3b")
    fleet.sim("ws").fault(kind="hang", count=1)
    response = chat(fleet, "llama3.2:3b")
    assert response.status_code == 200
    assert response.headers["X-Fleet-Node"] != "ws"
    assert response.headers["X-Fleet-Retries"] == "1"
    reaped = wait_trace(fleet, response.headers["X-Request-Id"], "retried")
    assert reaped["reaped"] is True and "reaped" in reaped["error_message"]


def test_context_protection_drops_a_needless_num_ctx(fleet: Fleet) -> None:
    load_directly(fleet, "ws", "llama3.2:3b")
    response = chat(fleet, "llama3.2:3b", options={"num_ctx": 2048, "temperature": 0.1})
    assert response.status_code == 200 and response.headers["X-Fleet-Node"] == "ws"
    [record] = inference_records(fleet, "ws", "llama3.2:3b")
    assert record["body"]["options"] == {"temperature": 0.1}
    assert fleet.sim("ws").state()["reloads"].get("llama3.2:3b", 0) == 0
    trace = wait_trace(fleet, response.headers["X-Request-Id"], "completed")
    assert trace["context_protected"] is True


def test_a_prompt_the_loaded_window_cannot_hold_is_sent_with_a_window_that_holds_it(
    fleet: Fleet,
) -> None:
    # Before: forwarded without num_ctx, so the node ran it in its 4096-token window, cut.
    load_directly(fleet, "ws", "llama3.2:3b")
    response = chat(fleet, "llama3.2:3b", content="word " * 8000)
    assert response.status_code == 200
    node = response.headers["X-Fleet-Node"]
    [record] = inference_records(fleet, node, "llama3.2:3b")
    assert record["body"]["options"]["num_ctx"] >= 10_000
    trace = wait_trace(fleet, response.headers["X-Request-Id"], "completed")
    assert trace["context_protected"] is True


def test_api_show_is_answered_by_a_holder_and_leaves_a_trace(fleet: Fleet) -> None:
    # Before: answered from the front end with no trace at all.
    response = httpx.post(f"{fleet.router_url}/api/show", json={"model": "llama3.2:3b"}, timeout=10)
    assert response.status_code == 200 and "details" in response.json()
    trace = wait_trace(fleet, response.headers["X-Request-Id"], "completed")
    assert trace["kind"] == "show" and trace["node_id"] == response.headers["X-Fleet-Node"]
    assert trace["latency_ms"] > 0


def test_router_only_fields_and_tags_are_never_forwarded(fleet: Fleet) -> None:
    response = httpx.post(
        f"{fleet.router_url}/api/chat",
        headers={"X-Herd-Tags": "team-a, batch"},
        json={
            "model": "llama3.2:1b",
            "messages": [{"role": "user", "content": "tagged"}],
            "stream": False,
            "metadata": {"tags": ["app:notes"]},
            "fallback_models": ["llama3.2:3b"],
        },
        timeout=30,
    )
    assert response.status_code == 200
    [record] = inference_records(fleet, "mini", "llama3.2:1b")
    assert "metadata" not in record["body"] and "fallback_models" not in record["body"]
    assert "stream" in record["body"] and "keep_alive" not in record["body"]
    trace = latest_trace(fleet, tag="team-a")
    assert set(trace["tags"]) == {"app:notes", "team-a", "batch"}


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/chat", b"{not json", 400, "invalid JSON"),
        ("/api/chat", b'{"messages": []}', 400, "model is required"),
        ("/api/chat", b'{"model": 7}', 400, "model must be a string"),
        ("/api/chat", b'{"model": "llama3.2:1b", "messages": "hi"}', 400, "messages"),
        ("/api/generate", b'{"model": "llama3.2:1b", "stream": "yes"}', 400, "stream"),
        ("/api/embed", b'{"model": "nomic-embed-text", "input": 5}', 400, "input"),
    ],
)
def test_bad_ollama_input_gets_a_clear_error(
    fleet: Fleet, path: str, body: bytes, status: int, needle: str
) -> None:
    response = httpx.post(f"{fleet.router_url}{path}", content=body, timeout=10)
    assert response.status_code == status
    assert needle in response.json()["error"]


def test_bad_openai_input_gets_an_openai_error_object(fleet: Fleet) -> None:
    response = httpx.post(
        f"{fleet.router_url}/v1/chat/completions", content=b'{"model": "x", "messages": 3}'
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_an_unknown_model_is_a_404_in_each_format_and_is_traced(fleet: Fleet) -> None:
    set_toggles(fleet, auto_pull=False)
    ollama = chat(fleet, "never-heard-of:7b")
    assert ollama.status_code == 404
    assert ollama.json() == {"error": 'model "never-heard-of:7b" not found, try pulling it first'}
    openai = httpx.post(
        f"{fleet.router_url}/v1/chat/completions",
        json={"model": "never-heard-of:7b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert openai.status_code == 404 and openai.json()["error"]["type"] == "not_found_error"
    rejected = wait_until(
        lambda: (
            len(found := traces(fleet, status="rejected", model="never-heard-of:7b")) >= 2 and found
        ),
        what="two rejection traces",
    )
    assert "not found" in rejected[0]["error_message"]


def test_invalid_json_is_traced_as_rejected(fleet: Fleet) -> None:
    before = len(traces(fleet, status="rejected"))
    httpx.post(f"{fleet.router_url}/api/generate", content=b"[1, 2]")
    wait_until(lambda: len(traces(fleet, status="rejected")) > before, what="rejection trace")


def test_streaming_many_clients_at_once(fleet: Fleet) -> None:
    errors: list[str] = []

    def one(i: int) -> None:
        with httpx.stream(
            "POST",
            f"{fleet.router_url}/api/generate",
            json={"model": "llama3.2:3b", "prompt": f"p{i}"},
            timeout=60,
        ) as response:
            lines = list(response.iter_lines())
            if response.status_code != 200 or '"done":true' not in lines[-1].replace(" ", ""):
                errors.append(f"{response.status_code} {lines[-1][:100]}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert fleet.status()["fleet"]["requests_active"] == 0


def test_every_request_is_a_json_line_in_herd_jsonl(fleet: Fleet) -> None:
    response = chat(fleet, "llama3.2:1b", "log me")
    request_id = response.headers["X-Request-Id"]
    log_path = fleet.data_dir / "logs" / "herd.jsonl"

    def logged() -> dict | None:
        for line in log_path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("request_id") == request_id and entry["logger"] == "herd.requests":
                return entry
        return None

    entry = wait_until(logged, what="the request's log line")
    assert entry["status"] == "completed" and entry["node_id"] == "mini"
    assert entry["latency_ms"] > 0 and entry["model"] == "llama3.2:1b"
    assert request_id not in fleet.router.output()  # the console stays concise
