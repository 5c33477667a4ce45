"""VRAM-aware fallback: a loaded model of the same category answers when the one asked for
cannot be loaded, and says so; it never crosses categories and can be switched off.

One laptop simulator limited to 5.8 GiB (6.2 GB): llama3.1:8b (the router estimates ~6.6 GB) and
qwen2.5-coder:7b (~6.3 GB) are on its disk but can never load there; mistral:7b (chat) is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("vram")
    with running_fleet(
        data_dir, [("laptop", "laptop")], node_flags=["--sim-memory-gb", "5.8"]
    ) as running:
        httpx.post(
            f"{running.sim('laptop').url}/api/generate", json={"model": "mistral:7b"}, timeout=30
        ).raise_for_status()
        running.wait_loaded("laptop", "mistral:7b")
        yield running


def chat(fleet: Fleet, model: str) -> httpx.Response:
    return httpx.post(
        f"{fleet.router_url}/api/chat",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False},
        timeout=30,
    )


def test_a_loaded_model_of_the_same_category_answers_and_says_so(fleet: Fleet) -> None:
    response = chat(fleet, "llama3.1:8b")
    assert response.status_code == 200
    assert response.headers["X-Fleet-Fallback"] == "mistral:7b"
    assert response.json()["model"] == "mistral:7b"
    served = [r for r in fleet.sim("laptop").records() if r["path"] == "/api/chat"]
    assert [r["model"] for r in served] == ["mistral:7b"]
    trace = wait_until(
        lambda: httpx.get(
            f"{fleet.router_url}/dashboard/api/traces",
            params={"status": "completed", "model": "mistral:7b"},
        ).json()["traces"],
        what="the fallback's trace",
    )[0]
    assert trace["original_model"] == "llama3.1:8b" and trace["fallback_used"] is True
    assert trace["fallback_reason"] == "vram_fallback"


def test_it_never_crosses_categories(fleet: Fleet) -> None:
    response = chat(fleet, "qwen2.5-coder:7b")  # a code model: mistral is no stand-in
    assert response.status_code == 503
    assert "qwen2.5-coder:7b" in response.json()["error"]
    assert not [
        r
        for r in fleet.sim("laptop").records()
        if r["model"] == "qwen2.5-coder:7b" and r["path"] != "/api/show"  # the agent's own look-up
    ]


def test_it_can_be_switched_off(fleet: Fleet) -> None:
    settings = f"{fleet.router_url}/dashboard/api/settings"
    assert httpx.post(settings, json={"vram_fallback": False}).status_code == 200
    try:
        response = chat(fleet, "llama3.1:8b")
        assert response.status_code == 503
        assert "too_large" in response.json()["error"]
    finally:
        httpx.post(settings, json={"vram_fallback": True})
