"""Pulls as jobs on a real router with simulated nodes: a pull outlives the client that started it,
is listed with its progress, stops on an explicit cancel, and is refused up front, with the
figures, when the model cannot fit the node.

The simulator's downloads are time-scaled: each test sets the scale it needs on its node so a pull
lasts long enough to be seen mid-way (and no longer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    nodes = [("ws", "workstation"), ("laptop", "laptop")]
    with running_fleet(tmp_path_factory.mktemp("pulls"), nodes, time_scale=0.01) as running:
        yield running


def job(fleet: Fleet, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/pulls/{job_id}", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def sim_pull_outcomes(fleet: Fleet, node_id: str, model: str) -> list[str | None]:
    return [
        r["outcome"]
        for r in fleet.sim(node_id).records()
        if r["path"] == "/api/pull" and r["model"] == model
    ]


def test_a_pull_whose_client_goes_away_completes_and_is_listed(fleet: Fleet) -> None:
    model = "qwen3:0.6b"  # 523 MB at 200 MB/s: about 1.3 s at this scale
    fleet.sim("ws").configure(time_scale=0.5)
    body = {"model": model, "node_id": "ws"}
    with httpx.stream("POST", f"{fleet.router_url}/api/pull", json=body, timeout=30) as response:
        assert response.status_code == 200
        job_id = response.headers["x-herd-pull-job"]
        for raw in response.iter_lines():
            line = json.loads(raw)
            if line.get("completed"):
                assert line["completed"] < line["total"]
                break  # the client goes away mid-download
    listed = httpx.get(f"{fleet.router_url}/dashboard/api/pulls", timeout=5).json()["pulls"]
    assert job_id in [p["id"] for p in listed]
    done = wait_until(lambda: job(fleet, job_id)["state"] == "done" and job(fleet, job_id))
    assert done["model"] == model and done["node_id"] == "ws" and done["started_by"] == "api"
    assert done["completed_bytes"] == done["total_bytes"] > 500_000_000
    assert done["percent"] == 100.0 and done["ended_at"] is not None
    assert all(layer["completed_bytes"] == layer["total_bytes"] for layer in done["layers"])
    assert model in fleet.sim("ws").models()
    assert sim_pull_outcomes(fleet, "ws", model) == ["completed"]
    summary = {p["id"]: p for p in fleet.status()["pulls"]}
    assert summary[job_id]["state"] == "done"


def test_cancel_stops_a_pull_and_its_followers_are_told(fleet: Fleet) -> None:
    model = "mistral:7b"  # 4.1 GB at 200 MB/s: about 10 s at this scale, if not stopped
    fleet.sim("ws").configure(time_scale=0.5)
    started = httpx.post(
        f"{fleet.router_url}/dashboard/api/pulls", json={"model": model, "node_id": "ws"}
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert started.json()["state"] == "running"
    wait_until(lambda: job(fleet, job_id)["completed_bytes"] > 0, what="progress")
    running = job(fleet, job_id)
    assert running["state"] == "running" and 0 < (running["percent"] or 0) < 100
    body = {"model": model, "node_id": "ws"}
    with httpx.stream("POST", f"{fleet.router_url}/api/pull", json=body, timeout=30) as follower:
        assert follower.headers["x-herd-pull-job"] == job_id  # joined, not a second download
        lines = follower.iter_lines()
        first = json.loads(next(lines))
        assert first["completed"] > 0  # a joiner starts from where the job stands
        cancelled = httpx.post(f"{fleet.router_url}/dashboard/api/pulls/{job_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "cancelled"
        rest = [json.loads(raw) for raw in lines]
    assert rest[-1] == {"error": "the pull was cancelled"}
    wait_until(lambda: sim_pull_outcomes(fleet, "ws", model) == ["cancelled"], what="sim stopped")
    assert model not in fleet.sim("ws").models()
    fleet.sim("ws").configure(time_scale=0.01)


@pytest.mark.parametrize("path", ["/dashboard/api/pulls", "/api/pull"])
def test_a_model_that_cannot_fit_the_node_is_refused_with_figures(fleet: Fleet, path: str) -> None:
    body = {"model": "llama3.3:70b", "node_id": "laptop", "stream": False}
    response = httpx.post(f"{fleet.router_url}{path}", json=body, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "llama3.3:70b" in error and "laptop" in error and "GB" in error and "memory" in error
    assert sim_pull_outcomes(fleet, "laptop", "llama3.3:70b") == []


def test_the_plan_names_the_node_and_the_figures(fleet: Fleet) -> None:
    url = f"{fleet.router_url}/dashboard/api/pulls/plan"
    too_big = httpx.post(url, json={"model": "llama3.3:70b", "node_id": "laptop"}).json()
    assert too_big["fits"] is False and too_big["node_id"] == "laptop"
    assert too_big["memory_needed_bytes"] > too_big["memory_total_bytes"] > 30e9
    best = httpx.post(url, json={"model": "llama3.3:70b"}).json()
    assert best["fits"] is True and best["node_id"] == "ws" and best["chosen_by"] == "best_fit"
    assert best["download_bytes"] > 40e9
    unknown = httpx.post(url, json={"model": "llama3.3:70b", "node_id": "ghost"})
    assert unknown.status_code == 404
