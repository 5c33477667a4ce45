"""Real processes on loopback ports, started and waited for boundedly: the router, the
simulator, the agent. Shared by the benchmarks and the tests (``tests/procs.py`` builds on it).

Every wait is a bounded poll of an observable condition (an HTTP answer, a field in a JSON
document), never a bare sleep. Whoever starts a process ends it (``Proc.stop``), and ``stop``
also ends anything the process left in its process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
"""The repository: every process starts here."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}: {last_error}")


class Proc:
    """A child process with its output in a temporary file, ended on ``stop()``."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, name: str = "") -> None:
        self.name = name or args[0]
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix=f"herd-{self.name}-", suffix=".log", delete=False
        )
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to say goodbye."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.log.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # anything it left in its process group
        return self.popen.returncode

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.popen.wait(timeout=timeout)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def wait_http_ok(url: str, proc: Proc | None = None, timeout: float = 20.0) -> httpx.Response:
    """Wait until ``GET url`` answers 200; fail early with the process output if it died."""

    def probe() -> httpx.Response | None:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.output()}")
        response = httpx.get(url, timeout=2.0)
        return response if response.status_code == 200 else None

    return wait_until(probe, timeout=timeout, what=f"GET {url}")


def start_router(
    data_dir: Path,
    *flags: str,
    env: dict[str, str] | None = None,
    wrapper: list[str] | None = None,
    port: int | None = None,
) -> tuple[str, Proc]:
    """A router process on ``port`` (a free one by default), once it answers; ``wrapper`` is a
    command line it runs under (the same process id, e.g. ``unshare`` exec'ing it in a mount
    namespace)."""
    url, proc = launch_router(data_dir, *flags, env=env, wrapper=wrapper, port=port)
    wait_http_ok(f"{url}/fleet/status", proc)
    return url, proc


def launch_router(
    data_dir: Path,
    *flags: str,
    env: dict[str, str] | None = None,
    wrapper: list[str] | None = None,
    port: int | None = None,
) -> tuple[str, Proc]:
    """A router process started as ``start_router`` starts it, without waiting for it to answer
    (start its nodes meanwhile)."""
    port = port or free_port()
    proc = Proc(
        (wrapper or [])
        + python_module(
            "router",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--no-mdns",
            *flags,
        ),
        env=env,
        name="router",
    )
    return f"http://127.0.0.1:{port}", proc
