"""Model recommendations: every mix fits its node, big nodes get big models, usage shapes it."""

from __future__ import annotations

from typing import Any

import pytest

from router.catalogue import lookup
from router.fleet_status import NodeView
from router.recommendations import (
    EMBEDDING_OVERHEAD_GB,
    LLM_OVERHEAD_GB,
    NodeRecommendation,
    RecommendationsReport,
    UsageSummary,
    recommend,
)

EMPTY = UsageSummary()
CODE_HEAVY = UsageSummary(
    window_days=7, requests_by_category={"code": 800, "chat": 150, "embedding": 50}
)
NO_CODE = UsageSummary(window_days=7, requests_by_category={"chat": 900, "embedding": 100})


def make_node(
    node_id: str,
    memory_gb: float,
    disk_free_gb: float | None = 500.0,
    *,
    disk_total_gb: float = 2000.0,
    available: list[tuple[str, float]] | None = None,
    loaded: list[tuple[str, float]] | None = None,
    bandwidth: float | None = None,
    status: str = "online",
    num_parallel: int | None = None,
    context_length: int | None = None,
    max_loaded_models: int | None = None,
    available_gb: float | None = None,
) -> NodeView:
    ollama: dict[str, Any] = {
        "url": f"http://{node_id}:11434",
        "models_available": [{"name": n, "size_gb": s} for n, s in available or []],
        "models_loaded": [{"name": n, "size_gb": s} for n, s in loaded or []],
        "num_parallel": num_parallel,
        "context_length": context_length,
        "max_loaded_models": max_loaded_models,
    }
    disk = None
    if disk_free_gb is not None:
        disk = {
            "total_gb": disk_total_gb,
            "used_gb": disk_total_gb - disk_free_gb,
            "free_gb": disk_free_gb,
        }
    return NodeView.model_validate(
        {
            "node_id": node_id,
            "status": status,
            "last_seen": 1_700_000_000.0,
            "seconds_since_heartbeat": 2.0,
            "ollama_url": ollama["url"],
            "hardware": {"memory_gb": memory_gb, "memory_bandwidth_gbps": bandwidth},
            "cpu": {"cores": 8, "utilization_pct": 10},
            "memory": {
                "total_gb": memory_gb,
                "used_gb": 4.0,
                "available_gb": max(0.0, memory_gb - 4.0) if available_gb is None else available_gb,
            },
            "disk": disk,
            "ollama": ollama,
        }
    )


def workstation(**kw: Any) -> NodeView:
    return make_node("studio", 128, kw.pop("disk_free_gb", 1500), bandwidth=800, **kw)


def laptop(**kw: Any) -> NodeView:
    return make_node("laptop", 32, kw.pop("disk_free_gb", 300), bandwidth=120, **kw)


def mini(**kw: Any) -> NodeView:
    return make_node("mini", 16, kw.pop("disk_free_gb", 100), bandwidth=100, **kw)


PROFILES = {"workstation": workstation, "laptop": laptop, "mini": mini}


def only(report: RecommendationsReport, node_id: str) -> NodeRecommendation:
    [node] = [n for n in report.nodes if n.node_id == node_id]
    return node


def roles_of(node: NodeRecommendation) -> set[str]:
    return {role for rec in node.recommended for role in rec.roles}


def by_role(node: NodeRecommendation, role: str):
    [rec] = [r for r in node.recommended if role in r.roles]
    return rec


def assert_fits(node: NodeRecommendation) -> None:
    memory = sum(r.memory_gb for r in node.recommended)
    assert node.total_recommended_gb == pytest.approx(memory, abs=0.011)
    assert memory <= node.usable_gb + 1e-6
    assert node.usable_gb <= node.memory_gb * 0.8
    downloads = sum(r.download_gb for r in node.recommended if not r.already_installed)
    assert node.download_gb == pytest.approx(downloads, abs=0.011)
    if node.disk_free_gb is not None:
        assert node.disk_budget_gb is not None
        assert downloads <= node.disk_budget_gb + 1e-6
        assert node.disk_budget_gb <= node.disk_free_gb
    for rec in node.recommended:
        assert rec.memory_gb >= rec.size_gb
        if rec.already_installed:
            assert rec.download_gb == 0 and rec.action == "keep"
        else:
            assert rec.download_gb == pytest.approx(rec.size_gb)
            assert rec.action == f"ollama pull {rec.model}"
    names = [r.model for r in node.recommended]
    assert len(names) == len(set(names))


