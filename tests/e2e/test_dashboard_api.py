"""The management API against a real router with simulated nodes and real traffic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet, start_router
from tests.procs import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("dashboard")
    with running_fleet(data_dir, [("ws", "workstation"), ("mini", "mini")]) as running:
        _traffic(running)
        yield running


def _traffic(fleet: Fleet) -> None:
    """A little real traffic: two apps, two models, one failure."""
    for i in range(6):
        response = httpx.post(
            f"{fleet.router_url}/api/chat",
            headers={"X-Herd-Tags": "app:notes" if i % 2 else "app:coder"},
            json={
                "model": "llama3.2:3b" if i % 2 else "llama3.2:1b",
                "messages": [{"role": "user", "content": f"question {i}"}],
                "stream": i % 3 == 0,
            },
            timeout=30,
        )
        assert response.status_code == 200
    httpx.post(f"{fleet.router_url}/api/chat", content=b"{broken")
    wait_until(lambda: len(get(fleet, "traces", limit=100)["traces"]) >= 7, what="traces stored")


def get(fleet: Fleet, path: str, **params: Any) -> Any:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def post(fleet: Fleet, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{fleet.router_url}/dashboard/api/{path}", json=body, timeout=60)


# --- reads ----------------------------------------------------------------------------------


def test_traces_explain_each_decision(fleet: Fleet) -> None:
    data = get(fleet, "traces", limit=3)
    assert data["count"] == 3 and len(data["traces"]) == 3
    routed = next(t for t in get(fleet, "traces", limit=50)["traces"] if t["node_id"])
    for key in ("request_id", "model", "node_id", "status", "latency_ms", "timestamp", "score"):
        assert key in routed
    assert set(routed["scores_breakdown"]) >= {
        "thermal",
        "memory_fit",
        "queue",
        "latency",
        "role",
        "availability",
        "context",
    }


def test_trace_filters(fleet: Fleet) -> None:
    by_model = get(fleet, "traces", model="llama3.2:1b")["traces"]
    assert by_model and {t["model"] for t in by_model} == {"llama3.2:1b"}
    by_tag = get(fleet, "traces", tag="app:notes")["traces"]
    assert len(by_tag) == 3 and all("app:notes" in t["tags"] for t in by_tag)
    rejected = get(fleet, "traces", status="rejected")["traces"]
    assert rejected and "invalid JSON" in rejected[0]["error_message"]
    assert get(fleet, "traces", since=4_000_000_000)["traces"] == []
    node = get(fleet, "traces", node_id="mini")["traces"]
    assert all(t["node_id"] == "mini" for t in node)


def test_usage_counts_requests_per_node_model_and_day(fleet: Fleet) -> None:
    data = get(fleet, "usage", days=1)
    assert data["window_days"] == 1 and data["days"]
    rows = {(r["node_id"], r["model"]): r for r in data["rows"]}
    assert sum(r["requests"] for r in rows.values()) >= 6
    assert rows[("mini", "llama3.2:1b")]["completed"] == 3


def test_models_apps_and_trends(fleet: Fleet) -> None:
    models = get(fleet, "models")["models"]
    names = {m["model"] for m in models}
    assert {"llama3.2:3b", "llama3.2:1b"} <= names
    apps = get(fleet, "apps")
    tags = {a["tag"] for a in apps["apps"]}
    assert {"app:notes", "app:coder"} <= tags
    trends = get(fleet, "trends", hours=3)
    assert trends["hours"] == 3 and "llama3.2" in json.dumps(trends)


def test_health_reports_checks_vitals_and_score(fleet: Fleet) -> None:
    report = get(fleet, "health")
    assert 0 <= report["score"] <= 100
    assert report["vitals"]["nodes_online"] == 2
    ids = {c["check_id"] for c in report["checks"]}
    # No HERD_FLEET_TOKEN, but this router listens on 127.0.0.1 only: nothing is open to others.
    assert "open_fleet" not in ids
    assert "open_fleet" in {c["check_id"] for c in report["passed"]}
    for check in report["checks"]:
        assert check["severity"] in ("info", "warning", "critical")
        assert check["title"] and check["description"] and check["fix"]


def test_recommendations_per_node(fleet: Fleet) -> None:
    report = get(fleet, "recommendations")
    nodes = {n["node_id"]: n for n in report["nodes"]}
    assert set(nodes) == {"ws", "mini"}
    for node in nodes.values():
        assert node["total_recommended_gb"] <= node["usable_gb"] + 0.01
        assert all(r["reason"] for r in node["recommended"])


def test_model_management_lists_every_model_with_usage(fleet: Fleet) -> None:
    nodes = {n["node_id"]: n for n in get(fleet, "model-management")["nodes"]}
    mini = {m["name"]: m for m in nodes["mini"]["models"]}
    assert mini["llama3.2:1b"]["request_count"] >= 3 and mini["llama3.2:1b"]["last_used"]
    assert nodes["mini"]["disk_free_gb"] is not None
    assert all("loaded" in m and "size_gb" in m for m in mini.values())


def test_settings_show_config_toggles_and_agent_versions(fleet: Fleet) -> None:
    data = get(fleet, "settings")
    assert data["toggles"]["auto_pull"] is True
    assert data["config"]["port"] and "api_key" not in data["config"]
    assert {n["node_id"] for n in data["nodes"]} == {"ws", "mini"}
    assert all(n["agent_version"] for n in data["nodes"])


# --- changes --------------------------------------------------------------------------------


def test_pull_and_delete_change_what_the_node_holds(fleet: Fleet) -> None:
    mini = fleet.sim("mini")
    assert "qwen3:latest" not in mini.state()["available"]
    pulled = post(fleet, "pull", {"model": "gemma3:latest", "node_id": "mini"})
    assert pulled.status_code == 202, pulled.text
    assert pulled.json()["state"] == "running" and pulled.json()["node_id"] == "mini"
    job_id = pulled.json()["id"]
    wait_until(lambda: get(fleet, f"pulls/{job_id}")["state"] == "done", what="pull done")
    assert "gemma3:latest" in mini.state()["available"]
    deleted = post(fleet, "delete", {"model": "gemma3:latest", "node_id": "mini"})
    assert deleted.status_code == 200 and deleted.json()["ok"] is True
    assert deleted.json()["freed_gb"] > 0
    assert "gemma3:latest" not in mini.state()["available"]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("delete", {"model": "llama3.2:1b", "node_id": "nowhere"}, 404, "unknown node"),
        ("delete", {"model": "not-here:1b", "node_id": "mini"}, 404, "not on node"),
        ("delete", {"model": "llama3.2:1b"}, 400, "node_id is required"),
        ("pull", {"node_id": "mini"}, 400, "model is required"),
        ("pull", {"model": "llama3.2:1b", "node_id": "ghost"}, 404, "unknown node"),
        ("settings", {"auto_pul": False}, 400, "auto_pul"),
        ("settings", {"auto_pull": "no"}, 400, "auto_pull"),
        ("settings", {"max_retries": -1}, 400, "max_retries"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(
    fleet: Fleet, path: str, body: dict, status: int, needle: str
) -> None:
    before = get(fleet, "settings")["toggles"]
    models_before = fleet.sim("mini").state()["available"]
    response = post(fleet, path, body)
    assert response.status_code == status
    assert needle in response.json()["error"]
    assert get(fleet, "settings")["toggles"] == before
    assert fleet.sim("mini").state()["available"] == models_before


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("traces", {"limit": -1}, "limit"),
        ("traces", {"limit": "ten"}, "limit"),
        ("traces", {"status": "great"}, "status"),
        ("traces", {"since": "yesterday"}, "since"),
        ("usage", {"days": 100000}, "days"),
        ("trends", {"hours": 0}, "hours"),
    ],
)
def test_bad_query_parameters_get_a_400_naming_them(
    fleet: Fleet, path: str, params: dict, needle: str
) -> None:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/{path}", params=params)
    assert response.status_code == 400 and needle in response.json()["error"]


def test_sse_delivers_fleet_snapshots(fleet: Fleet) -> None:
    events: list[dict] = []
    with httpx.stream(
        "GET", f"{fleet.router_url}/dashboard/events", params={"limit": 2}, timeout=20
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert len(events) == 2
    assert events[0]["fleet"]["nodes_online"] == 2 and events[0]["nodes"]


def test_a_benchmark_run_is_stored_with_percentiles(fleet: Fleet) -> None:
    started = post(
        fleet,
        "benchmarks/start",
        {"models": ["llama3.2:1b"], "duration_s": 1, "concurrency": 2, "max_tokens": 8},
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    def finished() -> dict | None:
        run = get(fleet, f"benchmarks/{run_id}")
        return run if run["status"] != "running" else None

    run = wait_until(finished, timeout=30, what="benchmark to finish")
    assert run["status"] == "completed"
    overall = run["results"]["overall"]
    assert overall["requests"] > 0 and overall["errors"] == 0
    assert overall["latency_ms"]["p50"] is not None
    assert "mini" in run["results"]["per_node"]
    assert any(r["id"] == run_id for r in get(fleet, "benchmarks")["runs"])
    tagged = get(fleet, "traces", tag="herd:benchmark")["traces"]
    assert tagged


def test_a_benchmark_can_be_cancelled(fleet: Fleet) -> None:
    started = post(fleet, "benchmarks/start", {"models": ["llama3.2:1b"], "duration_s": 60})
    run_id = started.json()["run_id"]
    cancelled = httpx.post(f"{fleet.router_url}/dashboard/api/benchmarks/{run_id}/cancel")
    assert cancelled.status_code == 200
    run = wait_until(
        lambda: (r := get(fleet, f"benchmarks/{run_id}"))["status"] == "cancelled" and r,
        what="the run to be recorded as cancelled",
    )
    assert run["finished_at"] is not None
    bad = post(fleet, "benchmarks/start", {"models": [], "duration_s": 5})
    assert bad.status_code == 400 and "models" in bad.json()["error"]


# --- restart --------------------------------------------------------------------------------


def test_settings_survive_a_router_restart(tmp_path: Path) -> None:
    url, router = start_router(tmp_path)
    try:
        changed = httpx.post(
            f"{url}/dashboard/api/settings", json={"vram_fallback": False, "reaper_timeout_s": 42}
        )
        assert changed.status_code == 200
        assert changed.json()["updated"] == {"vram_fallback": False, "reaper_timeout_s": 42.0}
    finally:
        router.stop()
    url, router = start_router(tmp_path)
    try:
        toggles = httpx.get(f"{url}/dashboard/api/settings").json()["toggles"]
        assert toggles["vram_fallback"] is False and toggles["reaper_timeout_s"] == 42.0
    finally:
        router.stop()
