"""The health engine: every check fires on the numbers that should trigger it and stays quiet
otherwise; the score, status and ordering are deterministic."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from herd_contract.heartbeat import CpuInfo, ModelDetails
from herd_contract.units import GB, GIB
from router import health
from router.fleet_status import HardwareView, LoadedModelView, MemoryView, NodeView, OllamaView
from router.health import HealthCheck, HealthInputs, TrafficStats, evaluate

NOW = 1_700_000_000.0
ROUTER_VERSION = "0.1.0"
SIXTEEN_GIB = 16 * GIB / GB
"""A "16 GB" machine's memory in decimal GB, as ``/fleet/status`` shows it."""


def loaded(name: str, params: str = "8.0B", ctx: int = 4096) -> LoadedModelView:
    return LoadedModelView(
        name=name, model=name, details=ModelDetails(parameter_size=params), context_length=ctx
    )


def node(
    node_id: str = "alpha",
    *,
    status: str = "online",
    seconds: float = 2.0,
    total_gb: float = 64.0,
    used_gb: float | None = None,
    pressure: str = "normal",
    swap_total_gb: float = 0.0,
    swap_used_gb: float = 0.0,
    models: list[LoadedModelView] | None = None,
    num_parallel: int | None = None,
    context_length: int | None = None,
    agent_version: str = ROUTER_VERSION,
    ollama_version: str = "0.5.7",
    reachable: bool = True,
    draining: bool = False,
    keep_alive: str | None = None,
    max_loaded_models: int | None = None,
) -> NodeView:
    used = total_gb / 4 if used_gb is None else used_gb
    return NodeView(
        node_id=node_id,
        status=status,
        draining=draining,
        agent_version=agent_version,
        last_seen=NOW - seconds,
        seconds_since_heartbeat=seconds,
        ollama_url=f"http://{node_id}.lan:11434",
        hardware=HardwareView(hostname=node_id, memory_gb=total_gb),
        cpu=CpuInfo(cores=8, utilization_pct=10.0),
        memory=MemoryView(
            total_gb=total_gb,
            used_gb=used,
            available_gb=total_gb - used,
            pressure=pressure,
            swap_total_gb=swap_total_gb,
            swap_used_gb=swap_used_gb,
        ),
        ollama=OllamaView(
            url=f"http://{node_id}.lan:11434",
            reachable=reachable,
            version=ollama_version,
            models_loaded=models or [],
            num_parallel=num_parallel,
            context_length=context_length,
            keep_alive=keep_alive,
            max_loaded_models=max_loaded_models,
        ),
    )


def inputs(
    nodes: list[NodeView] | None = None,
    traffic: TrafficStats | None = None,
    per_node: dict[str, int] | None = None,
    *,
    secured: bool = True,
    router_version: str = ROUTER_VERSION,
) -> HealthInputs:
    return HealthInputs(
        nodes=[node()] if nodes is None else nodes,
        router_version=router_version,
        now=NOW,
        traffic=traffic or TrafficStats(),
        per_node_requests=per_node or {},
        fleet_token_set=secured,
        api_key_set=secured,
        admin_key_set=secured,
    )


def traffic(**kw: Any) -> TrafficStats:
    base: dict[str, Any] = {"requests_total": 1000, "completed": 1000}
    base.update(kw)
    return TrafficStats(**base)


def only(report_checks: list[HealthCheck], check_id: str) -> list[HealthCheck]:
    return [c for c in report_checks if c.check_id == check_id]


def findings(hi: HealthInputs, check_id: str) -> list[HealthCheck]:
    return only(evaluate(hi).checks, check_id)


def one(hi: HealthInputs, check_id: str) -> HealthCheck:
    found = findings(hi, check_id)
    assert len(found) == 1, found
    return found[0]


# --- a healthy baseline --------------------------------------------------------------------------


def test_healthy_fleet_has_no_findings_and_full_score() -> None:
    hi = inputs([node("alpha"), node("beta")], traffic(), {"alpha": 500, "beta": 500})
    report = evaluate(hi)
    assert report.checks == []
    assert report.score == 100
    assert report.status == "healthy"
    assert report.checked_at == NOW
    assert report.vitals.nodes_online == 2
    assert report.vitals.requests_24h == 1000