# --- single nodes --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("usage", [EMPTY, CODE_HEAVY, NO_CODE], ids=["empty", "code", "chat"])
def test_each_profile_mix_fits_memory_and_disk(profile: str, usage: UsageSummary) -> None:
    report = recommend([PROFILES[profile]()], usage)
    [node] = report.nodes
    assert node.recommended
    assert_fits(node)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_empty_usage_gives_the_default_mix(profile: str) -> None:
    report = recommend([PROFILES[profile]()], EMPTY)
    [node] = report.nodes
    assert roles_of(node) == {"chat", "code", "embedding", "fast"}
    assert by_role(node, "code").category == "code"
    assert by_role(node, "embedding").category == "embedding"
    fast = lookup(by_role(node, "fast").model)
    assert fast is not None and fast.params_b <= 4
    assert report.generated_from["default_mix"] is True
    assert node.removable == []
    assert any("default mix" in n for n in node.notes)
    assert all("default mix" in r.reason for r in node.recommended)


def test_usable_memory_keeps_headroom_and_os_share() -> None:
    sizes = {n.node_id: n.usable_gb for n in recommend([workstation(), laptop(), mini()]).nodes}
    assert sizes == {"studio": 94.4, "laptop": 23.6, "mini": 10.8}


def test_a_lone_workstation_gets_a_chat_model_as_large_as_fits() -> None:
    [node] = recommend([workstation()]).nodes
    chat = by_role(node, "chat")
    assert chat.size_gb >= 40
    assert chat.quality >= 75


def test_kv_cache_is_counted_and_grows_with_context_and_parallel() -> None:
    [plain] = recommend([mini()]).nodes
    [busy] = recommend([mini(num_parallel=4, context_length=16384)]).nodes
    for node in (plain, busy):
        for rec in node.recommended:
            overhead = EMBEDDING_OVERHEAD_GB if rec.category == "embedding" else LLM_OVERHEAD_GB
            assert rec.memory_gb == pytest.approx(
                rec.size_gb + rec.kv_cache_gb + overhead, abs=0.02
            )
    plain_chat, busy_chat = by_role(plain, "chat"), by_role(busy, "chat")
    assert plain_chat.kv_cache_gb > 0
    entry = lookup(plain_chat.model)
    assert entry is not None
    assert plain_chat.kv_cache_gb == pytest.approx(entry.kv_gb_per_8k * 4096 / 8192, abs=0.01)
    assert "KV cache for 4096 tokens" in plain_chat.reason
    busy_entry = lookup(busy_chat.model)
    assert busy_entry is not None
    assert busy_chat.kv_cache_gb == pytest.approx(busy_entry.kv_gb_per_8k * 2 * 4, abs=0.01)
    assert "x 4 parallel" in busy_chat.reason
    assert_fits(busy)


def test_slow_memory_leaves_out_models_that_would_crawl() -> None:
    [node] = recommend([make_node("cpu-box", 128, bandwidth=40)]).nodes
    assert_fits(node)
    for rec in node.recommended:
        if rec.category != "embedding":
            assert rec.est_tokens_per_s is not None and rec.est_tokens_per_s >= 5
        if "fast" in rec.roles:
            assert rec.est_tokens_per_s >= 20
    # A dense coder must stay under 40 GB/s / 5 tokens/s = 8 GB; the same RAM with fast memory
    # takes the largest coder. A mixture-of-experts model reads only its active experts.
    assert by_role(node, "code").size_gb <= 8
    [fast_box] = recommend([make_node("gpu-box", 128, bandwidth=800)]).nodes
    assert by_role(fast_box, "code").size_gb > 8
    assert "tokens/s at 40 GB/s" in by_role(node, "code").reason


