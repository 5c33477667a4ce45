"""The fault matrix: each fault against a real router and simulated nodes, asserting what the
client got and what the trace says.

Disk faults run the router in its own mount namespace (``unshare -rm``) on a small tmpfs, so a
full disk is real (ENOSPC from the kernel) and nothing outside the test is touched; where user
namespaces are not allowed the disk tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet, start_router
from tests.procs import Proc, python_module, wait_until

pytestmark = pytest.mark.e2e

CHAT = {"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def _chat(fleet: Fleet, **extra: Any) -> httpx.Response:
    return httpx.post(f"{fleet.router_url}/api/chat", json={**CHAT, **extra}, timeout=60)


def _traces(fleet: Fleet, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/traces", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["traces"]


def _checks(fleet: Fleet) -> dict[str, dict[str, Any]]:
    report = httpx.get(f"{fleet.router_url}/dashboard/api/health", timeout=10).json()
    return {c["check_id"]: c for c in report["checks"]}


# --- unusable and full disks ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cannot create", "a file in the way"])
def test_an_unusable_data_dir_ends_startup_with_one_clear_sentence(
    tmp_path: Path, kind: str
) -> None:
    if kind == "a file in the way":
        data_dir = tmp_path / "file"
        data_dir.write_text("not a directory")
    else:
        data_dir = Path("/proc/herd-cannot-create-here")
    args = python_module("router", "--data-dir", str(data_dir), "--port", "0", "--no-mdns")
    proc = Proc(args, name="router")
    assert proc.wait_exit(30) == 2
    output = proc.output()
    proc.stop()
    assert "Traceback" not in output
    assert f"cannot use the data directory {data_dir}" in output
    assert len(output.strip().splitlines()) == 1


def _namespaces_work() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return None if probe.returncode == 0 else f"no mount namespaces here: {probe.stderr!r}"


@pytest.fixture(scope="module")
def small_disk_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    why_not = _namespaces_work()
    if why_not:
        pytest.skip(why_not)
    data_dir = tmp_path_factory.mktemp("small-disk")
    wrapper = [
        "unshare",
        "-rm",
        "sh",
        "-c",
        'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"',
        str(data_dir),
    ]
    with running_fleet(data_dir, [("disk-a", "mini")], router_wrapper=wrapper) as fleet:
        yield fleet


@contextlib.contextmanager
def _full(fleet: Fleet) -> Iterator[Path]:
    """Fill the router's tmpfs (seen through /proc/<pid>/root) until the kernel says ENOSPC."""
    inside = Path(f"/proc/{fleet.router.pid}/root") / str(fleet.data_dir).lstrip("/")
    filler = inside / "filler"
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            for _ in range(10_000):
                f.write(b"\0" * 65_536)
                f.flush()
        with pytest.raises(OSError) as full:
            f.write(b"\0" * 65_536)
            f.flush()
            os.fsync(f.fileno())
    assert full.value.errno == errno.ENOSPC
    try:
        yield inside
    finally:
        filler.unlink()


def test_a_full_disk_keeps_routing_counts_dropped_traces_and_answers_507(
    small_disk_fleet: Fleet,
) -> None:
    fleet = small_disk_fleet
    assert _chat(fleet).status_code == 200
    wait_until(lambda: _traces(fleet), what="the first trace stored")
    before_output = len(fleet.router.output().splitlines())
    with _full(fleet) as inside:
        settings_before = (
            (inside / "settings.json").read_bytes() if (inside / "settings.json").exists() else None
        )
        answers = [_chat(fleet).status_code for _ in range(30)]
        assert answers == [200] * 30  # routing goes on
        wait_until(
            lambda: fleet.status()["router"]["traces_dropped"] >= 1, what="dropped traces counted"
        )
        check = _checks(fleet)["traces_dropped"]
        assert check["severity"] == "critical" and check["data"]["dropped"] >= 1
        changed = httpx.post(
            f"{fleet.router_url}/dashboard/api/settings", json={"max_retries": 1}, timeout=10
        )
        assert changed.status_code == 507, changed.text
        assert "settings were not changed" in changed.json()["error"]
        after = (
            (inside / "settings.json").read_bytes() if (inside / "settings.json").exists() else None
        )
        assert after == settings_before  # the old file is intact (or still absent)
        assert (
            httpx.get(f"{fleet.router_url}/dashboard/api/settings").json()["toggles"]["max_retries"]
            != 1
        )
    # The console got a few lines, not one per failed write.
    new_lines = fleet.router.output().splitlines()[before_output:]
    assert len(new_lines) <= 6, new_lines
    assert "Traceback" not in "\n".join(new_lines)
    # Space again: the writer resumes with the next batch.
    marker = "after-the-disk-was-freed"
    assert _chat(fleet, messages=[{"role": "user", "content": marker}]).status_code == 200
    wait_until(lambda: len(_traces(fleet)) >= 2, what="traces stored again")