def test_every_check_is_registered() -> None:
    names = {fn.__name__.removeprefix("check_") for fn in health.CHECKS}
    assert {
        "offline_nodes",
        "degraded_nodes",
        "memory_pressure",
        "underutilized_nodes",
        "vram_fallbacks",
        "kv_cache_bloat",
        "version_mismatch",
        "context_protection",
        "zombie_reaper",
        "model_thrashing",
        "request_timeouts",
        "error_rate",
        "retry_rate",
        "client_disconnects",
        "incomplete_streams",
        "open_fleet",
        "no_nodes",
    } <= names


# --- fleet checks --------------------------------------------------------------------------------


def test_no_nodes_fires_on_empty_fleet() -> None:
    check = one(inputs([]), "no_nodes")
    assert check.severity == "critical"
    assert "0 nodes" in check.description
    assert "herd-node" in check.fix and "--router-url" in check.fix


def test_no_nodes_quiet_with_a_node() -> None:
    assert findings(inputs([node()]), "no_nodes") == []


def test_offline_node_is_warning_while_others_serve() -> None:
    hi = inputs([node("alpha"), node("beta", status="offline", seconds=95)])
    check = one(hi, "offline_nodes")
    assert check.severity == "warning"
    assert check.node_id == "beta"
    assert "95 s" in check.description
    assert "1 of 2" in check.description


def test_offline_nodes_critical_when_none_can_serve() -> None:
    hi = inputs([node("alpha", status="offline", seconds=40), node("beta", status="offline")])
    found = findings(hi, "offline_nodes")
    assert [c.node_id for c in found] == ["alpha", "beta"]
    assert {c.severity for c in found} == {"critical"}
    assert "2 of 2" in found[0].description


def test_offline_quiet_when_all_online() -> None:
    assert findings(inputs([node("alpha"), node("beta")]), "offline_nodes") == []


def test_degraded_node_warns() -> None:
    check = one(inputs([node("alpha", status="degraded", seconds=18)]), "degraded_nodes")
    assert check.severity == "warning"
    assert check.node_id == "alpha"
    assert "18 s" in check.description


def test_degraded_quiet_for_online_and_offline() -> None:
    hi = inputs([node("alpha"), node("beta", status="offline")])
    assert findings(hi, "degraded_nodes") == []


def test_ollama_unreachable_warns_for_live_node() -> None:
    check = one(inputs([node("alpha", reachable=False)]), "ollama_unreachable")
    assert check.severity == "warning"
    assert "http://alpha.lan:11434" in check.description


def test_ollama_unreachable_quiet_when_reachable_or_offline() -> None:
    hi = inputs([node("alpha"), node("beta", status="offline", reachable=False)])
    assert findings(hi, "ollama_unreachable") == []


@pytest.mark.parametrize(("pressure", "severity"), [("warn", "warning"), ("critical", "critical")])
def test_memory_pressure_by_level(pressure: str, severity: str) -> None:
    n = node(
        "alpha",
        total_gb=32,
        used_gb=30.5,
        pressure=pressure,
        swap_total_gb=8,
        swap_used_gb=6.2,
        models=[loaded("llama3:8b")],
    )
    check = one(inputs([n]), "memory_pressure")
    assert check.severity == severity
    assert check.node_id == "alpha"
    for number in ("30.5 GB", "32.0 GB", "1.5 GB", "6.2 GB"):
        assert number in check.description
    assert "llama3:8b" in check.description


def test_memory_pressure_quiet_when_normal_or_offline() -> None:
    hi = inputs([node("alpha"), node("beta", status="offline", pressure="critical")])
    assert findings(hi, "memory_pressure") == []


def test_underutilized_node_with_zero_requests_warns() -> None:
    hi = inputs([node("alpha"), node("beta")], traffic(), {"alpha": 400})
    check = one(hi, "underutilized_nodes")
    assert check.severity == "warning"
    assert check.node_id == "beta"
    assert "served 0 of 400" in check.description
    assert "alpha served 400" in check.description
    assert "200" in check.description  # the even split


