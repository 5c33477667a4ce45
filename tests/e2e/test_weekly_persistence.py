"""The learned weekly patterns are saved on shutdown and read back at the next start."""

from __future__ import annotations

import json
import time
from pathlib import Path

from starlette.testclient import TestClient

from router.app import create_app
from router.config import load_settings
from router.weekly import MIN_SAMPLES
from tests.factories import heartbeat


def test_weekly_patterns_survive_a_restart(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    beat = heartbeat("studio", cpu_pct=65.0).model_dump(mode="json")
    before = time.time()  # the heartbeats land in this hour's slot or, at worst, the next one
    with TestClient(create_app(settings), client=("127.0.0.1", 5000)) as client:
        for _ in range(MIN_SAMPLES):
            assert client.post("/fleet/heartbeat", json=beat).status_code == 200
    saved = json.loads((tmp_path / "weekly.json").read_text())
    assert sum(saved["studio"]["samples"]) == MIN_SAMPLES

    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 5000)):
        weekly = app.state.parts.registry.weekly
        assert weekly.expected_next_hour("studio", before) == 65.0


def test_a_damaged_pattern_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "weekly.json").write_text("{not json")
    settings = load_settings({"data_dir": tmp_path, "mdns": False}, environ={})
    with TestClient(create_app(settings), client=("127.0.0.1", 5000)) as client:
        assert client.get("/fleet/status").status_code == 200
    assert json.loads((tmp_path / "weekly.json").read_text()) == {}
