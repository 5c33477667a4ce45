"""The simulator started in-process (as ``herd demo`` and ``herd-node --simulate`` do)."""

from __future__ import annotations

import httpx
import pytest

from node.sim import SimConfig, start_in_thread

pytestmark = pytest.mark.e2e


def test_start_in_thread_serves_on_a_free_port_and_stops() -> None:
    server = start_in_thread(SimConfig(profile="mini", time_scale=0, models=["llama3.2:1b"]))
    try:
        assert server.port != 0
        tags = httpx.get(server.url + "/api/tags").json()
        assert [m["name"] for m in tags["models"]] == ["llama3.2:1b"]
        reply = httpx.post(
            server.url + "/api/generate",
            json={"model": "llama3.2:1b", "prompt": "hi", "stream": False},
        ).json()
        assert reply["done"] is True and reply["eval_count"] > 0
        assert server.sim.engine.counters.loads == {"llama3.2:1b": 1}
        assert server.sim.state()["profile"] == "mini"
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", timeout=2)