def test_underutilized_node_with_a_trickle_is_info() -> None:
    hi = inputs([node("alpha"), node("beta")], traffic(), {"alpha": 398, "beta": 2})
    check = one(hi, "underutilized_nodes")
    assert check.severity == "info"
    assert "served 2 of 400" in check.description


def test_underutilized_quiet_when_balanced_quiet_or_ineligible() -> None:
    two = [node("alpha"), node("beta")]
    assert (
        findings(inputs(two, traffic(), {"alpha": 250, "beta": 150}), "underutilized_nodes") == []
    )
    # too little traffic overall to judge
    assert findings(inputs(two, traffic(), {"alpha": 30}), "underutilized_nodes") == []
    # the idle node is draining or under pressure: it is not expected to take work
    busy = {"alpha": 400}
    assert (
        findings(
            inputs([node("alpha"), node("beta", draining=True)], traffic(), busy),
            "underutilized_nodes",
        )
        == []
    )
    pressured = [node("alpha"), node("beta", pressure="warn")]
    assert findings(inputs(pressured, traffic(), busy), "underutilized_nodes") == []


def test_kv_cache_bloat_critical_with_numbers_and_advice() -> None:
    # 8B model: 128 KiB/token; 4 slots x 32768 tokens x 128 KiB = 16 GiB (17.2 GB) on a 16 GiB node.
    model = loaded("llama3:8b", "8.0B", 32768)
    n = node("mini", total_gb=SIXTEEN_GIB, models=[model], num_parallel=4)
    check = one(inputs([n]), "kv_cache_bloat")
    assert check.severity == "critical"
    assert check.node_id == "mini"
    assert "OLLAMA_NUM_PARALLEL=4" in check.description
    assert "17.2 GB" in check.description
    assert "100.0%" in check.description
    assert "32768" in check.description
    assert "OLLAMA_NUM_PARALLEL=1" in check.fix or "OLLAMA_CONTEXT_LENGTH=" in check.fix
    assert check.data["kv_cache_gb"] == pytest.approx(SIXTEEN_GIB)


def test_kv_cache_bloat_warning_between_thresholds() -> None:
    # 2 slots x 16384 tokens x 128 KiB = 4 GiB (4.3 GB) on 12 GiB: 33%
    total = 12 * GIB / GB
    n = node("mid", total_gb=total, models=[loaded("llama3:8b", "8.0B", 16384)], num_parallel=2)
    check = one(inputs([n]), "kv_cache_bloat")
    assert check.severity == "warning"
    assert "4.3 GB" in check.description
    assert "33.3%" in check.description
    assert check.data["suggested_num_parallel"] == 1
    assert "OLLAMA_NUM_PARALLEL=1 (now 2)" in check.fix


def test_kv_cache_suggestions_silence_the_check() -> None:
    model = loaded("llama3:8b", "8.0B", 32768)
    check = one(
        inputs([node("mini", total_gb=SIXTEEN_GIB, models=[model], num_parallel=4)]),
        "kv_cache_bloat",
    )
    fewer_slots = node("mini", total_gb=SIXTEEN_GIB, models=[model], num_parallel=1)
    assert check.data["suggested_num_parallel"] == 1
    assert findings(inputs([fewer_slots]), "kv_cache_bloat") == []
    ctx = check.data["suggested_context_length"]
    assert f"OLLAMA_CONTEXT_LENGTH={ctx}" in check.fix
    shorter = loaded("llama3:8b", "8.0B", ctx)
    smaller_ctx = node("mini", total_gb=SIXTEEN_GIB, models=[shorter], num_parallel=4)
    assert findings(inputs([smaller_ctx]), "kv_cache_bloat") == []


def test_kv_cache_uses_node_context_when_model_reports_none() -> None:
    model = loaded("llama3:8b", "8.0B", 0)
    n = node("mid", total_gb=12, models=[model], num_parallel=2, context_length=16384)
    assert one(inputs([n]), "kv_cache_bloat").data["models"][0]["context_length"] == 16384