def test_max_loaded_models_bounds_the_mix() -> None:
    [node] = recommend([workstation(max_loaded_models=2)]).nodes
    assert len(node.recommended) == 2
    assert_fits(node)
    assert any("OLLAMA_MAX_LOADED_MODELS=2" in n for n in node.notes)


def test_unknown_memory_recommends_nothing() -> None:
    [node] = recommend([make_node("blank", 0)]).nodes
    assert node.recommended == [] and node.usable_gb == 0
    assert any("Memory size unknown" in n for n in node.notes)


# --- the fleet -----------------------------------------------------------------------------------


def test_fleet_of_three_splits_roles_by_size() -> None:
    report = recommend([workstation(), laptop(), mini()], EMPTY)
    studio, lap, small = (only(report, n) for n in ("studio", "laptop", "mini"))
    for node in (studio, lap, small):
        assert_fits(node)
    biggest = {n.node_id: max(r.size_gb for r in n.recommended) for n in report.nodes}
    assert biggest["studio"] > biggest["laptop"] > biggest["mini"]
    overall = max(r.size_gb for n in report.nodes for r in n.recommended)
    assert overall == biggest["studio"] and overall >= 40
    assert studio.model_size_cap_gb is None
    assert lap.model_size_cap_gb == pytest.approx(lap.usable_gb / 2)
    assert small.model_size_cap_gb == pytest.approx(small.usable_gb / 2)
    for rec in small.recommended:
        entry = lookup(rec.model)
        assert entry is not None and entry.params_b <= 4
        assert rec.memory_gb <= small.model_size_cap_gb
    assert {"embedding", "fast"} <= roles_of(small)
    mixes = {frozenset(r.model for r in n.recommended) for n in report.nodes}
    assert len(mixes) == 3
    assert report.generated_from["largest_node"] == "studio"
    assert any("studio" in note for note in small.notes)
    assert "the biggest models go to studio" in by_role(lap, "chat").reason


def test_a_laptop_alone_gets_bigger_models_than_beside_a_workstation() -> None:
    [alone] = recommend([laptop()]).nodes
    beside = only(recommend([workstation(), laptop()]), "laptop")
    assert alone.model_size_cap_gb is None
    assert by_role(alone, "chat").size_gb > by_role(beside, "chat").size_gb


def test_an_offline_big_node_does_not_shrink_the_others() -> None:
    report = recommend([workstation(status="offline"), laptop()])
    assert only(report, "laptop").model_size_cap_gb is None
    assert any("offline" in n for n in only(report, "studio").notes)
    assert report.generated_from["largest_node"] == "laptop"


# --- usage weighting -----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_heavy_code_traffic_brings_a_bigger_coder(profile: str) -> None:
    [default] = recommend([PROFILES[profile]()], EMPTY).nodes
    [code] = recommend([PROFILES[profile]()], CODE_HEAVY).nodes
    [chat] = recommend([PROFILES[profile]()], NO_CODE).nodes
    assert "code" not in roles_of(chat)
    assert all(r.category != "code" for r in chat.recommended)
    coder = by_role(code, "code")
    assert coder.category == "code"
    assert coder.size_gb >= by_role(default, "code").size_gb
    if profile != "workstation":  # room there for the largest coder and a large chat model
        assert coder.size_gb == max(r.size_gb for r in code.recommended)
    if profile == "laptop":  # the workstation's default coder is already the largest; the
        # mini's next coder size would crowd out everything else
        assert coder.size_gb > by_role(default, "code").size_gb
    assert "code requests were 80% of traffic over the last 7 days" in coder.reason


def test_a_heavily_requested_model_wins_a_near_tie() -> None:
    [default] = recommend([workstation()], EMPTY).nodes
    assert by_role(default, "embedding").model != "nomic-embed-text:v1.5"
    usage = UsageSummary(requests_by_model={"nomic-embed-text": 400, "llama3.1:8b": 600})
    [node] = recommend([workstation()], usage).nodes
    embed = by_role(node, "embedding")
    assert embed.model == "nomic-embed-text:v1.5"
    assert embed.requests == 400
    assert "requested 400 times" in embed.reason


