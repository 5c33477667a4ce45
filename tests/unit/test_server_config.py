"""The router's uvicorn settings: client connections outlive an agent's pause between turns."""

from __future__ import annotations

from pathlib import Path

from router.config import load_settings
from router.server import server_config


async def _app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
    return None


def test_idle_client_connections_stay_open_past_a_pause_between_turns() -> None:
    settings = load_settings({"data_dir": Path("/nonexistent"), "port": 11999}, environ={})
    config = server_config(_app, settings)
    assert config.timeout_keep_alive >= 60  # uvicorn's own default (5 s) dropped pooled clients
    assert config.port == 11999
    assert config.lifespan == "on"
    assert config.timeout_graceful_shutdown is not None
    assert config.timeout_graceful_shutdown >= settings.shutdown_grace_s
