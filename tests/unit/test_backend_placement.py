"""Where a request for a non-Ollama backend's model can go: the kind filter, per-backend capacity
and load, a second Ollama for LLM requests, unreachable backends, and the wrong-endpoint message."""

from __future__ import annotations

from typing import Any

from router.backends import placement
from router.registry import NodeRecord
from tests.factories import heartbeat


def record(
    node_id: str, backends: list[dict[str, Any]], source_ip: str | None = None
) -> NodeRecord:
    beat = heartbeat(node_id, backends=backends)
    return NodeRecord(node_id, beat, "http://127.0.0.1:11434", 0.0, 0.0, source_ip=source_ip)


IMAGE = {
    "kind": "image",
    "adapter": "mflux",
    "url": "http://127.0.0.1:11436",
    "models": ["flux-dev"],
}
NODES = [
    (record("busy", [{**IMAGE, "busy": 3}]), "online"),
    (record("idle", [IMAGE], source_ip="10.0.0.7"), "online"),
    (record("late", [IMAGE]), "degraded"),
    (
        record(
            "gpu2",
            [
                {
                    "kind": "ollama",
                    "url": "http://127.0.0.1:11500",
                    "models": ["qwen3:8b"],
                    "capacity": 2,
                }
            ],
        ),
        "online",
    ),
    (record("down", [{**IMAGE, "reachable": False}]), "online"),
]


def test_image_requests_go_to_the_least_loaded_reachable_image_backend() -> None:
    found = placement.backend_choices(NODES, "flux-dev", "image", {}, set())
    assert [c.node_id for c in found] == ["idle", "late", "busy"]
    assert found[0].url == "http://10.0.0.7:11436", "a loopback URL becomes the heartbeat's address"
    assert found[0].estimate_s < found[1].estimate_s < found[2].estimate_s
    assert found[2].load == 3.0, "three jobs ahead on a one-at-a-time backend"
    queued = placement.backend_choices(
        NODES, "flux-dev", "image", {("idle", "flux-dev:latest"): (2, 1, 0.0)}, set()
    )
    assert queued[0].node_id == "late", "the router's own queue counts as load"
    assert placement.backend_choices(NODES, "flux-dev", "chat", {}, set()) == []
    assert [
        c.node_id for c in placement.backend_choices(NODES, "flux-dev", "image", {}, {"idle"})
    ] == ["late", "busy"]


def test_a_second_ollama_serves_llm_requests() -> None:
    [choice] = placement.backend_choices(NODES, "qwen3:8b", "chat", {}, set())
    assert (choice.node_id, choice.kind, choice.capacity) == ("gpu2", "ollama", 2)
    assert placement.backend_choices(NODES, "qwen3:8b", "image", {}, set()) == []


def test_kinds_and_the_wrong_endpoint_message() -> None:
    records = [r for r, _ in NODES]
    assert placement.kinds_serving(records, "flux-dev") == {"image"}
    assert placement.kinds_serving(records, "qwen3:8b") == {"llm"}
    assert "POST /api/generate-image" in str(placement.wrong_endpoint({"image"}, "chat"))
    assert "POST /api/chat" in str(placement.wrong_endpoint({"llm"}, "transcribe"))
    assert placement.wrong_endpoint({"image"}, "image") is None
    assert placement.wrong_endpoint(set(), "chat") is None
    assert "down's mflux image backend is unreachable" in placement.explain(
        records, "flux-dev", "image"
    )


def test_a_node_measured_faster_wins_over_the_fixed_prior() -> None:
    from router.latency import SpeedHistory

    nodes = [(record("a", [IMAGE]), "online"), (record("b", [IMAGE]), "online")]
    before = placement.backend_choices(nodes, "flux-dev", "image", {}, set())
    assert [c.node_id for c in before] == ["a", "b"], "equal priors: the name breaks the tie"
    assert before[0].estimate_s == placement.JOB_SECONDS["image"]
    history = SpeedHistory()
    for seconds in (30.0, 34.0, 31.0):
        history.observe_job("a", "flux-dev:latest", seconds)
    history.observe_job("b", "flux-dev:latest", 6.0)
    history.observe_job("b", "flux-dev:latest", 0.0)  # nothing to learn from
    assert history.job_seconds() == {("a", "flux-dev:latest"): 31.0, ("b", "flux-dev:latest"): 6.0}
    after = placement.backend_choices(nodes, "flux-dev", "image", {}, set(), history.job_seconds())
    assert [(c.node_id, c.estimate_s) for c in after] == [("b", 6.0), ("a", 31.0)]
    busy_b = placement.backend_choices(
        nodes, "flux-dev", "image", {("b", "flux-dev:latest"): (5, 1, 0.0)}, set(),
        history.job_seconds(),
    )  # fmt: skip
    assert [c.node_id for c in busy_b] == ["a", "b"], "six jobs ahead outweigh the faster node"


def test_an_ollama_image_model_in_memory_is_not_a_language_model() -> None:
    beat = heartbeat(
        "o",
        loaded=[("x/z-image-turbo:latest", 12.5)],
        available=[],
        backends=[{**IMAGE, "adapter": "ollama", "url": "http://127.0.0.1:11434",
                   "models": ["x/z-image-turbo:latest"]}],
    )  # fmt: skip
    node = NodeRecord("o", beat, "http://127.0.0.1:11434", 0.0, 0.0)
    assert placement.kinds_serving([node], "x/z-image-turbo") == {"image"}
    assert "/api/generate-image" in str(placement.wrong_endpoint({"image"}, "chat"))
    [choice] = placement.backend_choices([(node, "online")], "x/z-image-turbo", "image", {}, set())
    assert (choice.kind, choice.adapter, choice.url) == (
        "image",
        "ollama",
        "http://127.0.0.1:11434",
    )
    nodes = [(node, "online")]
    [native] = placement.backend_choices(nodes, "x/z-image-turbo", "generate", {}, set())
    assert native == choice, "Ollama's own /api/generate reaches its image models too"
    assert placement.backend_choices(nodes, "x/z-image-turbo", "chat", {}, set()) == []
    assert placement.backend_choices(NODES, "flux-dev", "generate", {}, set()) == [], "not mflux"
