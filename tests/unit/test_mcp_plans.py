"""herd_mcp.plans: what a pull, delete or settings change would do, and the read-side views."""

from __future__ import annotations

from typing import Any

from herd_mcp.plans import (
    find,
    model_entries,
    pick_test_model,
    plan_cancel,
    plan_delete,
    plan_pull,
    plan_settings,
)
from herd_mcp.router_views import FleetView, PullJob, PullPlanView
from router.fleet_status import FleetStatus, FleetSummary, NodeView
from router.fleet_view import node_view
from router.registry import NodeRecord
from tests.factories import heartbeat


def node(node_id: str, status: str = "online", **kwargs: Any) -> NodeView:
    hb = heartbeat(node_id, **kwargs)
    record = NodeRecord(node_id, hb, hb.ollama.url, first_seen=1000.0, last_seen=1000.0)
    now = 1002.0 if status == "online" else 1045.0
    return node_view(record, status, now)  # type: ignore[arg-type]


def fleet(*nodes: NodeView) -> FleetView:
    online = sum(1 for n in nodes if n.status == "online")
    summary = FleetSummary(
        nodes_total=len(nodes), nodes_online=online, models_loaded=0, requests_active=0
    )
    status = FleetStatus(fleet=summary, nodes=list(nodes))
    return FleetView.model_validate(status.model_dump(mode="json"))


BIG = node("big", memory_gb=128, available=[("llama3.1:8b", 4.9), ("qwen3:8b", 5.2)])
SMALL = node("small", memory_gb=16, available_gb=8, loaded=[("llama3.2:3b", 2.0)])
GONE = node("gone", status="offline", available=[("mistral:7b", 4.1)])


def test_pull_plan_is_the_routers_own_in_gb_with_the_question() -> None:
    view = PullPlanView(
        model="qwen3:8b",
        node_id="small",
        chosen_by="best_fit",
        download_bytes=5_200_000_000,
        disk_free_bytes=400_000_000_000,
        disk_free_after_bytes=394_800_000_000,
        fits=True,
    )
    plan = plan_pull(view)
    assert plan.problem is None and plan.node_id == "small" and plan.chosen_by != "caller"
    assert (plan.download_gb, plan.disk_free_gb, plan.disk_free_after_gb) == (5.2, 400, 394.8)
    assert "qwen3:8b" in plan.question and "small (chosen as the best fit)" in plan.question
    assert "5.2 GB" in plan.question and "400.0 GB free" in plan.question


def test_a_pull_the_router_refuses_carries_its_reason() -> None:
    reason = "llama3.3:70b needs about 47.0 GB of memory to run; node small has 16.0 GB in all"
    plan = plan_pull(PullPlanView(model="llama3.3:70b", node_id="small", reason=reason))
    assert plan.problem == reason
    there = plan_pull(PullPlanView(model="m:1b", node_id="big", already_there=True, fits=True))
    assert there.problem is None and "already has it" in there.question


def test_only_a_running_pull_can_be_cancelled() -> None:
    running = PullJob(id="pull-1", model="m:1b", node_id="big", state="running", percent=40.0)
    plan = plan_cancel(running, "m:1b onto big: 40%")
    assert plan.problem is None and "Stop the pull of m:1b onto big: 40%" in plan.question
    ended = plan_cancel(running.model_copy(update={"state": "done"}), "m:1b onto big: done")
    assert ended.problem is not None and "not running" in ended.problem


def test_delete_states_freed_space_and_other_copies() -> None:
    both = node("both", available=[("qwen3:8b", 5.2)])
    plan = plan_delete(fleet(BIG, both), "qwen3:8b", "big")
    assert plan.problem is None and plan.freed_gb == 5.2 and plan.disk_free_after_gb == 405.2
    assert "still on both" in plan.question
    lonely = plan_delete(fleet(SMALL), "llama3.2:3b", "small")
    assert lonely.loaded and "new download" in lonely.question and "loaded" in lonely.question


def test_delete_problems_name_where_the_model_is() -> None:
    plan = plan_delete(fleet(BIG, SMALL), "qwen3:8b", "small")
    assert plan.problem is not None and "big" in plan.problem
    assert "unknown node" in (plan_delete(fleet(BIG), "qwen3:8b", "x").problem or "")


def test_settings_plan_shows_old_and_new_values_and_refuses_unknown_keys() -> None:
    current = {"auto_pull": True, "max_retries": 2}
    plan = plan_settings(current, {"auto_pull": False})
    assert plan.problem is None and plan.previous == {"auto_pull": True}
    assert "auto_pull: on -> off" in plan.question
    assert "bogus" in (plan_settings(current, {"bogus": True}).problem or "")
    assert plan_settings(current, {}).problem


def test_model_entries_merge_holders_and_hot_state_skipping_offline_nodes() -> None:
    twin = node("twin", loaded=[("llama3.1:8b", 4.9)])
    entries = {e.name: e for e in model_entries(fleet(BIG, twin, GONE))}
    assert entries["llama3.1:8b"].nodes == ["big", "twin"]
    assert entries["llama3.1:8b"].loaded_on == ["twin"] and entries["llama3.1:8b"].hot
    assert not entries["qwen3:8b"].hot
    assert "mistral:7b" not in entries


def test_find_reports_hot_cold_unreachable_and_similar_tags() -> None:
    status = fleet(BIG, SMALL, GONE)
    hot = find(status, "llama3.2:3b")
    assert hot.found and hot.loaded_on == ["small"] and "hot" in hot.summary
    cold = find(status, "qwen3:8b")
    assert cold.on_disk == ["big"] and not cold.loaded_on
    away = find(status, "mistral:7b")
    assert not away.found and away.unreachable_holders == ["gone"]
    missing = find(status, "llama3.1")
    assert not missing.found and missing.similar == ["llama3.1:8b"]
    assert any("pull_model" in a for a in missing.advice)


def test_pick_test_model_prefers_loaded_then_smallest() -> None:
    assert pick_test_model(fleet(BIG, SMALL)) == "llama3.2:3b"
    assert pick_test_model(fleet(BIG)) == "llama3.1:8b"
    assert pick_test_model(fleet(GONE)) is None
