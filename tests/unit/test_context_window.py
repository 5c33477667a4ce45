"""Context protection: a prompt runs in a window that holds it, with the same-family fallback
when the client allowed it, and a clear refusal when it cannot fit the model at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from herd_contract.heartbeat import Heartbeat
from router.config import load_settings
from router.errors import BadRequest
from router.parts import AppParts, build_parts
from router.pipeline.context_window import (
    apply_num_ctx,
    max_context,
    same_family_loaded,
    strip_smaller_num_ctx,
    too_long,
)
from router.pipeline.request import InferenceRequest
from tests.factories import heartbeat

LONG_PROMPT = "word " * 8000  # about 10 000 tokens by the router's estimate


def _beat(node: str, loaded: dict[str, int], available: list[str], max_ctx: int = 0) -> Heartbeat:
    beat = heartbeat(
        node,
        loaded=[(name, 2.0) for name in loaded],
        available=[(name, 2.0) for name in available],
        memory_gb=64,
        available_gb=40,
        url=f"http://127.0.0.1:{1 if node == 'a' else 2}",
    )
    for entry in beat.ollama.models_loaded:
        entry.context_length = loaded[entry.name]
    for entry in beat.ollama.models_available:
        entry.details.family = "llama"
        entry.context_length = max_ctx
    return beat


@pytest.fixture
def parts(tmp_path: Path) -> AppParts:
    built = build_parts(load_settings({"data_dir": tmp_path, "mdns": False}, environ={}))
    built.registry.apply(_beat("a", {"llama3.2:3b": 4096}, ["llama3.2:3b"]))
    built.registry.apply(_beat("b", {"llama3.2:1b": 32768}, ["llama3.2:1b"]))
    return built


def _request(fallbacks: list[str] | None = None) -> InferenceRequest:
    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": LONG_PROMPT}]}
    return InferenceRequest("chat", "llama3.2:3b", body, False, fallback_models=fallbacks or [])


def test_a_smaller_num_ctx_is_dropped_and_a_larger_one_asked_for() -> None:
    body = {"options": {"num_ctx": 2048, "temperature": 0}}
    assert strip_smaller_num_ctx(body, 8192) and body["options"] == {"temperature": 0}
    assert not strip_smaller_num_ctx({"options": {"num_ctx": 8192}}, 4096)
    apply_num_ctx(body, 16384)
    assert body["options"] == {"temperature": 0, "num_ctx": 16384}


def test_a_prompt_longer_than_the_model_can_take_is_refused_with_the_numbers() -> None:
    assert too_long("m", 9000, 0) is None  # the node did not say: never refuse on a guess
    assert too_long("m", 9000, 16384) is None
    why = too_long("m", 9000, 8192)
    assert why is not None and "9000" in why and "8192" in why


def test_same_family_models_loaded_elsewhere_are_the_candidates(parts: AppParts) -> None:
    records = [record for record, _ in parts.registry.routable()]
    assert same_family_loaded(records, "llama3.2:3b") == ["llama3.2:1b"]
    assert max_context(records, "llama3.2:3b") == 0


def test_with_fallbacks_allowed_a_same_family_model_whose_window_holds_the_prompt_serves(
    parts: AppParts,
) -> None:
    # Before: only a smaller num_ctx was stripped; the prompt went to the 4096-token window.
    request = _request(fallbacks=["qwen3:8b"])
    ranking = parts.ranker.rank("llama3.2:3b", request, set())
    assert ranking.choices[0].hot and ranking.choices[0].num_ctx is not None
    found = parts.pipeline.substitutes.substitute("llama3.2:3b", request, ranking)
    assert found is not None
    stand_in, stand_in_ranking, why = found
    assert (stand_in, why) == ("llama3.2:1b", "context_window")
    assert stand_in_ranking.choices[0].node_id == "b"


def test_without_permission_there_is_no_substitute(parts: AppParts) -> None:
    request = _request()
    ranking = parts.ranker.rank("llama3.2:3b", request, set())
    assert parts.pipeline.substitutes.substitute("llama3.2:3b", request, ranking) is None
    parts.settings.toggles = parts.settings.toggles.model_copy(update={"context_fallback": True})
    found = parts.pipeline.substitutes.substitute("llama3.2:3b", request, ranking)
    assert found is not None and found[0] == "llama3.2:1b"


def test_a_prompt_over_the_models_maximum_is_refused_before_routing(tmp_path: Path) -> None:
    built = build_parts(load_settings({"data_dir": tmp_path, "mdns": False}, environ={}))
    built.registry.apply(_beat("a", {"llama3.2:3b": 4096}, ["llama3.2:3b"], max_ctx=8192))
    request = _request()
    ranking = built.ranker.rank("llama3.2:3b", request, set())
    with pytest.raises(BadRequest, match="8192-token context"):
        built.pipeline.substitutes.refuse_too_long("llama3.2:3b", request, ranking)
