"""Mid-stream failover: a streamed answer whose node is killed after its first chunks goes on on
the other node, and the client reads one whole answer (official ollama and openai clients).

Two simulated nodes hold the model; whichever one the router picks is killed (SIGKILL, by PID)
once the client has a few chunks. The simulator's replies are deterministic per conversation
and it continues a trailing assistant message as Ollama does, so the joined answer must equal
the answer the survivor gives the same request in one piece: nothing repeated, nothing lost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

MODEL = "llama3.2:1b"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("resume")
    flags = ["--degraded-after", "1", "--offline-after", "2"]  # a killed node leaves soon
    with running_fleet(data_dir, [("r1", "mini"), ("r2", "mini")], router_flags=flags) as running:
        yield running


@pytest.fixture
def slow_fleet(fleet: Fleet) -> Fleet:
    """Two live nodes (a new one for each that an earlier test killed, once the router saw that
    one go), each streaming its next answer slowly (0.05 s a chunk, so a kill lands
    mid-stream)."""
    for node in [n for n in fleet.nodes if not fleet.nodes[n].proc.alive()]:
        fleet.nodes.pop(node).proc.stop()
        fleet.spawn_node(f"r{int(node[1:]) + 2}", "mini")
        gone = functools.partial(_offline, fleet, node)
        wait_until(gone, timeout=15, what=f"{node} offline")
    for sim in fleet.nodes.values():
        fleet.wait_online(sim)
        sim.reset()
        sim.fault(kind="slow", delay_s=0, chunk_delay_s=0.05, count=1)
    return fleet


def _offline(fleet: Fleet, node: str) -> bool:
    return (fleet.node_status(node) or {}).get("status") in (None, "offline")


def _kill_the_serving_node(fleet: Fleet) -> tuple[str, str]:
    """SIGKILL the node whose slot holds the request: (its id, the other node's)."""
    queues = fleet.status()["queues"]
    serving = [n for n in fleet.nodes if queues.get(f"{n}:{MODEL}", {}).get("in_flight")]
    assert len(serving) == 1, queues
    fleet.nodes[serving[0]].proc.kill()
    return serving[0], next(n for n in fleet.nodes if n != serving[0])


def _whole_answer(fleet: Fleet, node: str, messages: list[dict[str, Any]]) -> str:
    """What the node's simulator answers the same conversation in one piece."""
    body = {"model": MODEL, "messages": messages, "stream": False}
    answer = httpx.post(f"{fleet.sim(node).url}/api/chat", json=body, timeout=30).json()
    return str(answer["message"]["content"])


def _resumed_rows(fleet: Fleet, victim: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def stored() -> bool:
        nonlocal rows
        traces = httpx.get(
            f"{fleet.router_url}/dashboard/api/traces", params={"model": MODEL}, timeout=10
        ).json()["traces"]
        rows = [t for t in traces if t["resumed_on"] or victim in t["resumed_from"]]
        return len(rows) == 2

    wait_until(stored, timeout=10, what="the resumed answer's two trace rows")
    return sorted(rows, key=lambda t: t["status"])  # completed, then retried


def test_an_ollama_chat_stream_goes_on_on_another_node_when_its_node_dies(
    slow_fleet: Fleet,
) -> None:
    fleet = slow_fleet
    messages = [{"role": "user", "content": "tell me about the fleet"}]
    stream = ollama.Client(host=fleet.router_url, timeout=60).chat(
        model=MODEL, messages=messages, stream=True
    )
    parts = [next(stream), next(stream), next(stream)]
    victim, survivor = _kill_the_serving_node(fleet)
    parts += list(stream)
    text = "".join(p.message.content or "" for p in parts)
    expected = _whole_answer(fleet, survivor, messages)
    assert text == expected  # one answer: nothing repeated, nothing missing
    final = parts[-1]
    assert final.done is True and final.done_reason == "stop"
    assert final.eval_count == len(expected.split())  # one token per simulated word
    assert sum(1 for p in parts if p.done) == 1
    completed, retried = _resumed_rows(fleet, victim)
    assert retried["status"] == "retried" and retried["node_id"] == victim
    assert retried["resumed_on"] == survivor and "went on on" in retried["error_message"]
    assert completed["status"] == "completed" and completed["node_id"] == survivor
    assert completed["resumed_from"] == [victim]
    metrics = httpx.get(f"{fleet.router_url}/metrics", timeout=10).text
    assert f'herd_stream_resumes_total{{model="{MODEL}",node="{victim}"}} 1.0' in metrics


def test_an_openai_stream_goes_on_too(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    messages = [{"role": "user", "content": "and the routing, in a few words"}]
    client = openai.OpenAI(base_url=f"{fleet.router_url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": messages[0]["content"]}], stream=True
    )
    chunks = [next(stream), next(stream), next(stream)]
    _, survivor = _kill_the_serving_node(fleet)
    chunks += list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _whole_answer(fleet, survivor, messages)
    reasons = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert reasons == ["stop"]
    roles = [c.choices[0].delta.role for c in chunks if c.choices and c.choices[0].delta.role]
    assert roles == ["assistant"]  # one start, not a second one where the answer went on


def test_an_anthropic_stream_through_the_translation_goes_on_too(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    for sim in fleet.nodes.values():  # an Ollama without /v1/messages: the router translates
        sim.configure(version="0.12.6")
    wait_until(
        lambda: all(
            n["ollama"]["version"] == "0.12.6"
            for n in fleet.status()["nodes"]
            if n["node_id"] in fleet.nodes
        ),
        timeout=10,
        what="the old version reported",
    )
    content = "what does a router weigh"
    client = anthropic.Anthropic(base_url=fleet.router_url, api_key="unused", max_retries=0)
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": content}]
    ) as stream:
        events = iter(stream)
        seen = [next(events)]
        while sum(e.type == "content_block_delta" for e in seen) < 2:
            seen.append(next(events))
        _, survivor = _kill_the_serving_node(fleet)
        seen += list(events)
        message = stream.get_final_message()
    types = [e.type for e in seen]
    assert types.count("message_start") == 1 and types[-1] == "message_stop"
    expected = _whole_answer(fleet, survivor, [{"role": "user", "content": content}])
    assert "".join(b.text for b in message.content if b.type == "text") == expected
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(expected.split())


def test_a_generate_stream_goes_on_as_a_chat_and_reads_as_generate(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    asked = {"model": MODEL, "prompt": "write about herds", "system": "be vivid"}
    stream = ollama.Client(host=fleet.router_url, timeout=60).generate(
        model=MODEL,
        prompt=asked["prompt"],
        system=asked["system"],
        options={"num_predict": 14},
        stream=True,
    )
    parts = [next(stream), next(stream)]
    _, survivor = _kill_the_serving_node(fleet)
    parts += list(stream)
    whole = httpx.post(
        f"{fleet.sim(survivor).url}/api/generate",
        json={**asked, "stream": False, "options": {"num_predict": 14}},
        timeout=30,
    ).json()
    assert "".join(p.response or "" for p in parts) == whole["response"]
    # num_predict went on with what was left: the answer stops where the whole one does
    assert parts[-1].done is True and parts[-1].done_reason == "length"
    assert parts[-1].eval_count == whole["eval_count"] == 14


def test_with_the_toggle_off_a_broken_stream_ends_with_the_error(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    settings = f"{fleet.router_url}/dashboard/api/settings"
    httpx.post(settings, json={"resume_streams": False}, timeout=10).raise_for_status()
    try:
        stream = ollama.Client(host=fleet.router_url, timeout=60).chat(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True
        )
        next(stream)
        next(stream)
        _kill_the_serving_node(fleet)
        with pytest.raises(ollama.ResponseError, match=r"mid-stream|before it was done"):
            list(stream)
    finally:
        httpx.post(settings, json={"resume_streams": True}, timeout=10).raise_for_status()
