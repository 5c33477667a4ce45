"""The router's edges, in-process: unknown routes and methods in the client's format, a request id
on every response, and one OpenAI error shape for every error.

The app runs its full lifespan (real SQLite store in a temporary directory); no nodes are needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from router.api.access import route
from router.app import create_app
from router.config import load_settings
from router.parts import build_parts
from tests.procs import wait_until

LAN = ("192.168.1.50", 40000)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = load_settings(
        {"data_dir": tmp_path_factory.mktemp("edges"), "mdns": False}, environ={}
    )
    app = create_app(settings)

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.append(route("/api/broken", broken, methods=["GET"], access="use"))
    with TestClient(app, client=LAN, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/dashboard/api/nope"])
def test_unknown_ollama_and_herd_paths_answer_an_ollama_error(
    app_client: TestClient, path: str
) -> None:
    # Before: text/plain "Not Found" without X-Request-Id.
    response = app_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert path in response.json()["error"]
    assert response.headers["X-Request-Id"]


def test_unknown_v1_paths_answer_an_openai_error_object(app_client: TestClient) -> None:
    response = app_client.post("/v1/nope", json={})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "not_found_error" and "/v1/nope" in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["X-Request-Id"]


def test_a_wrong_method_is_a_405_in_the_client_format(app_client: TestClient) -> None:
    ollama = app_client.get("/api/chat")
    assert ollama.status_code == 405 and "POST" in ollama.headers["allow"]
    assert "GET" in ollama.json()["error"]
    openai = app_client.get("/v1/chat/completions")
    assert openai.status_code == 405
    assert openai.json()["error"]["type"] == "invalid_request_error"
    assert openai.headers["X-Request-Id"]


def test_a_sane_incoming_request_id_is_kept_and_a_strange_one_replaced(
    app_client: TestClient,
) -> None:
    kept = app_client.get("/fleet/status", headers={"X-Request-Id": "trace-42.a:b"})
    assert kept.headers["X-Request-Id"] == "trace-42.a:b"
    for strange in ("x" * 65, "has space", "semi;colon"):
        replaced = app_client.get("/fleet/status", headers={"X-Request-Id": strange})
        assert replaced.headers["X-Request-Id"] not in ("", strange)
    assert (
        app_client.get("/fleet/status").headers["X-Request-Id"]
        != app_client.get("/fleet/status").headers["X-Request-Id"]
    )


def test_refusals_and_bad_requests_carry_the_request_id(app_client: TestClient) -> None:
    refused = app_client.post("/api/pull", json={"model": "x"}, headers={"X-Request-Id": "r1"})
    assert refused.status_code == 403 and refused.headers["X-Request-Id"] == "r1"
    bad = app_client.post("/api/chat", json={"messages": []}, headers={"X-Request-Id": "r2"})
    assert bad.status_code == 400 and bad.headers["X-Request-Id"] == "r2"


def test_an_unexpected_error_is_a_500_in_the_client_format_with_the_request_id(
    app_client: TestClient,
) -> None:
    response = app_client.get("/api/broken", headers={"X-Request-Id": "bug-1"})
    assert response.status_code == 500
    assert "internal error" in response.json()["error"]
    assert response.headers["X-Request-Id"] == "bug-1"


def test_openai_errors_name_the_offending_param_over_http(app_client: TestClient) -> None:
    # Before: the HTTP renderer dropped `param` that the stream renderer kept.
    response = app_client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": 5},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "stop" and error["type"] == "invalid_request_error"


def test_a_failing_background_task_shows_in_health_until_it_recovers(tmp_path: Path) -> None:
    # Before: the housekeeping loop had no error handling; one failure stopped the reaper for
    # good and health said nothing.
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    parts = build_parts(settings)
    reap = parts.queues.reap
    broken = [True]

    def flaky_reap(now: float, timeout_s: float) -> Any:
        if broken[0]:
            raise RuntimeError("reaper bug")
        return reap(now, timeout_s)

    parts.queues.reap = flaky_reap  # type: ignore[method-assign]
    with TestClient(create_app(settings, parts), client=("127.0.0.1", 5000)) as client:

        def reaper_findings() -> list[dict[str, Any]]:
            checks = client.get("/dashboard/api/health").json()["checks"]
            return [c for c in checks if c["check_id"] == "background_tasks"]

        found = wait_until(reaper_findings, timeout=20, what="a failing reaper in health")
        assert found[0]["data"]["task"] == "reaper"
        assert "reaper bug" in found[0]["data"]["last_error"]
        broken[0] = False
        wait_until(lambda: not reaper_findings(), timeout=20, what="the reaper to recover")