def test_kv_cache_quiet_on_sane_settings() -> None:
    # 1 slot x 4096 x 128 KiB = 0.5 GiB on 64 GB
    ok = node("big", models=[loaded("llama3:8b", "8.0B", 4096)], num_parallel=1)
    empty = node("idle", total_gb=8, num_parallel=8)
    assert findings(inputs([ok, empty]), "kv_cache_bloat") == []


def test_kv_bytes_per_token_assumption() -> None:
    assert health.kv_bytes_per_token(loaded("a", "8.0B")) == 128 * 1024
    assert health.kv_bytes_per_token(loaded("a", "70.6B")) == 320 * 1024
    assert health.kv_bytes_per_token(loaded("a", "567M")) == 32 * 1024
    assert health.kv_bytes_per_token(loaded("a", "")) == 128 * 1024
    assert health.parameter_billions("1.5B") == 1.5
    assert health.parameter_billions("garbage") is None


def test_version_mismatch_per_node_against_router() -> None:
    hi = inputs(
        [node("alpha"), node("beta", agent_version="0.0.9"), node("gamma", agent_version="1.0.0")]
    )
    found = findings(hi, "version_mismatch")
    by_node = {c.node_id: c for c in found}
    assert set(by_node) == {"beta", "gamma"}
    assert by_node["beta"].severity == "warning"  # minor differs
    assert by_node["gamma"].severity == "critical"  # major differs
    assert "0.0.9" in by_node["beta"].description and "0.1.0" in by_node["beta"].description


def test_version_mismatch_between_agents_when_router_version_unknown() -> None:
    hi = inputs(
        [node("alpha", agent_version="0.1.0"), node("beta", agent_version="0.1.2")],
        router_version="",
    )
    check = one(hi, "version_mismatch")
    assert check.severity == "info"  # patch only
    assert "0.1.0" in check.description and "0.1.2" in check.description


def test_version_mismatch_ollama_versions_differ() -> None:
    hi = inputs([node("alpha", ollama_version="0.5.7"), node("beta", ollama_version="0.3.14")])
    check = one(hi, "version_mismatch")
    assert check.severity == "warning"
    assert check.data["kind"] == "ollama"
    assert "0.3.14" in check.description and "0.5.7" in check.description
    assert "beta" in check.fix and "0.5.7" in check.fix


def test_version_mismatch_quiet_when_all_match() -> None:
    hi = inputs([node("alpha"), node("beta"), node("gamma", agent_version="", ollama_version="")])
    assert findings(hi, "version_mismatch") == []


# --- traffic checks ------------------------------------------------------------------------------


def test_vram_fallbacks_warning_and_info() -> None:
    check = one(inputs(traffic=traffic(vram_fallbacks=150)), "vram_fallbacks")
    assert check.severity == "warning"
    assert "150 of 1000" in check.description and "15.0%" in check.description
    assert '"vram_fallback": false' in check.fix
    assert one(inputs(traffic=traffic(vram_fallbacks=20)), "vram_fallbacks").severity == "info"


def test_vram_fallbacks_quiet_when_rare() -> None:
    assert findings(inputs(traffic=traffic(vram_fallbacks=2)), "vram_fallbacks") == []


def test_model_fallbacks_fire_and_stay_quiet() -> None:
    check = one(inputs(traffic=traffic(model_fallbacks=120)), "model_fallbacks")
    assert check.severity == "warning"
    assert "120 of 1000" in check.description and "12.0%" in check.description
    assert findings(inputs(traffic=traffic(model_fallbacks=5)), "model_fallbacks") == []


def test_context_protection_info_and_warning() -> None:
    check = one(inputs(traffic=traffic(context_protections=12)), "context_protection")
    assert check.severity == "info"
    assert "12 of 1000" in check.description and "1.2%" in check.description
    assert "OLLAMA_CONTEXT_LENGTH" in check.fix
    busy = one(inputs(traffic=traffic(context_protections=400)), "context_protection")
    assert busy.severity == "warning"
    assert "40.0%" in busy.description


