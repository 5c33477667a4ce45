"""Which backends this node has: found on the device, named by flags, or listed in the data
directory's ``backends.json``, and the adapters built for them.

Owns ``BackendSpec`` (one configured backend), the flag syntax ``KIND[/ADAPTER][=URL][#MODEL,...]``
(``openai=http://127.0.0.1:8080``, ``image/openai=http://gpu:7860#sdxl``, ``image/mflux``,
``stt/qwen3-asr``, ``stt/openai=http://127.0.0.1:9000#whisper-1``), the file
``ollama=http://127.0.0.1:11435`` (a second Ollama, one per GPU, say),
``{"backends": [{"kind": ..., "adapter": ..., "url": ..., "models": [...], "api_key": ...,
"capacity": ..., "timeout_s": ...}]}``, discovery (mflux's programs and ``mlx-qwen3-asr`` on
``PATH``) and ``Backends``: every adapter of the node, their reports together, and the adapter that
serves a given image or speech model. The default Ollama stays the agent's ``OllamaReader``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import mflux, qwen3_asr
from .jobs import BackendReport, ImageBackend, SpeechBackend
from .mflux import MfluxRunner
from .ollama import ExtraOllama
from .openai_images import OpenAIImages
from .openai_llm import OpenAILLM
from .openai_speech import OpenAITranscriptions
from .qwen3_asr import Qwen3Asr

CONFIG_FILE = "backends.json"
ADAPTERS: dict[str, tuple[str, ...]] = {
    "ollama": ("ollama",),
    "openai": ("openai",),
    "image": ("mflux", "openai"),
    "stt": ("qwen3-asr", "openai"),
}
"""The adapters each kind has, the default first."""


class BackendSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["ollama", "openai", "image", "stt"]
    adapter: str = ""
    url: str | None = Field(default=None, max_length=2048)
    models: list[str] | None = None
    api_key: str | None = None
    capacity: int | None = Field(default=None, ge=1, le=1024)
    timeout_s: float = Field(default=600.0, gt=0, le=86_400)

    def model_post_init(self, context: object) -> None:
        if not self.adapter:
            self.adapter = ADAPTERS[self.kind][0]
        if self.adapter not in ADAPTERS[self.kind]:
            raise ValueError(
                f"{self.kind} backends have the adapters {', '.join(ADAPTERS[self.kind])}, "
                f"not {self.adapter!r}"
            )
        needs_url = not (self.kind == "image" and self.adapter == "mflux")
        needs_url = needs_url and not (self.kind == "stt" and self.adapter == "qwen3-asr")
        if needs_url and not self.url:
            raise ValueError(f"a {self.kind}/{self.adapter} backend needs a URL")


class ConfigError(ValueError):
    pass


def parse_flag(text: str) -> BackendSpec:
    """``KIND[/ADAPTER][=URL][#MODEL,...]`` as a spec; ``ConfigError`` saying what is wrong."""
    head, _, models = text.strip().partition("#")
    head, _, url = head.partition("=")
    kind, _, adapter = head.partition("/")
    fields: dict[str, object] = {"kind": kind.strip(), "adapter": adapter.strip()}
    if url.strip():
        fields["url"] = url.strip().rstrip("/")
    if models.strip():
        fields["models"] = [m.strip() for m in models.split(",") if m.strip()]
    try:
        return BackendSpec.model_validate(fields)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"--backend {text!r}: {_first_error(exc)}") from None


def load_file(data_dir: Path) -> list[BackendSpec]:
    """The specs in ``data_dir/backends.json``; none when the file does not exist."""
    path = data_dir / CONFIG_FILE
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        entries = json.loads(raw).get("backends", [])
        return [BackendSpec.model_validate(entry) for entry in entries]
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None


def discover(path: str | None = None) -> list[BackendSpec]:
    """Backends whose programs are installed: mflux's generators, Qwen3-ASR's server."""
    found: list[BackendSpec] = []
    if mflux.find_programs(path):
        found.append(BackendSpec(kind="image", adapter="mflux"))
    if shutil.which(qwen3_asr.PROGRAM, path=path):
        found.append(BackendSpec(kind="stt", adapter="qwen3-asr"))
    return found