def test_category_counts_are_derived_from_model_counts() -> None:
    usage = UsageSummary(
        window_days=30,
        requests_by_model={"qwen2.5-coder:7b": 700, "llama3.1": 200, "my-private-model": 100},
    )
    report = recommend([laptop()], usage)
    summary = report.generated_from
    assert summary["total_requests"] == 1000
    assert summary["requests_by_category"] == {"code": 700, "chat": 300}
    assert summary["category_share_pct"] == {"code": 70.0, "chat": 30.0}
    assert summary["uncatalogued_models"] == ["my-private-model:latest"]
    assert summary["top_models"][0] == {"model": "qwen2.5-coder:7b", "requests": 700}
    assert summary["window_days"] == 30
    assert "embedding" not in roles_of(report.nodes[0])


def test_reasoning_and_vision_traffic_add_those_roles() -> None:
    usage = UsageSummary(requests_by_category={"chat": 400, "reasoning": 300, "vision": 300})
    [node] = recommend([workstation()], usage).nodes
    assert {"reasoning", "vision"} <= roles_of(node)
    assert_fits(node)
    assert lookup(by_role(node, "reasoning").model).serves("reasoning")
    assert lookup(by_role(node, "vision").model).serves("vision")
    assert "reasoning requests were 30% of traffic" in by_role(node, "reasoning").reason


def test_embed_is_accepted_as_a_category_name() -> None:
    usage = UsageSummary(requests_by_category={"embed": 900, "chat": 100})
    report = recommend([mini()], usage)
    assert report.generated_from["requests_by_category"] == {"embedding": 900, "chat": 100}
    assert "embedding" in roles_of(report.nodes[0])


# --- what is already there -----------------------------------------------------------------------


def test_already_installed_and_loaded_flags() -> None:
    node = workstation(
        available=[("llama3.3:latest", 42.5), ("qwen2.5-coder:32b", 19.9)],
        loaded=[("llama3.3:latest", 45.2)],
    )
    usage = UsageSummary(
        requests_by_model={"llama3.3": 500, "qwen2.5-coder:32b": 300, "bge-m3": 100}
    )
    [rec] = recommend([node], usage).nodes
    assert_fits(rec)
    chat = by_role(rec, "chat")
    assert (chat.model, chat.already_installed, chat.loaded, chat.action) == (
        "llama3.3:latest",
        True,
        True,
        "keep",
    )
    assert chat.memory_gb == pytest.approx(45.2)
    assert chat.size_gb == pytest.approx(42.5)
    assert "already loaded" in chat.reason and "measured" in chat.reason
    coder = by_role(rec, "code")
    assert (coder.model, coder.already_installed, coder.loaded, coder.action) == (
        "qwen2.5-coder:32b",
        True,
        False,
        "keep",
    )
    assert "already on disk" in coder.reason
    embed = by_role(rec, "embedding")
    assert (embed.already_installed, embed.loaded) == (False, False)
    assert embed.action == f"ollama pull {embed.model}"
    assert rec.download_gb == pytest.approx(
        sum(r.size_gb for r in rec.recommended if not r.already_installed), abs=0.011
    )


def test_removable_lists_unused_models_with_the_disk_they_free() -> None:
    node = workstation(
        available=[
            ("llama2:13b", 7.4),
            ("mistral:7b", 4.1),
            ("llama3.1:latest", 4.9),
            ("phi4:14b", 9.1),
            ("qwen2.5-coder:32b", 19.9),
        ],
        loaded=[("phi4:14b", 10.6)],
    )
    usage = UsageSummary(
        window_days=14, requests_by_model={"llama3.1:8b": 5, "qwen2.5-coder:32b": 300}
    )
    [rec] = recommend([node], usage).nodes
    assert_fits(rec)
    removable = {r.model: r.size_gb for r in rec.removable}
    assert removable == {"llama2:13b": 7.4, "mistral:7b": 4.1}
    assert rec.removable_gb == pytest.approx(11.5)
    for r in rec.removable:
        assert f"frees {r.size_gb:.1f} GB" in r.reason
        assert "last 14 days" in r.reason
    recommended = {r.model for r in rec.recommended}
    assert not recommended & set(removable)
    assert any("llama3.1:latest" in n and "5 times" in n for n in rec.notes)
    assert "phi4:14b" not in recommended  # loaded, unused, yet not removable: it is in memory
    assert any(n.startswith("phi4:14b is loaded") for n in rec.notes)


