"""Placement over time, end to end: a model a big one displaced comes back to its node by itself.

One workstation simulator with 12 GB: the 3B runs there; a 14B request evicts it (the simulator's
Ollama physics); once the 14B leaves and the node is idle, the router loads the 3B back, off the
request path (an empty ``/api/generate``, as Ollama loads a model), because it is still in demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e

SMALL = "llama3.2:3b"
BIG = "deepseek-r1:14b"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("restore")
    nodes = [("studio", "workstation", ["--sim-memory-gb", "12"])]
    with running_fleet(data_dir, nodes, restore_evicted=True) as running:
        yield running


def chat(fleet: Fleet, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False}
    return httpx.post(f"{fleet.router_url}/api/chat", json=body, timeout=60)


def loaded(fleet: Fleet) -> set[str]:
    return {m["name"] for m in fleet.sim("studio").state()["loaded"]}


def loads_without_prompt(fleet: Fleet, model: str) -> list[dict[str, Any]]:
    return [
        r
        for r in fleet.sim("studio").records()
        if r["path"] == "/api/generate" and r["model"] == model and not r["body"].get("prompt")
    ]


def test_a_displaced_model_in_demand_is_loaded_back_once_its_node_is_free(fleet: Fleet) -> None:
    assert chat(fleet, SMALL).status_code == 200
    fleet.wait_loaded("studio", SMALL)
    assert chat(fleet, BIG).status_code == 200
    assert loaded(fleet) == {BIG}  # 12 GB hold one of them: the 3B was evicted
    fleet.wait_loaded("studio", BIG)
    assert loads_without_prompt(fleet, SMALL) == []  # no room while the 14B is there

    sim = fleet.sim("studio").url
    httpx.post(f"{sim}/api/generate", json={"model": BIG, "keep_alive": 0}, timeout=10)
    wait_until(lambda: SMALL in loaded(fleet), timeout=20, what="the 3B loaded back")
    [restore] = loads_without_prompt(fleet, SMALL)
    assert restore["body"] == {"model": SMALL}
    assert loaded(fleet) == {SMALL}  # and the 14B was not brought back: nothing displaced it
    wait_until(lambda: restores_counted(fleet) == 1, timeout=5, what="the restore counted")


def restores_counted(fleet: Fleet) -> float:
    text = httpx.get(f"{fleet.router_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "herd_restores_total"
        and sample.labels == {"model": SMALL, "node": "studio", "outcome": "done"}
    )
