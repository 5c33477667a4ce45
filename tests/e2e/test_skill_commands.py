"""Every command in skills/ollama-herd/SKILL.md, run against a demo fleet on loopback.

The fleet is a real router and one simulated node (``herd-node --simulate``), so the pull and the
delete only ever touch the simulator. Each ``bash`` block is followed in the document by a ``json``
block showing the answer's shape; the test runs the command (router URL, data dir and NODE_ID
substituted) and checks that the answer is JSON with at least the documented keys.
"""

from __future__ import annotations

import json
import re
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
from tests.procs import ROOT, free_port, get_json, wait_until

pytestmark = pytest.mark.e2e

SKILL = ROOT / "skills" / "ollama-herd" / "SKILL.md"
BLOCK = re.compile(r"```bash\n(.*?)```\s*```json\n(.*?)```", re.S)
NODE = "skill-ws"


def documented() -> list[tuple[str, Any]]:
    text = SKILL.read_text()
    return [(cmd.strip(), json.loads(shape)) for cmd, shape in BLOCK.findall(text)]


CLEAN = {"HERD_API_KEY": "", "HERD_ADMIN_KEY": "", "HERD_FLEET_TOKEN": ""}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("skill")
    media = ["--sim-image", "--sim-speech", "--no-discover-backends", "--gateway-host", "127.0.0.1"]
    gateway = ["--gateway-port", str(free_port()), "--data-dir", str(data_dir / "node")]
    with running_fleet(
        data_dir,
        [(NODE, "workstation")],
        time_scale=0.01,
        env=CLEAN,
        node_flags=[*media, *gateway],
    ) as running:
        write_recording(data_dir / "recording.wav")
        # The trace database must hold a routed request before the sqlite3 commands read it.
        reply = httpx.post(
            f"{running.router_url}/api/generate",
            json={"model": "llama3.2:3b", "prompt": "warm up", "stream": False},
            timeout=30,
        )
        assert reply.status_code == 200
        wait_until(
            lambda: get_json(f"{running.router_url}/dashboard/api/traces?limit=1")["traces"],
            what="the first trace stored",
        )
        yield running


def write_recording(path: Path) -> None:
    """Three seconds of a quiet tone: the audio file the transcription recipe uploads."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        writer.writeframes(b"\x00\x08" * 48_000)


def run(command: str, fleet: Fleet) -> subprocess.CompletedProcess[str]:
    command = (
        command.replace("http://localhost:11435", fleet.router_url)
        .replace("~/.fleet-manager", str(fleet.data_dir))
        .replace("NODE_ID", NODE)
        .replace("recording.wav", str(fleet.data_dir / "recording.wav"))
    )
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )


def body_of(output: str) -> tuple[dict[str, str], str]:
    """Split ``curl -i`` output into lower-cased headers and the body."""
    if not output.startswith("HTTP/"):
        return {}, output
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    headers = {}
    for line in head.splitlines()[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return headers, body


def assert_shape(actual: Any, shape: Any, where: str) -> None:
    if isinstance(shape, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r:.200}"
        missing = set(shape) - set(actual)
        assert not missing, f"{where}: missing keys {sorted(missing)} in {sorted(actual)}"
        for key, sub in shape.items():
            if isinstance(sub, dict | list):
                assert_shape(actual[key], sub, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r:.200}"
        if shape and actual and isinstance(shape[0], dict):
            assert_shape(actual[0], shape[0], f"{where}[0]")


COMMANDS = documented()


def test_the_skill_documents_every_operation() -> None:
    text = SKILL.read_text()
    assert text.startswith("---\nname: ollama-herd\ndescription: ")
    joined = "\n".join(cmd for cmd, _ in COMMANDS)
    for needed in (
        "/fleet/status",
        "/dashboard/api/health",
        "/api/tags",
        "/api/ps",
        "/api/pull",
        "/api/delete",
        "/dashboard/api/traces",
        "sqlite3",
        "/api/chat",
        "/v1/chat/completions",
        "/api/generate-image",
        "/api/transcribe",
    ):
        assert needed in joined, needed
    assert "herd-node --router-url http://ROUTER:11435" in text
    assert "logs/herd.jsonl" in text


@pytest.mark.parametrize(
    ("command", "shape"), COMMANDS, ids=[c.split("\n")[0][:70] for c, _ in COMMANDS]
)
def test_command_answers_the_documented_json(command: str, shape: Any, fleet: Fleet) -> None:
    done = run(command, fleet)
    assert done.returncode == 0, f"{command}\nexit {done.returncode}: {done.stderr}"
    headers, body = body_of(done.stdout)
    if "-si" in command:
        assert headers.get("x-fleet-node") == NODE, headers
    if command.startswith("sqlite3"):
        lines = body.strip()
        assert lines, f"sqlite3 printed nothing for: {command}"
    try:
        actual = json.loads(body)
    except ValueError:
        pytest.fail(f"not JSON from {command}:\n{body[:500]}")
    assert_shape(actual, shape, command.split("\n")[0])
    if "/api/pull" in command:
        names = {m["name"] for m in get_json(f"{fleet.sim(NODE).url}/api/tags")["models"]}
        assert "qwen3:0.6b" in names
    if "/api/delete" in command:
        names = {m["name"] for m in get_json(f"{fleet.sim(NODE).url}/api/tags")["models"]}
        assert "qwen3:0.6b" not in names
