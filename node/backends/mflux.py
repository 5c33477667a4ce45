"""mflux's command-line generators as an image backend: ``mflux-generate`` (FLUX models) and
``mflux-generate-z-image-turbo``.

Owns ``MfluxRunner``: finds the programs on ``PATH``, maps herd's image models to a program and its
arguments, runs one job at a time per device with a timeout (the process is killed when it runs
over), writes the output into a temporary file inside the node's data directory only, reads it
back, checks it is a PNG and removes it. The model names herd uses and mflux's flags:

| herd model      | program                          | flags                                |
|-----------------|----------------------------------|--------------------------------------|
| ``flux-schnell``| ``mflux-generate``               | ``--model schnell`` (4 steps)        |
| ``flux-dev``    | ``mflux-generate``               | ``--model dev`` (20 steps)           |
| ``z-image-turbo``| ``mflux-generate-z-image-turbo``| (9 steps)                            |

Every job also gets ``--prompt --width --height --steps --seed --output`` and ``-q`` (quantisation)
when set; ``--negative-prompt`` goes to ``mflux-generate`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .jobs import (
    PNG_SIGNATURE,
    BackendError,
    BackendReport,
    BackendTimeout,
    BackendUnavailable,
    BadJob,
    ImageJob,
    ImageResult,
)
from .occupancy import Occupancy

FLUX = "mflux-generate"
Z_IMAGE_TURBO = "mflux-generate-z-image-turbo"
DEFAULT_TIMEOUT_S = 600.0
STDERR_TAIL = 2000


@dataclass(frozen=True, slots=True)
class MfluxModel:
    program: str
    flux_model: str | None
    """``--model`` for ``mflux-generate``; None for programs bound to one model."""
    default_steps: int


MODELS: dict[str, MfluxModel] = {
    "flux-schnell": MfluxModel(FLUX, "schnell", 4),
    "flux-dev": MfluxModel(FLUX, "dev", 20),
    "z-image-turbo": MfluxModel(Z_IMAGE_TURBO, None, 9),
}


def find_programs(path: str | None = None) -> dict[str, str]:
    """mflux's programs found on ``path`` (default ``$PATH``): name -> full path."""
    found: dict[str, str] = {}
    for program in (FLUX, Z_IMAGE_TURBO):
        where = shutil.which(program, path=path)
        if where:
            found[program] = where
    return found


def command(
    model: MfluxModel,
    program_path: str,
    job: ImageJob,
    seed: int,
    output: Path,
    quantize: int | None,
) -> list[str]:
    """The argument vector for one job."""
    args = [program_path]
    if model.flux_model is not None:
        args += ["--model", model.flux_model]
    args += [
        "--prompt", job.prompt,
        "--width", str(job.width),
        "--height", str(job.height),
        "--steps", str(job.steps or model.default_steps),
        "--seed", str(seed),
        "--output", str(output),
    ]  # fmt: skip
    if quantize is not None:
        args += ["-q", str(quantize)]
    if job.negative_prompt and model.program == FLUX:
        args += ["--negative-prompt", job.negative_prompt]
    return args


class MfluxRunner:
    adapter = "mflux"

    def __init__(
        self,
        programs: dict[str, str],
        work_dir: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        quantize: int | None = 8,
    ) -> None:
        self.programs = programs
        self.work_dir = work_dir
        self.timeout_s = timeout_s
        self.quantize = quantize
        self.occupancy = Occupancy(1)

    @property
    def models(self) -> list[str]:
        return [name for name, m in MODELS.items() if m.program in self.programs]

    def serves(self, model: str) -> bool:
        return model in self.models

    async def report(self) -> BackendReport:
        return BackendReport(
            "image", self.adapter, "", self.models,
            reachable=bool(self.programs), capacity=1, busy=self.occupancy.busy,
        )  # fmt: skip

    async def generate(self, job: ImageJob) -> ImageResult:
        model = MODELS.get(job.model)
        if model is None or model.program not in self.programs:
            raise BadJob(f"mflux on this node has no model {job.model!r}; it has {self.models}")
        seed = job.seed if job.seed is not None else secrets.randbelow(2**31)
        async with self.occupancy.slot():
            started = time.perf_counter()
            png = await self._run(model, job, seed)
            seconds = time.perf_counter() - started
        return ImageResult(png=png, model=job.model, seconds=seconds, seed=seed)

    def _temp_file(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="mflux-", suffix=".png", dir=self.work_dir)
        os.close(handle)
        return Path(name)

    async def _run(self, model: MfluxModel, job: ImageJob, seed: int) -> bytes:
        output = await asyncio.to_thread(self._temp_file)
        try:
            args = command(model, self.programs[model.program], job, seed, output, self.quantize)
            await self._execute(args)
            png = await asyncio.to_thread(output.read_bytes)
        finally:
            await asyncio.to_thread(output.unlink, True)
        if not png.startswith(PNG_SIGNATURE):
            raise BackendError(f"{model.program} wrote something that is not a PNG")
        return png

    async def _execute(self, args: list[str]) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.work_dir,
            )
        except OSError as exc:
            raise BackendUnavailable(f"cannot run {args[0]}: {exc}") from None
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise BackendTimeout(
                f"{Path(args[0]).name} took longer than {self.timeout_s:g}s and was stopped"
            ) from None
        if process.returncode != 0:
            tail = stderr.decode(errors="replace")[-STDERR_TAIL:].strip().splitlines()
            last = tail[-1] if tail else "no output"
            raise BackendError(f"{Path(args[0]).name} exited with {process.returncode}: {last}")

    async def aclose(self) -> None:
        return None