def test_context_protection_quiet_without_events() -> None:
    assert findings(inputs(traffic=traffic()), "context_protection") == []


@pytest.mark.parametrize(
    ("reaps", "severity", "pct"),
    [(2, "info", "0.2%"), (15, "warning", "1.5%"), (60, "critical", "6.0%")],
)
def test_zombie_reaper_by_magnitude(reaps: int, severity: str, pct: str) -> None:
    check = one(inputs(traffic=traffic(zombie_reaps=reaps)), "zombie_reaper")
    assert check.severity == severity
    assert f"{reaps} stalled" in check.description and pct in check.description
    assert "reaper_timeout_s" in check.fix


def test_zombie_reaper_quiet_without_reaps() -> None:
    assert findings(inputs(traffic=traffic(zombie_reaps=0)), "zombie_reaper") == []


def test_model_thrashing_per_node_and_model() -> None:
    n = node("alpha", keep_alive="5m", max_loaded_models=1)
    cold = {("alpha", "qwen2.5:7b"): 7, ("beta", "llama3:70b"): 25, ("alpha", "phi3:mini"): 2}
    hi = inputs([n], traffic(cold_loads=cold))
    found = findings(hi, "model_thrashing")
    assert [(c.node_id, c.severity) for c in found] == [("beta", "critical"), ("alpha", "warning")]
    warning = found[1]
    assert "cold-loaded 7 times" in warning.description and "24 h" in warning.description
    assert "OLLAMA_KEEP_ALIVE=5m" in warning.description
    assert "OLLAMA_MAX_LOADED_MODELS=1" in warning.description
    assert "OLLAMA_KEEP_ALIVE" in warning.fix and "OLLAMA_MAX_LOADED_MODELS" in warning.fix
    assert '"keep_alive": -1' in warning.fix and "http://alpha.lan:11434" in warning.fix


def test_model_thrashing_names_a_short_window_in_minutes() -> None:
    t = traffic(window_s=1800, cold_loads={("alpha", "qwen2.5:7b"): 6})
    check = one(inputs(traffic=t), "model_thrashing")
    assert "6 times" in check.description and "30 min" in check.description


def test_model_thrashing_quiet_for_occasional_loads() -> None:
    hi = inputs(traffic=traffic(cold_loads={("alpha", "qwen2.5:7b"): 4}))
    assert findings(hi, "model_thrashing") == []


@pytest.mark.parametrize(
    ("n", "severity", "pct"), [(20, "warning", "2.0%"), (80, "critical", "8.0%")]
)
def test_request_timeouts_by_magnitude(n: int, severity: str, pct: str) -> None:
    check = one(inputs(traffic=traffic(timeouts=n, cold_loads_total=9)), "request_timeouts")
    assert check.severity == severity
    assert f"{n} of 1000" in check.description and pct in check.description
    assert "9 cold" in check.description
    assert "HERD_FIRST_BYTE_TIMEOUT_S" in check.fix


def test_request_timeouts_quiet_when_rare() -> None:
    assert findings(inputs(traffic=traffic(timeouts=5)), "request_timeouts") == []


@pytest.mark.parametrize(
    ("failed", "severity", "pct"), [(80, "warning", "8.0%"), (250, "critical", "25.0%")]
)
def test_error_rate_by_magnitude(failed: int, severity: str, pct: str) -> None:
    check = one(inputs(traffic=traffic(failed=failed)), "error_rate")
    assert check.severity == severity
    assert f"{failed} of 1000" in check.description and pct in check.description


def test_error_rate_uses_store_rate_when_given() -> None:
    check = one(inputs(traffic=traffic(failed=80, error_rate=0.3)), "error_rate")
    assert check.severity == "critical"
    assert "30.0%" in check.description


def test_error_rate_from_store_rate_alone() -> None:
    check = one(inputs(traffic=traffic(error_rate=0.1)), "error_rate")
    assert check.severity == "warning"
    assert "100 of 1000" in check.description and "10.0%" in check.description


