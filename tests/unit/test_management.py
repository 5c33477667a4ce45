"""Settings changes are validated and named; views are shaped from plain data."""

from __future__ import annotations

import pytest

from router.config import RouterSettings, RuntimeToggles
from router.fleet_view import fleet_status
from router.management import (
    SettingsError,
    apply_toggle_changes,
    model_management,
    settings_view,
    traffic_stats,
    usage_summary,
)
from router.registry import Registry
from tests.factories import heartbeat


def test_a_valid_change_is_applied() -> None:
    updated = apply_toggle_changes(RuntimeToggles(), {"auto_pull": False, "reaper_timeout_s": 5})
    assert updated.auto_pull is False and updated.reaper_timeout_s == 5.0
    assert updated.vram_fallback is True


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"auto_pul": False}, "unknown setting(s): auto_pul"),
        ({"auto_pull": "no"}, "auto_pull must be true or false"),
        ({"auto_pull": 0}, "auto_pull must be true or false"),
        ({"reaper_timeout_s": "5"}, "reaper_timeout_s must be a number"),
        ({"reaper_timeout_s": True}, "reaper_timeout_s must be a number"),
        ({"max_retries": 1.5}, "max_retries must be a whole number"),
        ({"max_retries": 99}, "max_retries"),
        ({"reaper_timeout_s": -1}, "reaper_timeout_s"),
        ({}, "send a JSON object"),
        ([], "send a JSON object"),
    ],
)
def test_bad_changes_are_refused_with_the_name(changes: object, needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        apply_toggle_changes(RuntimeToggles(), changes)
    assert needle in str(caught.value)


def test_settings_view_hides_secrets_and_lists_agents() -> None:
    settings = RouterSettings(api_key="k", admin_key=None)
    registry = Registry(lambda: 100.0)
    registry.apply(heartbeat("a", agent_version="0.1.0"))
    nodes = fleet_status(registry.with_status(), {}, 100.0).nodes
    view = settings_view(settings, nodes, "0.1.0")
    assert "api_key" not in view["config"] and view["config"]["api_key_set"] is True
    assert view["config"]["admin_key_set"] is False
    assert view["toggles"]["auto_pull"] is True
    assert view["nodes"] == [
        {"node_id": "a", "status": "online", "agent_version": "0.1.0", "ollama_version": "0.12.3"}
    ]


def test_model_management_joins_usage_to_models() -> None:
    registry = Registry(lambda: 100.0)
    registry.apply(
        heartbeat(
            "a", loaded=[("llama3.2:3b", 2.0)], available=[("llama3.2:3b", 2.0), ("x:1b", 1.0)]
        )
    )
    nodes = fleet_status(registry.with_status(), {}, 100.0).nodes
    rows = [{"node_id": "a", "model": "llama3.2:3b", "requests": 7, "last_used": 99.0}]
    [node] = model_management(nodes, rows)["nodes"]
    assert node["disk_free_gb"] == 400 and node["models_total_gb"] == 3.0
    first, second = node["models"]
    assert (first["name"], first["loaded"], first["request_count"], first["last_used"]) == (
        "llama3.2:3b",
        True,
        7,
        99.0,
    )
    assert (second["name"], second["loaded"], second["request_count"]) == ("x:1b", False, 0)


def test_usage_summary_counts_models_and_categories() -> None:
    rows = [
        {"node_id": "a", "model": "qwen2.5-coder:7b", "requests": 6},
        {"node_id": "b", "model": "qwen2.5-coder:7b", "requests": 4},
        {"node_id": "a", "model": "nomic-embed-text", "requests": 5},
    ]
    summary = usage_summary(rows, 7)
    assert summary.requests_by_model == {"qwen2.5-coder:7b": 10, "nomic-embed-text:latest": 5}
    assert summary.requests_by_category == {"code": 10, "embedding": 5}


def test_traffic_stats_from_store_counts() -> None:
    counts = {
        "requests": 40,
        "by_status": {"completed": 30, "failed": 4, "retried": 3, "incomplete": 2},
        "timeouts": 1,
        "retries": 3,
        "context_protected": 2,
        "reaped": 1,
        "cold_loads": 5,
        "cold_loads_by": [{"node_id": "a", "model": "m", "count": 5}],
        "error_rate": 0.15,
    }
    stats = traffic_stats(counts, {"fallback_models": 2, "vram_fallback": 1}, 120.0, 86_400)
    assert stats.requests_total == 40 and stats.failed == 4 and stats.incomplete == 2
    assert (stats.model_fallbacks, stats.vram_fallbacks) == (2, 1)
    assert stats.cold_loads == {("a", "m"): 5} and stats.ttft_p50_ms == 120.0
