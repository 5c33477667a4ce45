"""The terminal client against a real router and two simulated nodes.

Most commands run in-process through ``herd_cli.main`` (real HTTP to the router, output captured);
the ones whose behaviour depends on the process itself (no terminal, Ctrl-C, exit codes of the
``herd`` command) run as real ``herd`` processes.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.processes import launch_router
from herd_cli import main as cli_main
from herd_cli.render import human_bytes
from herd_cli.terminal import Terminal
from tests.fleet import Fleet, running_fleet
from tests.procs import free_port, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e
MODEL = "llama3.2:3b"
CHAT: dict[str, str] = {}
"""Where the fixture's chat went and its request id."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("cli-fleet")
    with running_fleet(data_dir, [("cli-laptop", "laptop"), ("cli-mini", "mini")]) as fleet:
        reply = httpx.post(
            f"{fleet.router_url}/api/chat",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False},
            timeout=30,
        )
        reply.raise_for_status()
        CHAT["node"] = reply.headers["x-fleet-node"]
        CHAT["request_id"] = reply.headers["x-request-id"]
        wait_until(lambda: _loaded(fleet, MODEL), timeout=10, what="the model shows as loaded")
        yield fleet


def _loaded(fleet: Fleet, model: str) -> set[str]:
    return {
        n["node_id"]
        for n in fleet.status()["nodes"]
        if any(m["name"] == model for m in n["ollama"]["models_loaded"])
    }


def run(fleet: Fleet, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli_main([*argv, "--router-url", fleet.router_url], term=Terminal(out))
    return code, out.getvalue()


def herd(
    url: str, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *argv, "--router-url", url],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**_clean_env(), **(env or {})},
    )


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("HERD_")}


def test_status_shows_every_node_its_memory_and_what_it_holds(fleet: Fleet) -> None:
    code, out = run(fleet, "status")
    assert code == 0
    status = fleet.status()
    for node in status["nodes"]:
        line = next(line for line in out.splitlines() if line.startswith(node["node_id"] + " "))
        assert "online" in line
        assert f"/{node['memory']['total_gb']:.0f} GB" in line
    assert f"{CHAT['node']}: {MODEL}" in out
    health = httpx.get(f"{fleet.router_url}/dashboard/api/health", timeout=10).json()
    assert f"Health: {health['score']}/100" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_json_prints_the_api_answer_unchanged(fleet: Fleet) -> None:
    code, out = run(fleet, "status", "--json")
    assert code == 0
    printed = json.loads(out)
    assert printed.keys() == fleet.status().keys()
    assert {n["node_id"] for n in printed["nodes"]} == {"cli-laptop", "cli-mini"}
    code, out = run(fleet, "traces", "--json", "-n", "5")
    assert code == 0 and "traces" in json.loads(out)


def test_ps_shows_a_model_once_per_node_holding_it(fleet: Fleet) -> None:
    for node in fleet.nodes.values():  # load it on both nodes, directly on each simulator
        httpx.post(f"{node.url}/api/generate", json={"model": MODEL}, timeout=30).raise_for_status()
    wait_until(lambda: len(_loaded(fleet, MODEL)) == 2, timeout=10, what="loaded on both")
    code, out = run(fleet, "ps")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert {row[1] for row in rows if row[0] == MODEL} == {"cli-laptop", "cli-mini"}
    assert out.splitlines()[0].split() == ["NAME", "NODE", "ID", "SIZE", "CONTEXT", "UNTIL"]


def test_list_shows_every_model_on_every_node_with_its_size(fleet: Fleet) -> None:
    code, out = run(fleet, "ls")
    assert code == 0
    rows = {(r[0], r[1]) for r in (line.split() for line in out.splitlines()[1:])}
    for node in fleet.nodes.values():
        for model in node.models():
            assert (model, node.node_id) in rows
    mini_model = next(iter(fleet.nodes["cli-mini"].models()))
    size = next(
        m["size"]
        for m in httpx.get(f"{fleet.nodes['cli-mini'].url}/api/tags", timeout=5).json()["models"]
        if m["name"] == mini_model
    )
    row = next(
        line.split() for line in out.splitlines() if line.split()[:2] == [mini_model, "cli-mini"]
    )
    assert " ".join(row[3:5]) == human_bytes(size)


def test_traces_show_the_request_and_filter(fleet: Fleet) -> None:
    code, out = run(fleet, "traces", "-n", "50")
    assert code == 0
    assert CHAT["request_id"] in out
    code, out = run(fleet, "traces", "--status", "failed")
    assert code == 0 and CHAT["request_id"] not in out
    code, _ = run(fleet, "traces", "--status", "nonsense")
    assert code == 1


def test_health_lists_every_finding_with_its_fix(fleet: Fleet) -> None:
    report = httpx.get(f"{fleet.router_url}/dashboard/api/health", timeout=10).json()
    code, out = run(fleet, "health")
    assert code == 0
    flat = " ".join(out.split())
    for check in report["checks"]:
        assert check["title"] in flat
        if check.get("fix"):
            assert " ".join(check["fix"].split()) in flat


