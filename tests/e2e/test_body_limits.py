"""An oversize body is refused in the client's format, before it is read in full, and traced."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from router.app import create_app
from router.config import load_settings


def test_oversize_bodies_get_413_in_each_format_and_a_trace(tmp_path: Path) -> None:
    settings = load_settings(
        {"data_dir": tmp_path, "mdns": False, "max_body_bytes": 2048}, environ={}
    )
    big = "x" * 5000
    with TestClient(create_app(settings), client=("127.0.0.1", 5000)) as client:
        ollama = client.post(
            "/api/chat", json={"model": "m", "messages": [{"role": "user", "content": big}]}
        )
        assert ollama.status_code == 413
        assert "2048" in ollama.json()["error"]
        openai = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": big}]},
        )
        assert openai.status_code == 413
        assert openai.json()["error"]["type"] == "invalid_request_error"
        small = client.post("/api/chat", json={"model": "m", "messages": []})
        assert small.status_code != 413
        store = client.app.state.parts.store  # type: ignore[attr-defined]
        client.portal.call(store.flush)  # type: ignore[union-attr]
        rows = client.get("/dashboard/api/traces", params={"status": "rejected"}).json()
        assert sum("2048" in (t["error_message"] or "") for t in rows["traces"]) == 2