# --- faults on a node, against a router and two simulated nodes -----------------------------

ROUTER_ENV = {
    "HERD_FIRST_BYTE_TIMEOUT_S": "2",
    "HERD_FIRST_BYTE_TIMEOUT_MIN_S": "0.5",
    "HERD_BREAKER_FAILURES": "100",
}
"""Breakers effectively off here (they have their own fleet below), first bytes within 2 s."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("faults")
    with running_fleet(data_dir, [("fa", "mini"), ("fb", "mini")], env=ROUTER_ENV) as running:
        yield running


@pytest.fixture
def warm(fleet: Fleet) -> tuple[str, str]:
    """A fresh fleet state with the model loaded on exactly one node: (that node, the other)."""
    fleet.reset()
    fleet.unload_all()
    response = _chat(fleet)
    assert response.status_code == 200
    hot = response.headers["x-fleet-node"]
    fleet.wait_loaded(hot, CHAT["model"])
    return hot, next(n for n in fleet.nodes if n != hot)


def _traces_of(fleet: Fleet, request_id: str) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        rows = [t for t in _traces(fleet, limit=50) if t["request_id"] == request_id]
        return rows if any(t["status"] != "retried" for t in rows) else []

    return wait_until(found, what=f"traces of {request_id}")


def _stream_lines(fleet: Fleet, **extra: Any) -> tuple[httpx.Response, list[dict[str, Any]]]:
    body = {**CHAT, "stream": True, **extra}
    with httpx.stream("POST", f"{fleet.router_url}/api/chat", json=body, timeout=60) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    return response, lines


def test_hang_before_first_byte_is_retried_elsewhere_within_the_adaptive_timeout(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    hot, other = warm
    fleet.sim(hot).fault(kind="slow", delay_s=30, count=1)
    response = _chat(fleet)
    assert response.status_code == 200 and response.json()["done"] is True
    assert response.headers["x-fleet-node"] == other
    assert response.headers["x-fleet-retries"] == "1"
    rows = {t["status"]: t for t in _traces_of(fleet, response.headers["x-request-id"])}
    assert rows["retried"]["node_id"] == hot
    assert "first byte" in rows["retried"]["error_message"]
    assert rows["completed"]["node_id"] == other


def test_a_5xx_is_retried_on_the_other_node(fleet: Fleet, warm: tuple[str, str]) -> None:
    hot, other = warm
    fleet.sim(hot).fault(kind="http_error", status=500, message="model runner crashed")
    response = _chat(fleet)
    assert response.status_code == 200 and response.headers["x-fleet-node"] == other
    rows = {t["status"]: t for t in _traces_of(fleet, response.headers["x-request-id"])}
    assert rows["retried"]["http_status"] == 500
    assert "model runner crashed" in rows["retried"]["error_message"]


def test_a_drop_after_the_first_chunk_goes_on_on_the_other_node(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    hot, other = warm
    fleet.sim(hot).fault(kind="drop_after_first_chunk")
    response, lines = _stream_lines(fleet)
    assert response.status_code == 200 and response.headers["x-fleet-node"] == hot
    assert "message" in lines[0] and lines[-1]["done"] is True
    assert not any("error" in line for line in lines)
    rows = {t["status"]: t for t in _traces_of(fleet, response.headers["x-request-id"])}
    assert rows["retried"]["node_id"] == hot and rows["retried"]["resumed_on"] == other
    assert rows["completed"]["node_id"] == other and rows["completed"]["resumed_from"] == [hot]


def test_errors_carry_a_request_id_and_the_final_failed_row_counts_its_retries(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    missing = httpx.post(f"{fleet.router_url}/api/chat", json={**CHAT, "model": "nope:1b"})
    assert missing.status_code == 404 and missing.headers["x-request-id"]
    for node in fleet.nodes.values():
        node.fault(kind="http_error", status=500, message="runner died", count=1)
    failed = _chat(fleet)
    assert failed.status_code == 502 and "runner died" in failed.json()["error"]
    request_id = failed.headers["x-request-id"]
    rows = _traces_of(fleet, request_id)
    final = next(t for t in rows if t["status"] == "failed")
    assert final["retry_count"] == 1 and "2 nodes" in final["error_message"]


class _RawRequest:
    """A streaming chat sent over a raw socket, so the test decides when the client leaves."""

    def __init__(self, fleet: Fleet, content: str) -> None:
        parts = httpx.URL(fleet.router_url)
        body = json.dumps(
            {**CHAT, "stream": True, "messages": [{"role": "user", "content": content}]}
        )
        self.sock = socket.create_connection((parts.host, parts.port), timeout=10)
        head = (
            f"POST /api/chat HTTP/1.1\r\nHost: {parts.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body.encode())

    def leave(self) -> None:
        self.sock.close()


def _queue(fleet: Fleet, node_id: str) -> dict[str, Any]:
    return fleet.status()["queues"].get(f"{node_id}:{CHAT['model']}", {})


def test_a_client_leaving_before_the_first_byte_frees_the_slot_and_cancels_upstream(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    hot, _ = warm
    node = fleet.sim(hot)
    node.fault(kind="hang", count=1)
    ghost = _RawRequest(fleet, "ghost waiting for a first byte")
    hung = wait_until(
        lambda: [r for r in node.records() if r["fault"] and r["finished_at"] is None],
        what="the request reached the node",
    )
    assert _queue(fleet, hot)["in_flight"] == 1
    ghost.leave()
    wait_until(lambda: _queue(fleet, hot)["in_flight"] == 0, timeout=5, what="slot freed")
    wait_until(
        lambda: next(r for r in node.records() if r["id"] == hung[0]["id"])["client_gone"],
        timeout=5,
        what="the node saw the router cancel",
    )
    rows = wait_until(
        lambda: _traces(fleet, status="client_disconnected", node_id=hot),
        what="a client_disconnected trace",
    )
    assert "first byte" in rows[0]["error_message"]


def _queued(fleet: Fleet) -> int:
    """Requests waiting for a slot: in a node's queue or in the router's wait line."""
    status = fleet.status()
    return sum(q["pending"] for q in status["queues"].values()) + sum(status["waiting"].values())


def test_a_client_leaving_while_queued_leaves_the_queue(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    for node in fleet.nodes.values():
        node.fault(kind="hang", count=-1)
    holders: list[_RawRequest] = []
    try:
        for i in range(12):
            holders.append(_RawRequest(fleet, f"holder {i}"))
            wait_until(
                lambda n=i + 1: (
                    sum(q["in_flight"] for q in fleet.status()["queues"].values()) + _queued(fleet)
                    == n
                ),
                what="the request admitted or queued",
            )
            if _queued(fleet):
                break
        ghost = holders.pop()
        ghost.leave()
        wait_until(lambda: not _queued(fleet), timeout=5, what="the ghost left the queue")
        rows = wait_until(
            lambda: [
                t for t in _traces(fleet, status="client_disconnected") if t["node_id"] is None
            ],
            what="a client_disconnected trace for the queued request",
        )
        assert "waited for a slot" in rows[0]["error_message"]
    finally:
        for holder in holders:
            holder.leave()
    wait_until(
        lambda: all(q["in_flight"] == 0 for q in fleet.status()["queues"].values()),
        timeout=10,
        what="every slot free",
    )


def test_a_node_killed_mid_stream_ends_the_stream_with_an_error(fleet: Fleet) -> None:
    fleet.reset()
    victim = fleet.add_node("victim", "laptop")  # the only node with mistral:7b
    try:
        victim.fault(kind="slow", delay_s=0, chunk_delay_s=0.2, count=1)
        body = {**CHAT, "model": "mistral:7b", "stream": True, "options": {"num_predict": 200}}
        with httpx.stream(
            "POST", f"{fleet.router_url}/api/chat", json=body, timeout=60
        ) as response:
            lines = response.iter_lines()
            assert response.headers["x-fleet-node"] == "victim"
            first = json.loads(next(lines))
            victim.proc.kill()
            rest = [json.loads(line) for line in lines if line.strip()]
    finally:
        fleet.nodes.pop("victim").proc.stop()
    assert response.status_code == 200 and "message" in first
    assert "error" in rest[-1]
    rows = _traces_of(fleet, response.headers["x-request-id"])
    assert [t["status"] for t in rows] == ["incomplete"]


def test_sigterm_lets_a_stream_finish_and_flushes_its_trace_then_the_router_restarts(
    fleet: Fleet, warm: tuple[str, str]
) -> None:
    hot, _ = warm
    fleet.sim(hot).fault(kind="slow", delay_s=0, chunk_delay_s=0.05, count=1)
    body = {**CHAT, "stream": True, "options": {"num_predict": 40}}
    with httpx.stream("POST", f"{fleet.router_url}/api/chat", json=body, timeout=60) as response:
        lines = response.iter_lines()
        request_id = response.headers["x-request-id"]
        first = json.loads(next(lines))
        fleet.router.signal(signal.SIGTERM)
        rest = [json.loads(line) for line in lines if line.strip()]
    assert "message" in first and rest[-1]["done"] is True
    assert fleet.router.wait_exit(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    _restart_router(fleet)
    rows = _traces_of(fleet, request_id)
    assert [t["status"] for t in rows] == ["completed"]
    assert _chat(fleet).status_code == 200


def test_kill_9_never_corrupts_the_store(fleet: Fleet) -> None:
    fleet.reset()
    for _ in range(10):
        assert _chat(fleet).status_code == 200
    fleet.router.kill()
    with sqlite3.connect(fleet.data_dir / "latency.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    _restart_router(fleet)
    assert len(_traces(fleet, limit=100)) >= 1
    assert _chat(fleet).status_code == 200


def _restart_router(fleet: Fleet) -> None:
    port = httpx.URL(fleet.router_url).port
    fleet.router.stop()
    _, fleet.router = start_router(fleet.data_dir, env=ROUTER_ENV, port=port)
    for node_id in fleet.nodes:
        wait_until(
            lambda n=node_id: (fleet.node_status(n) or {}).get("status") == "online",
            timeout=20,
            what=f"{node_id} registered again",
        )


# --- frozen nodes and lost heartbeats: circuit breakers and the node lifecycle ---------------

BREAKER_ENV = {
    "HERD_FIRST_BYTE_TIMEOUT_S": "2",
    "HERD_FIRST_BYTE_TIMEOUT_MIN_S": "0.5",
    "HERD_BREAKER_FAILURES": "1",
    "HERD_BREAKER_COOLDOWN_S": "120",
}


@pytest.fixture(scope="module")
def lifecycle_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir = tmp_path_factory.mktemp("breakers")
    flags = ["--degraded-after", "1", "--offline-after", "3"]
    nodes = [("la", "mini"), ("lb", "mini")]
    with running_fleet(data_dir, nodes, router_flags=flags, env=BREAKER_ENV) as running:
        yield running


def _warm(fleet: Fleet) -> tuple[str, str]:
    fleet.reset()
    fleet.unload_all()
    response = _chat(fleet)
    assert response.status_code == 200
    hot = response.headers["x-fleet-node"]
    fleet.wait_loaded(hot, CHAT["model"])
    return hot, next(n for n in fleet.nodes if n != hot)


@contextlib.contextmanager
def _stopped(fleet: Fleet, node_id: str) -> Iterator[None]:
    """SIGSTOP the node's process (agent and simulator): frozen, heartbeats lost too."""
    proc = fleet.sim(node_id).proc
    proc.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.signal(signal.SIGCONT)


