"""The pile-up of issue 9, on three simulators: requests must not queue behind a slow stand-in.

Before late binding and the estimate-based VRAM fallback, requests for a model whose nodes were
momentarily full were all answered by a loaded stand-in on the one-slot mini and queued there,
behind one slot, while the fast nodes would have served them seconds later. Here:

- ``fast`` (workstation profile, 8 GB) and ``laptop`` (8 GB) hold llama3.1:8b on disk, but their
  memory is held by another model that is busy (a slow request each, through the router), so
  the 8B must wait for it;
- ``mini`` (12 GB, one slot) lacks the 8B and has phi4:14b loaded and idle: a same-category
  stand-in.

Six concurrent requests for llama3.1:8b: at most the mini's one free slot may take the stand-in
(disclosed), never a queue behind it; the rest wait for a real node and are answered by the model
asked for; nobody gets an error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

WANTED = "llama3.1:8b"
STAND_IN = "phi4:14b"
BUSY_S = 2.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("pileup")
    nodes = [
        ("fast", "workstation", ["--sim-memory-gb", "8"]),
        ("laptop", "laptop", ["--sim-memory-gb", "8"]),
        ("mini", "mini", ["--sim-memory-gb", "12"]),
    ]
    with running_fleet(data_dir, nodes) as running:
        mini = running.sim("mini")
        pulled = httpx.post(
            f"{mini.url}/api/pull", json={"model": STAND_IN, "stream": False}, timeout=60
        )
        assert pulled.json() == {"status": "success"}
        httpx.request("DELETE", f"{mini.url}/api/delete", json={"model": WANTED}, timeout=10)
        httpx.post(f"{mini.url}/api/generate", json={"model": STAND_IN}, timeout=30)
        running.wait_loaded("mini", STAND_IN)
        wait_until(
            lambda: (
                WANTED
                not in {
                    m["name"] for m in running.node_status("mini")["ollama"]["models_available"]
                }
            ),
            what="the mini to report it no longer holds the 8B",
        )
        yield running


def _occupy(fleet: Fleet, node_id: str, model: str, done: list[int]) -> threading.Thread:
    """Load ``model`` on the node and keep one request on it, sent through the router, busy for
    ``BUSY_S`` seconds (the router knows it is busy: Ollama cannot evict it)."""
    sim = fleet.sim(node_id)
    httpx.post(f"{sim.url}/api/generate", json={"model": model}, timeout=30).raise_for_status()
    fleet.wait_loaded(node_id, model)
    sim.fault(kind="slow", delay_s=BUSY_S, count=1, model=model)

    def ask() -> None:
        # Streamed: the simulator holds the slot while it delays the first chunk.
        body = {"model": model, "messages": [{"role": "user", "content": "busy"}], "stream": True}
        with httpx.stream("POST", f"{fleet.router_url}/api/chat", json=body, timeout=30) as reply:
            reply.read()
            done.append(reply.status_code)

    thread = threading.Thread(target=ask)
    thread.start()
    wait_until(
        lambda: any(m["name"] == model and m["in_flight"] for m in sim.state()["loaded"]),
        what=f"{model} busy on {node_id}",
    )
    return thread


def _max_overlap(records: list[dict[str, object]]) -> int:
    """The most requests the simulator held at once (running or queued behind its slots)."""
    edges: list[tuple[float, int]] = []
    for record in records:
        edges += [(float(record["started_at"]), 1), (float(record["finished_at"]), -1)]
    depth = best = 0
    for _, step in sorted(edges):
        depth += step
        best = max(best, depth)
    return best


def test_requests_wait_for_a_real_node_rather_than_queue_behind_a_stand_in(fleet: Fleet) -> None:
    done: list[int] = []
    busy = [
        _occupy(fleet, "fast", "qwen3:8b", done),
        _occupy(fleet, "laptop", "mistral:7b", done),
    ]

    def ask(i: int) -> httpx.Response:
        body = {"model": WANTED, "messages": [{"role": "user", "content": f"q{i}"}]}
        return httpx.post(
            f"{fleet.router_url}/api/chat", json={**body, "stream": False}, timeout=60
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(ask, range(6)))
    for thread in busy:
        thread.join(timeout=30)
    assert done == [200, 200]

    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    stand_ins = [r for r in responses if r.json()["model"] == STAND_IN]
    assert all(r.headers.get("X-Fleet-Fallback") == STAND_IN for r in stand_ins)
    assert len(stand_ins) <= 2, "the stand-in took requests meant to wait for a real node"
    assert sum(1 for r in responses if r.json()["model"] == WANTED) >= 4
    served = [  # answers only: the agent's /api/show lookups and the warm-up are not queueing
        r
        for r in fleet.sim("mini").records()
        if r.get("model") == STAND_IN and r.get("path") == "/api/chat"
    ]
    assert _max_overlap([r for r in served if r.get("finished_at")]) <= 1, "queued on the mini"
