"""When busy models hold the memory a request needs, it waits on that node as Ollama would.

A laptop simulator limited to 10 GiB: llama3.1:8b is loaded and busy with a slow request, and
qwen2.5-coder:7b needs memory that only evicting the busy model frees. The router must neither
refuse with 503 nor hand it to another model: it sends it to the laptop, which runs it once the
first request is done.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.fleet import running_fleet
from tests.procs import wait_until

pytestmark = pytest.mark.e2e


def test_a_request_blocked_by_busy_models_waits_instead_of_failing(tmp_path: Path) -> None:
    with running_fleet(
        tmp_path, [("laptop", "laptop")], node_flags=["--sim-memory-gb", "10"]
    ) as fleet:
        url, laptop = fleet.router_url, fleet.sim("laptop")
        # --sim-memory-gb counts binary gigabytes, as a "10 GB" device has: 10 GiB is 10.737 GB.
        assert fleet.node_status("laptop")["memory"]["total_gb"] == 10.737
        laptop.fault(kind="slow", delay_s=0.0, chunk_delay_s=0.1, model="llama3.1:8b")
        first: dict = {}

        def busy() -> None:
            with httpx.stream(
                "POST",
                f"{url}/api/chat",
                json={
                    "model": "llama3.1:8b",
                    "messages": [{"role": "user", "content": "long"}],
                    "options": {"num_predict": 20},
                },
                timeout=60,
            ) as response:
                first["status"] = response.status_code
                first["lines"] = list(response.iter_lines())

        holder = threading.Thread(target=busy)
        holder.start()
        fleet.wait_loaded("laptop", "llama3.1:8b")
        wait_until(lambda: fleet.status()["fleet"]["requests_active"] == 1, what="8b busy")
        second = httpx.post(
            f"{url}/api/chat",
            json={
                "model": "qwen2.5-coder:7b",
                "messages": [{"role": "user", "content": "x"}],
                "stream": False,
            },
            timeout=60,
        )
        holder.join(timeout=60)
        assert first["status"] == 200 and '"done":true' in first["lines"][-1].replace(" ", "")
        assert second.status_code == 200, second.text
        assert second.headers["X-Fleet-Node"] == "laptop"
        assert "X-Fleet-Fallback" not in second.headers
        assert second.json()["model"] == "qwen2.5-coder:7b"
        assert laptop.state()["evictions"] >= 1
        records = {r["model"]: r for r in laptop.records() if r["path"] == "/api/chat"}
        # It reached the laptop while the 8b was still busy; it ran once the 8b could be evicted.
        assert records["qwen2.5-coder:7b"]["started_at"] < records["llama3.1:8b"]["finished_at"]
        assert records["qwen2.5-coder:7b"]["cold_load"] is True
        trace = wait_until(
            lambda: httpx.get(
                f"{url}/dashboard/api/traces", params={"model": "qwen2.5-coder:7b"}
            ).json()["traces"],
            what="the waiting request's trace",
        )[0]
        assert trace["status"] == "completed"
        # Its estimate counts the wait for the busy 8b, then the load: memory fit in seconds.
        assert trace["scores_breakdown"]["memory_fit"] > 0 and trace["score"] > 0