def test_lost_heartbeats_take_a_node_out_of_routing(lifecycle_fleet: Fleet) -> None:
    fleet = lifecycle_fleet
    hot, other = _warm(fleet)
    with _stopped(fleet, hot):
        wait_until(
            lambda: (fleet.node_status(hot) or {}).get("status") == "offline",
            timeout=10,
            what=f"{hot} offline",
        )
        response = _chat(fleet)
        assert response.status_code == 200
        assert response.headers["x-fleet-node"] == other
        assert response.headers["x-fleet-retries"] == "0"
    wait_until(
        lambda: (fleet.node_status(hot) or {}).get("status") == "online",
        timeout=10,
        what=f"{hot} back online",
    )


def test_a_frozen_node_costs_one_short_timeout_then_its_circuit_opens(
    lifecycle_fleet: Fleet,
) -> None:
    fleet = lifecycle_fleet
    hot, other = _warm(fleet)
    with _stopped(fleet, hot):
        first = _chat(fleet)
        assert first.status_code == 200 and first.headers["x-fleet-node"] == other
        rows = {t["status"]: t for t in _traces_of(fleet, first.headers["x-request-id"])}
        assert rows["retried"]["node_id"] == hot
        assert "first byte" in rows["retried"]["error_message"]
        assert fleet.status()["router"]["open_circuits"] == {hot: "open"}
        metrics = httpx.get(f"{fleet.router_url}/metrics").text
        assert f'herd_circuit_state{{node="{hot}",state="open"}} 1.0' in metrics
        second = _chat(fleet)
        assert second.headers["x-fleet-node"] == other
        assert second.headers["x-fleet-retries"] == "0"
