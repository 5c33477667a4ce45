"""The supervisor: a failing background task is logged, restarted with backoff and reported until
it runs cleanly again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from router.supervisor import Supervisor


async def _until(condition, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_failing_step_is_logged_restarted_and_reported_until_it_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(min_backoff_s=0.01, max_backoff_s=0.02)
    calls: list[int] = []
    healthy = asyncio.Event()

    async def step() -> None:
        calls.append(1)
        if not healthy.is_set():
            raise OSError("disk full")

    with caplog.at_level(logging.ERROR, logger="herd.supervisor"):
        supervisor.every("weekly-save", 0.01, step)
        await _until(lambda: len(calls) >= 3, "three failed steps")
        (task,) = supervisor.snapshot()
        assert task.name == "weekly-save" and task.failing
        assert task.restarts >= 3 and task.last_error == "OSError: disk full"
        assert any(r.exc_info and "weekly-save" in r.getMessage() for r in caplog.records)
        healthy.set()
        await _until(lambda: not supervisor.snapshot()[0].failing, "the step to recover")
    await supervisor.aclose()
    assert supervisor.snapshot()[0].last_error == "OSError: disk full"


async def test_a_long_running_task_is_restarted_after_it_raises() -> None:
    supervisor = Supervisor(min_backoff_s=0.01, max_backoff_s=0.02, healthy_after_s=0.05)
    starts: list[int] = []
    parked = asyncio.Event()

    async def run() -> None:
        starts.append(1)
        if len(starts) < 3:
            raise RuntimeError(f"crash {len(starts)}")
        parked.set()
        await asyncio.Event().wait()

    supervisor.keep("mdns-advertiser", run)
    await asyncio.wait_for(parked.wait(), timeout=5)
    task = supervisor.snapshot()[0]
    assert task.restarts == 2 and task.last_error == "RuntimeError: crash 2"
    await _until(lambda: not supervisor.snapshot()[0].failing, "healthy after staying up")
    await supervisor.aclose()


async def test_an_observed_task_is_failing_while_its_probe_says_so() -> None:
    supervisor = Supervisor()
    error: list[str | None] = ["a batch was dropped"]
    supervisor.observe("trace-writer", lambda: error[0])
    assert supervisor.snapshot()[0].failing
    error[0] = None
    assert not supervisor.snapshot()[0].failing
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.every("trace-writer", 1, lambda: asyncio.sleep(0))
