"""A node whose job gateway cannot listen reports the image and speech backends behind it as
unreachable, saying why, and logs it; a gateway that listens leaves them reachable."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import httpx
import pytest

from node.backends.inventory import Backends
from node.backends.openai_images import OpenAIImages
from node.cli import start_gateway
from node.config import load_node_settings
from tests.procs import free_port


def backends_with_an_image_server(tmp_path: Path) -> Backends:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": "sdxl"}]})

    backends = Backends([], tmp_path)
    backends.images.append(
        OpenAIImages("http://images.test", models=["sdxl"], transport=httpx.MockTransport(answer))
    )
    return backends


async def test_a_gateway_that_cannot_listen_makes_its_backends_unreachable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    settings = load_node_settings(
        {"node_id": "n", "gateway_host": "127.0.0.1", "gateway_port": port}, environ={}
    )
    backends = backends_with_an_image_server(tmp_path)
    try:
        with caplog.at_level(logging.ERROR, logger="herd.node.cli"):
            gateway = await start_gateway(backends, settings)
        [report] = await backends.reports(settings.gateway_url)
    finally:
        taken.close()
        await backends.aclose()
    assert gateway is not None and gateway.error, "binding failed and the reason is kept"
    assert report.models == ["sdxl"] and report.reachable is False
    assert f"cannot listen on 127.0.0.1:{port}" in report.detail
    assert any("reported unreachable" in r.getMessage() for r in caplog.records)


async def test_a_listening_gateway_leaves_its_backends_reachable(tmp_path: Path) -> None:
    settings = load_node_settings(
        {"node_id": "n", "gateway_host": "127.0.0.1", "gateway_port": free_port()}, environ={}
    )
    backends = backends_with_an_image_server(tmp_path)
    gateway = await start_gateway(backends, settings)
    try:
        [report] = await backends.reports(settings.gateway_url)
        assert gateway is not None and not gateway.error
        assert (report.reachable, report.url) == (True, settings.gateway_url)
    finally:
        if gateway is not None:
            await gateway.stop()
        await backends.aclose()