def test_error_rate_quiet_when_low_or_too_few_requests() -> None:
    assert findings(inputs(traffic=traffic(failed=30)), "error_rate") == []
    few = TrafficStats(requests_total=10, failed=5)
    assert findings(inputs(traffic=few), "error_rate") == []


@pytest.mark.parametrize(
    ("n", "severity", "pct"), [(150, "warning", "15.0%"), (400, "critical", "40.0%")]
)
def test_retry_rate_by_magnitude(n: int, severity: str, pct: str) -> None:
    check = one(inputs(traffic=traffic(retries=n, retried=n)), "retry_rate")
    assert check.severity == severity
    assert f"{n} retry attempts" in check.description and pct in check.description


def test_retry_rate_quiet_when_low() -> None:
    assert findings(inputs(traffic=traffic(retries=40)), "retry_rate") == []


@pytest.mark.parametrize(
    ("n", "severity", "pct"), [(70, "info", "7.0%"), (300, "warning", "30.0%")]
)
def test_client_disconnects_by_magnitude(n: int, severity: str, pct: str) -> None:
    check = one(
        inputs(traffic=traffic(client_disconnected=n, ttft_p50_ms=8421.0)), "client_disconnects"
    )
    assert check.severity == severity
    assert f"{n} of 1000" in check.description and pct in check.description
    assert "8421 ms" in check.description


def test_client_disconnects_quiet_when_rare() -> None:
    assert findings(inputs(traffic=traffic(client_disconnected=30)), "client_disconnects") == []


@pytest.mark.parametrize(
    ("n", "severity", "pct"), [(15, "warning", "1.5%"), (60, "critical", "6.0%")]
)
def test_incomplete_streams_by_magnitude(n: int, severity: str, pct: str) -> None:
    check = one(inputs(traffic=traffic(incomplete=n)), "incomplete_streams")
    assert check.severity == severity
    assert f"{n} of 1000" in check.description and pct in check.description


def test_incomplete_streams_quiet_when_rare() -> None:
    assert findings(inputs(traffic=traffic(incomplete=5)), "incomplete_streams") == []


def test_open_fleet_without_token_and_keys() -> None:
    hi = inputs([node("alpha"), node("beta")], secured=False)
    found = findings(hi, "open_fleet")
    by_setting = {c.data["setting"]: c for c in found}
    assert set(by_setting) == {"HERD_FLEET_TOKEN", "HERD_ADMIN_KEY", "HERD_API_KEY"}
    token = by_setting["HERD_FLEET_TOKEN"]
    assert token.severity == "warning"
    assert "2 node(s)" in token.description
    assert "HERD_FLEET_TOKEN" in token.fix
    assert by_setting["HERD_ADMIN_KEY"].severity == "info"
    assert by_setting["HERD_API_KEY"].severity == "info"


def test_open_fleet_quiet_when_secured() -> None:
    assert findings(inputs(secured=True), "open_fleet") == []


def test_open_fleet_says_what_the_auth_rules_do() -> None:
    """Without HERD_ADMIN_KEY the router refuses admin calls from other devices: the finding must
    say that, not that anyone can pull and delete."""
    from router.auth import Keys, authorize

    assert authorize("admin", Keys(), None, "192.168.1.50") is not None
    assert authorize("admin", Keys(), None, "127.0.0.1") is None
    [admin] = [c for c in findings(inputs(secured=False), "open_fleet") if "ADMIN" in str(c.data)]
    assert "only from the router's own machine" in admin.description
    assert "refused" in admin.description and "anyone" not in admin.description


def test_open_fleet_quiet_when_the_router_listens_on_loopback_only() -> None:
    """A router on 127.0.0.1 (``herd demo``) is reached by this machine alone."""
    loopback = replace(inputs([node("alpha")], secured=False), listens_on_network=False)
    assert findings(loopback, "open_fleet") == []


# --- score, status, ordering, vitals -------------------------------------------------------------