def test_empty_usage_marks_nothing_removable() -> None:
    [rec] = recommend([workstation(available=[("llama2:13b", 7.4)])], EMPTY).nodes
    assert rec.removable == [] and rec.removable_gb == 0


# --- disk ----------------------------------------------------------------------------------------


def test_too_little_disk_limits_downloads_to_what_fits() -> None:
    [roomy] = recommend([mini()]).nodes
    [tight] = recommend([mini(disk_free_gb=6.0, disk_total_gb=100)]).nodes
    assert tight.disk_budget_gb == pytest.approx(4.0)  # 6 GB free minus a 2 GB reserve
    assert_fits(tight)
    assert tight.download_gb <= 4.0
    assert roomy.download_gb > 4.0
    assert any("Disk limits the mix" in n and "6.0 GB free" in n for n in tight.notes)


def test_a_full_disk_gets_no_downloads_but_keeps_what_is_installed() -> None:
    node = mini(
        disk_free_gb=1.0, disk_total_gb=100, available=[("llama3.2:3b", 2.0), ("all-minilm", 0.05)]
    )
    usage = UsageSummary(requests_by_category={"chat": 100, "embedding": 50, "code": 50})
    [rec] = recommend([node], usage).nodes
    assert_fits(rec)
    assert rec.recommended
    assert all(r.already_installed and r.action == "keep" for r in rec.recommended)
    assert rec.download_gb == 0
    assert {r.model for r in rec.recommended} <= {"llama3.2:3b", "all-minilm"}
    assert any("Disk limits the mix" in n for n in rec.notes)


def test_unknown_disk_is_said_not_guessed() -> None:
    [rec] = recommend([make_node("nodisk", 32, disk_free_gb=None)]).nodes
    assert rec.disk_free_gb is None and rec.disk_budget_gb is None
    assert rec.recommended
    assert any("Free disk unknown" in n for n in rec.notes)


# --- reasons and purity --------------------------------------------------------------------------


def test_reasons_carry_the_numbers() -> None:
    report = recommend([workstation(), laptop(), mini()], CODE_HEAVY)
    for node in report.nodes:
        for rec in node.recommended:
            assert f"{rec.memory_gb:.1f} GB" in rec.reason
            assert f"fits {node.total_recommended_gb:.1f} GB of {node.usable_gb:.1f} GB" in (
                rec.reason
            )
            assert f"({node.memory_gb:.0f} GB total)" in rec.reason
            assert f"quality {rec.quality}" in rec.reason
            assert rec.reason.endswith(".")
            if not rec.already_installed:
                assert f"download {rec.size_gb:.1f} GB" in rec.reason
    studio_chat = by_role(only(report, "studio"), "chat")
    assert "tokens/s at 800 GB/s" in studio_chat.reason
    assert "chat requests were 15% of traffic" in studio_chat.reason


def test_recommend_is_pure_and_deterministic() -> None:
    nodes = [workstation(available=[("llama2:13b", 7.4)]), laptop(), mini()]
    before = [n.model_dump() for n in nodes]
    first = recommend(nodes, CODE_HEAVY)
    second = recommend(nodes, CODE_HEAVY)
    assert first == second
    assert [n.model_dump() for n in nodes] == before
    assert [n.node_id for n in first.nodes] == ["studio", "laptop", "mini"]
    assert recommend([], EMPTY).nodes == []


def test_report_serialises_to_json() -> None:
    report = recommend([workstation(), mini()], CODE_HEAVY)
    data = report.model_dump(mode="json")
    node = data["nodes"][0]
    for key in (
        "node_id",
        "memory_gb",
        "usable_gb",
        "disk_free_gb",
        "recommended",
        "total_recommended_gb",
        "removable",
        "notes",
    ):
        assert key in node
    for key in (
        "model",
        "category",
        "size_gb",
        "quality",
        "reason",
        "already_installed",
        "loaded",
        "action",
    ):
        assert key in node["recommended"][0]
    assert RecommendationsReport.model_validate(data) == report