def assemble(
    flags: list[str], data_dir: Path, *, discover_programs: bool, path: str | None = None
) -> list[BackendSpec]:
    """Flags, then the data directory's file, then what is installed (unless a configured
    backend of the same kind and adapter already covers it)."""
    specs = [parse_flag(flag) for flag in flags] + load_file(data_dir)
    if discover_programs:
        have = {(s.kind, s.adapter) for s in specs}
        specs += [s for s in discover(path) if (s.kind, s.adapter) not in have]
    return specs


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


class Backends:
    """Every backend adapter of one node."""

    def __init__(self, specs: list[BackendSpec], work_dir: Path) -> None:
        self.llms: list[OpenAILLM | ExtraOllama] = []
        self.images: list[ImageBackend] = []
        self.speech: list[SpeechBackend] = []
        self.asr_servers: list[Qwen3Asr] = []
        self.gateway_down = ""
        """Why the job gateway does not listen, when it does not: then the router cannot reach
        the image and speech backends behind it, and they are reported unreachable."""
        for spec in specs:
            self._add(spec, work_dir)

    def _add(self, spec: BackendSpec, work_dir: Path) -> None:
        models, key = spec.models, spec.api_key
        if spec.kind == "ollama":
            self.llms.append(ExtraOllama(str(spec.url), capacity=spec.capacity or 1))
        elif spec.kind == "openai":
            self.llms.append(
                OpenAILLM(str(spec.url), capacity=spec.capacity or 4, models=models, api_key=key)
            )
        elif spec.kind == "image" and spec.adapter == "mflux":
            self.images.append(
                MfluxRunner(mflux.find_programs(), work_dir / "mflux", timeout_s=spec.timeout_s)
            )
        elif spec.kind == "image":
            self.images.append(
                OpenAIImages(
                    str(spec.url),
                    capacity=spec.capacity or 1,
                    timeout_s=spec.timeout_s,
                    models=models,
                    api_key=key,
                )
            )
        elif spec.adapter == "qwen3-asr":
            asr = Qwen3Asr(
                spec.url or f"http://127.0.0.1:{qwen3_asr.DEFAULT_PORT}",
                api_key=spec.api_key or "herd",
                models=spec.models,
                timeout_s=spec.timeout_s,
            )
            self.speech.append(asr)
            self.asr_servers.append(asr)
        else:
            self.speech.append(
                OpenAITranscriptions(
                    str(spec.url),
                    capacity=spec.capacity or 1,
                    timeout_s=spec.timeout_s,
                    models=models,
                    api_key=key,
                )
            )

    @property
    def serves_jobs(self) -> bool:
        """Whether the gateway is needed (image or speech backends exist)."""
        return bool(self.images or self.speech)

    async def start(self) -> None:
        """Start the Qwen3-ASR servers that are installed but not running."""
        await asyncio.gather(*(asr.launch() for asr in self.asr_servers))

    async def reports(self, gateway_url: str) -> list[BackendReport]:
        """Every backend's report; image and speech backends are reached through the gateway
        (unreachable, saying why, when it does not listen)."""
        llm = await asyncio.gather(*(self._llm_reports(b) for b in self.llms))
        jobs = await asyncio.gather(
            *(b.report() for b in self.images), *(b.report() for b in self.speech)
        )
        for report in jobs:
            report.url = gateway_url
            if self.gateway_down:
                report.reachable = False
                report.detail = self.gateway_down
        return [*(r for reports in llm for r in reports), *jobs]

    @staticmethod
    async def _llm_reports(backend: OpenAILLM | ExtraOllama) -> list[BackendReport]:
        if isinstance(backend, ExtraOllama):
            return await backend.reports()  # its image models come as a backend of their own
        return [await backend.report()]

    def image_backend(self, model: str) -> ImageBackend | None:
        return next((b for b in self.images if b.serves(model)), None)

    def speech_backend(self, model: str) -> SpeechBackend | None:
        return next((b for b in self.speech if b.serves(model)), None)

    async def aclose(self) -> None:
        await asyncio.gather(
            *(b.aclose() for b in self.llms),
            *(b.aclose() for b in self.images),
            *(b.aclose() for b in self.speech),
            return_exceptions=True,
        )
