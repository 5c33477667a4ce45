"""A full queue answers 503 with Retry-After, in each client's format, and nothing is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fleet import running_fleet

pytestmark = pytest.mark.e2e


def test_a_full_queue_is_a_503_with_retry_after(tmp_path: Path) -> None:
    with running_fleet(tmp_path, [("mini", "mini")], router_flags=["--max-queue", "1"]) as fleet:
        # The mini runs one request at a time (OLLAMA_NUM_PARALLEL=1); each takes ~0.5 s.
        fleet.sim("mini").fault(kind="slow", delay_s=0.5, count=-1)

        def ask(i: int) -> httpx.Response:
            return httpx.post(
                f"{fleet.router_url}/api/chat",
                json={
                    "model": "llama3.2:1b",
                    "messages": [{"role": "user", "content": f"q{i}"}],
                    "stream": False,
                },
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=5) as pool:
            responses = list(pool.map(ask, range(5)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 2  # one running, one waiting
        refused = [r for r in responses if r.status_code == 503]
        assert refused, statuses
        for response in refused:
            assert int(response.headers["Retry-After"]) >= 1
            assert "full" in response.json()["error"]
        served = [r for r in fleet.sim("mini").records() if r["path"] == "/api/chat"]
        assert len(served) == statuses.count(200)
        assert all(r["outcome"] == "completed" for r in served)
