"""Pull jobs without HTTP: progress from lines, followers, joining, cancelling, forgetting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

from router.pipeline import pull_jobs
from router.pipeline.pull_jobs import PullJobs
from tests.factories import Clock


def progress(digest: str, total: int, completed: int | None = None) -> bytes:
    body: dict[str, object] = {"status": f"pulling {digest[:12]}", "digest": digest, "total": total}
    if completed is not None:
        body["completed"] = completed
    return json.dumps(body).encode() + b"\n"


async def test_a_job_reports_bytes_rate_and_ends_done_with_its_followers_told() -> None:
    clock = Clock()
    gate, waiting = asyncio.Event(), asyncio.Event()

    async def source() -> AsyncGenerator[bytes, None]:
        yield b'{"status": "pulling manifest"}\n'
        yield progress("sha256:aaa", 1000, 0)
        clock.now += 2
        yield progress("sha256:aaa", 1000, 400)
        waiting.set()
        await gate.wait()
        clock.now += 2
        yield progress("sha256:aaa", 1000, 1000)
        yield b'{"status": "success"}\n'

    jobs = PullJobs(clock)
    job = jobs.start("m:1b", "n1", "api", source)
    await asyncio.wait_for(waiting.wait(), 5)
    view = job.view()
    assert (view.state, view.completed_bytes, view.total_bytes, view.percent) == (
        "running",
        400,
        1000,
        40.0,
    )
    assert view.rate_bytes_per_s == 200.0 and view.eta_s == 3.0
    follower = job.follow()
    assert json.loads(await anext(follower))["completed"] == 400  # where the job stands
    assert jobs.start("m:1b", "n1", "dashboard", source) is job  # joins, no second download
    gate.set()
    rest = [json.loads(line) async for line in follower]
    assert rest[-1] == {"status": "success"} and rest[-2]["completed"] == 1000
    assert job.view().state == "done" and job.view().eta_s is None


async def test_an_error_line_or_a_cancel_ends_the_job() -> None:
    async def failing() -> AsyncGenerator[bytes, None]:
        yield b'{"error": "pull model manifest: file does not exist"}\n'

    flowing = asyncio.Event()

    async def endless() -> AsyncGenerator[bytes, None]:
        while True:
            flowing.set()
            yield progress("sha256:bbb", 10, 1)
            await asyncio.sleep(0.01)

    jobs = PullJobs(Clock())
    failed = jobs.start("x:1b", "n1", "api", failing)
    await failed.wait()
    assert failed.state == "failed" and failed.error == "pull model manifest: file does not exist"
    before_start = jobs.start("y:1b", "n1", "api", endless)
    jobs.cancel(before_start.id)  # cancelled before its task ever ran
    await before_start.wait()
    assert before_start.state == "cancelled"
    running = jobs.start("z:1b", "n1", "api", endless)
    await asyncio.wait_for(flowing.wait(), 5)
    jobs.cancel(running.id)
    await running.wait()
    assert running.state == "cancelled"


async def test_ended_jobs_are_forgotten_after_a_while() -> None:
    async def quick() -> AsyncGenerator[bytes, None]:
        yield b'{"status": "success"}\n'

    clock = Clock()
    jobs = PullJobs(clock)
    job = jobs.start("q:1b", "n1", "api", quick)
    await job.wait()
    assert [j.id for j in jobs.all()] == [job.id]
    clock.now += pull_jobs.KEEP_ENDED_S + 1
    assert jobs.all() == [] and jobs.get(job.id) is None
