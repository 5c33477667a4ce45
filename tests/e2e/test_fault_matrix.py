"""The fault matrix: each fault against a real router and simulated nodes, asserting what the
client got and what the trace says.

Disk faults run the router in its own mount namespace (``unshare -rm``) on a small tmpfs, so a
full disk is real (ENOSPC from the kernel) and nothing outside the test is touched; where user
namespaces are not allowed the disk tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fleet import Fleet, running_fleet
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