def test_top_shows_the_queue_of_each_node_and_model(fleet: Fleet) -> None:
    code, out = run(fleet, "top", "--count", "1")
    assert code == 0
    queues = fleet.status()["queues"]
    key = f"{CHAT['node']}:{MODEL}"
    row = next(line.split() for line in out.splitlines() if line.startswith(f"{CHAT['node']} "))
    assert row[:2] == key.split(":", 1)
    assert row[5] == str(queues[key]["done"])


def test_watch_refreshes_a_bounded_number_of_times(fleet: Fleet) -> None:
    code, out = run(fleet, "status", "--watch", "--count", "2", "--interval", "0.05")
    assert code == 0
    assert out.count("Fleet: ") == 2


def test_rm_needs_a_yes_and_then_deletes(fleet: Fleet) -> None:
    node = fleet.nodes["cli-mini"]
    victim = sorted(node.models() - {MODEL})[0]
    refused = herd(fleet.router_url, "rm", victim, "--node", "cli-mini")
    assert refused.returncode == 1
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert victim in node.models()
    done = herd(fleet.router_url, "rm", victim, "--node", "cli-mini", "--yes")
    assert done.returncode == 0, done.stderr
    assert "frees" in done.stdout
    assert victim not in node.models()


def test_exit_codes_for_usage_unreachable_and_not_found(fleet: Fleet) -> None:
    usage = herd(fleet.router_url, "traces", "-n", "many")
    assert usage.returncode == 2
    nowhere = herd(f"http://127.0.0.1:{free_port()}", "status")
    assert nowhere.returncode == 3
    assert "start it with `herd`" in nowhere.stderr.lower()
    assert "Traceback" not in nowhere.stderr
    unknown = herd(fleet.router_url, "rm", "nothing:1b", "--node", "no-such-node", "--yes")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


def test_a_wrong_key_is_refused_without_a_traceback(tmp_path: Path) -> None:
    url, router = launch_router(tmp_path, env={"HERD_API_KEY": "right-key"})
    try:
        wait_http_ok(f"{url}/", router)  # the one path open without a key
        wrong = herd(url, "ps", env={"HERD_API_KEY": "wrong-key"})
        assert wrong.returncode == 1
        assert "401" in wrong.stderr and "HERD_API_KEY" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        right = herd(url, "ps", env={"HERD_API_KEY": "right-key"})
        assert right.returncode == 0, right.stderr
    finally:
        router.stop()


def _jobs(fleet: Fleet) -> list[dict[str, object]]:
    answer = httpx.get(f"{fleet.router_url}/dashboard/api/pulls", timeout=10).json()
    return list(answer["pulls"])


def test_pull_without_a_terminal_or_yes_pulls_nothing(fleet: Fleet) -> None:
    refused = herd(fleet.router_url, "pull", "qwen3:8b", "--node", "cli-mini")
    assert refused.returncode == 1
    assert "Pull qwen3:8b onto cli-mini" in refused.stdout
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert "qwen3:8b" not in fleet.nodes["cli-mini"].models()
    assert not any(job["model"] == "qwen3:8b" for job in _jobs(fleet))


def test_pull_with_yes_shows_the_plan_and_progress_to_100_percent(fleet: Fleet) -> None:
    done = herd(fleet.router_url, "pull", "gemma3:4b", "--node", "cli-mini", "--yes")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Pull gemma3:4b onto cli-mini"
    assert any(line.strip().startswith("disk free") for line in lines)
    assert any("100%" in line and line.startswith("pulling ") for line in lines)
    assert lines[-1] == "gemma3:4b is on cli-mini: 100% pulled."
    assert "gemma3:4b" in fleet.nodes["cli-mini"].models()


def test_ctrl_c_detaches_and_the_pull_goes_on(fleet: Fleet) -> None:
    node = fleet.nodes["cli-mini"]
    node.configure(time_scale=0.25)  # a pull of a few seconds, to interrupt
    try:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "router", "pull", "mxbai-embed-large"),
                *("--node", "cli-mini", "--yes", "--router-url", fleet.router_url),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_clean_env(),
        )
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # bounded: the command ends when the pull does
            seen.append(line)
            if line.startswith("pulling ") and "%" in line:
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Detached: the pull goes on on the router as job" in out
        job_id = out.split("as job ", 1)[1].split(".", 1)[0]
        job = wait_until(
            lambda: (j := _job(fleet, job_id))["state"] == "done" and j,
            timeout=60,
            what="the detached pull done",
        )
        assert job["percent"] == 100
        assert "mxbai-embed-large:latest" in node.models()
        status = run(fleet, "pulls", job_id)[1]
        assert "mxbai-embed-large" in status and ": done" in status
    finally:
        node.configure(time_scale=0.02)


def _job(fleet: Fleet, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/pulls/{job_id}", timeout=10)
    response.raise_for_status()
    return dict(response.json())
