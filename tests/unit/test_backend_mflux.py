"""The mflux adapter against a stand-in ``mflux-generate`` on PATH: the command it runs, the PNG it
reads back, one job at a time, the timeout, crashes, and nothing left behind in the data dir."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from node.backends import mflux
from node.backends.jobs import BackendError, BackendTimeout, BadJob, ImageJob
from node.backends.mflux import MfluxRunner
from node.sim.png import png_size
from tests.procs import ROOT


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH directory holding both mflux programs, each the stand-in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in (mflux.FLUX, mflux.Z_IMAGE_TURBO):
        script = bin_dir / name
        script.write_text(
            f"#!{sys.executable}\nimport sys\nfrom tests.standins.fake_mflux import main\n"
            "sys.exit(main())\n"
        )
        script.chmod(0o755)
    monkeypatch.setenv("FAKE_MFLUX_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return bin_dir


def calls(tmp_path: Path) -> list[dict[str, object]]:
    log = tmp_path / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def runner(bin_dir: Path, tmp_path: Path, **options: object) -> MfluxRunner:
    programs = mflux.find_programs(str(bin_dir))
    return MfluxRunner(programs, tmp_path / "data" / "mflux", **options)  # type: ignore[arg-type]


def test_programs_are_found_on_path_and_name_the_models(bin_dir: Path, tmp_path: Path) -> None:
    assert set(mflux.find_programs(str(bin_dir))) == {mflux.FLUX, mflux.Z_IMAGE_TURBO}
    assert mflux.find_programs(str(tmp_path / "empty")) == {}
    only_turbo = MfluxRunner({mflux.Z_IMAGE_TURBO: "/x"}, tmp_path)
    assert only_turbo.models == ["z-image-turbo"]
    assert runner(bin_dir, tmp_path).models == ["flux-schnell", "flux-dev", "z-image-turbo"]


async def test_flux_job_runs_mflux_generate_with_its_flags(bin_dir: Path, tmp_path: Path) -> None:
    job = ImageJob("flux-schnell", "a red fox", 512, 256, None, 42, "blurry")
    result = await runner(bin_dir, tmp_path).generate(job)
    assert png_size(result.png) == (512, 256)
    assert (result.model, result.seed) == ("flux-schnell", 42)
    [call] = calls(tmp_path)
    argv = call["argv"]
    assert isinstance(argv, list)
    assert Path(argv[0]).name == mflux.FLUX
    flags = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert flags == {
        "--model": "schnell",
        "--prompt": "a red fox",
        "--width": "512",
        "--height": "256",
        "--steps": "4",
        "--seed": "42",
        "--output": flags["--output"],
        "-q": "8",
        "--negative-prompt": "blurry",
    }
    output = Path(flags["--output"])
    assert output.parent == tmp_path / "data" / "mflux"
    assert list((tmp_path / "data" / "mflux").iterdir()) == []


async def test_z_image_turbo_uses_its_own_program(bin_dir: Path, tmp_path: Path) -> None:
    job = ImageJob("z-image-turbo", "a lighthouse", 128, 128, steps=5, seed=None)
    result = await runner(bin_dir, tmp_path, quantize=None).generate(job)
    assert png_size(result.png) == (128, 128)
    assert result.seed is not None, "a random seed is chosen and reported"
    argv = calls(tmp_path)[0]["argv"]
    assert isinstance(argv, list)
    assert Path(argv[0]).name == mflux.Z_IMAGE_TURBO
    assert "--model" not in argv and "-q" not in argv and "--negative-prompt" not in argv
    assert argv[argv.index("--steps") + 1] == "5"
    assert argv[argv.index("--seed") + 1] == str(result.seed)


async def test_unknown_model_is_a_bad_job(bin_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BadJob, match="sdxl"):
        await runner(bin_dir, tmp_path).generate(ImageJob("sdxl", "x"))
    assert calls(tmp_path) == []


async def test_a_crash_reports_the_last_line_of_stderr(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MFLUX_MODE", "fail")
    with pytest.raises(BackendError, match=r"exited with 1: RuntimeError: \[metal::malloc\]"):
        await runner(bin_dir, tmp_path).generate(ImageJob("flux-dev", "x", 64, 64))
    assert list((tmp_path / "data" / "mflux").iterdir()) == []


async def test_output_that_is_not_a_png_is_refused(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MFLUX_MODE", "garbage")
    with pytest.raises(BackendError, match="not a PNG"):
        await runner(bin_dir, tmp_path).generate(ImageJob("flux-dev", "x", 64, 64))


async def test_a_job_over_its_timeout_is_killed(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MFLUX_MODE", "hang")
    images = runner(bin_dir, tmp_path, timeout_s=0.5)
    with pytest.raises(BackendTimeout, match=r"took longer than 0\.5s"):
        await images.generate(ImageJob("flux-schnell", "x", 64, 64))
    assert images.occupancy.busy == 0
    assert list((tmp_path / "data" / "mflux").iterdir()) == []


async def test_one_job_at_a_time(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_MFLUX_MODE", "gate")
    monkeypatch.setenv("FAKE_MFLUX_GATE", str(gate))
    images = runner(bin_dir, tmp_path)
    first = asyncio.create_task(images.generate(ImageJob("flux-schnell", "one", 64, 64)))
    second = asyncio.create_task(images.generate(ImageJob("flux-schnell", "two", 64, 64)))
    for _ in range(500):  # bounded: until the first process has started
        if calls(tmp_path):
            break
        await asyncio.sleep(0.01)
    report = await images.report()
    assert (report.capacity, report.busy) == (1, 2)
    assert (images.occupancy.running, images.occupancy.waiting) == (1, 1)
    assert len(calls(tmp_path)) == 1, "the second job waits; no second process runs"
    gate.touch()
    done = await asyncio.gather(first, second)
    assert [png_size(r.png) for r in done] == [(64, 64), (64, 64)]
    assert len(calls(tmp_path)) == 2
