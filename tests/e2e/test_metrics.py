"""``GET /metrics`` after real traffic, parsed with Prometheus' own parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from router.app import create_app
from router.config import load_settings
from tests.fleet import Fleet, running_fleet

pytestmark = pytest.mark.e2e

MODEL = "llama3.2:1b"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("metrics"), [("m1", "mini")]) as running:
        yield running


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_count_what_the_router_did(fleet: Fleet) -> None:
    url = fleet.router_url
    for stream in (False, True):
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        assert httpx.post(f"{url}/api/chat", json=body, timeout=30).status_code == 200
    missing = httpx.post(f"{url}/api/chat", json={"model": "no-such-model:1b", "messages": []})
    assert missing.status_code == 404
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    s = _samples(response.text)
    done = dict(model=MODEL, node="m1", kind="chat", status="completed")
    assert _value(s, "herd_requests_total", **done) == 2
    assert _value(s, "herd_request_duration_seconds_count", model=MODEL, kind="chat") == 2
    assert _value(s, "herd_time_to_first_token_seconds_count", model=MODEL) == 2
    assert _value(s, "herd_queue_wait_seconds_count", model=MODEL) == 2
    assert _value(s, "herd_tokens_total", model=MODEL, node="m1", direction="completion") > 0
    rejected = [k for k in s if k[0] == "herd_requests_total" and ("status", "rejected") in k[1]]
    assert rejected and s[rejected[0]] == 1
    assert _value(s, "herd_cold_loads_total", model=MODEL, node="m1") >= 1
    assert _value(s, "herd_node_state", node="m1", state="online") == 1
    assert _value(s, "herd_node_state", node="m1", state="offline") == 0
    assert _value(s, "herd_in_flight", node="m1", model=MODEL) == 0
    assert _value(s, "herd_queued", node="m1", model=MODEL) == 0
    assert _value(s, "herd_traces_dropped_total") == 0


def test_metrics_are_guarded_like_the_read_api(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path, "mdns": False, "api_key": "k"}, environ={})
    with TestClient(create_app(settings), client=("10.0.0.9", 1)) as client:
        assert client.get("/metrics").status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": "Bearer k"})
        assert allowed.status_code == 200 and "herd_requests" in allowed.text