def test_score_and_status_follow_the_worst_finding() -> None:
    info_only = evaluate(inputs(traffic=traffic(context_protections=12)))
    assert info_only.status == "healthy"
    assert info_only.score == 100 - health.SEVERITY_PENALTY["info"]

    warn = evaluate(inputs([node("alpha", status="degraded")]))
    assert warn.status == "warning"
    assert warn.score == 100 - health.SEVERITY_PENALTY["warning"]

    crit = evaluate(inputs([]))
    assert crit.status == "critical"
    assert crit.score == 100 - health.SEVERITY_PENALTY["critical"]


def test_score_is_clamped_at_zero() -> None:
    nodes = [node(f"n{i}", status="offline") for i in range(6)]
    report = evaluate(inputs(nodes, secured=False))
    assert report.score == 0
    assert report.status == "critical"


def test_ordering_critical_first_then_check_id_then_node() -> None:
    nodes = [
        node("zeta", status="degraded"),
        node("alpha", status="degraded"),
        node("mid", pressure="critical"),
    ]
    hi = inputs(nodes, traffic(failed=300, context_protections=5), secured=False)
    checks = evaluate(hi).checks
    rank = {"critical": 0, "warning": 1, "info": 2}
    keys = [(rank[c.severity], c.check_id, c.node_id or "") for c in checks]
    assert keys == sorted(keys)
    assert checks[0].severity == "critical"
    assert [c.check_id for c in checks if c.severity == "critical"] == [
        "error_rate",
        "memory_pressure",
    ]
    degraded = [c.node_id for c in checks if c.check_id == "degraded_nodes"]
    assert degraded == ["alpha", "zeta"]
    assert checks[-1].severity == "info"


def test_evaluate_is_deterministic_regardless_of_input_order() -> None:
    nodes = [node("b", status="offline"), node("a", pressure="warn"), node("c", agent_version="2")]
    cold = {("b", "m2"): 9, ("a", "m1"): 9}
    first = evaluate(inputs(nodes, traffic(cold_loads=cold), secured=False))
    second = evaluate(
        inputs(
            list(reversed(nodes)), traffic(cold_loads=dict(reversed(cold.items()))), secured=False
        )
    )
    assert first.model_dump() == second.model_dump()


def test_vitals_count_nodes_and_traffic() -> None:
    nodes = [
        node("a", models=[loaded("m1"), loaded("m2")]),
        node("b", status="degraded", draining=True),
        node("c", status="offline", models=[loaded("m3")]),
    ]
    t = traffic(
        failed=20,
        retries=7,
        timeouts=3,
        cold_loads={("a", "m1"): 2, ("b", "m2"): 1},
        ttft_p50_ms=350.0,
    )
    v = evaluate(inputs(nodes, t)).vitals
    assert (v.nodes_total, v.nodes_online, v.nodes_degraded, v.nodes_offline) == (3, 1, 1, 1)
    assert v.nodes_draining == 1
    assert v.models_loaded == 2  # offline nodes' stale models do not count
    assert v.requests_24h == 1000
    assert v.error_rate == pytest.approx(0.02)
    assert v.cold_loads_24h == 3
    assert v.retries_24h == 7 and v.timeouts_24h == 3
    assert v.ttft_p50_ms == 350.0


def test_inputs_are_plain_dataclasses() -> None:
    hi = inputs()
    changed = replace(hi, traffic=traffic(failed=300))
    assert evaluate(changed).status == "critical"
    assert evaluate(hi).status == "healthy"


def test_every_check_says_what_it_looks_at_and_passing_ones_are_listed() -> None:
    from router.health.engine import check_id
    from router.health.registry import CHECKS

    assert all(check.__doc__ for check in CHECKS), "a check without a docstring"
    report = health.evaluate(health.HealthInputs(nodes=[], router_version="0.1.0", now=0.0))
    passed = {p.check_id for p in report.passed}
    assert "no_nodes" not in passed and {c.check_id for c in report.checks} >= {"no_nodes"}
    assert "error_rate" in passed and passed < {check_id(c) for c in CHECKS}
    titles = {p.check_id: p.title for p in report.passed}
    assert titles["error_rate"] == "The error rate is low"
