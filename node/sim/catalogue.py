"""The simulator's world: which models exist, and what each simulated device is like.

Owns two static tables: ``CATALOGUE`` (every model the simulated registry can serve, with the
facts Ollama reports about it) and ``PROFILES`` (devices: memory, bandwidth, load speed, the models
on their disk, default server knobs). Sizes and parameter counts follow the public Ollama library.
Pure data and small pure functions; never does I/O and never keeps state.

Derived physics (all documented here so tests and benchmarks can predict them):
- decode tokens/s = ``bandwidth_gbps * 1e9 * efficiency / size_bytes``, capped at ``max_tps``;
- prompt tokens/s = decode tokens/s * ``prompt_factor``;
- cold load seconds = ``runner_start_s + size_bytes / (load_gbps * 1e9)``: Ollama starts a runner
  process for every load (a few tenths of a second before any weight is read);
- loaded size = weights + KV cache, where the KV cache is
  ``num_parallel * context_length * kv_bytes_per_token`` and
  ``kv_bytes_per_token = 46_000 * sqrt(parameters in billions)`` (about 128 KiB for an 8B model,
  close to llama3's fp16 cache).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from herd_contract.model_names import normalize

GIB = 1024**3

Category = str
"""One of ``chat``, ``code``, ``embedding``, ``vision``, ``reasoning``, ``image``."""


@dataclass(frozen=True)
class ModelSpec:
    """One model as Ollama describes it."""

    name: str
    size: int
    parameter_size: str
    quantization: str
    family: str
    context_length: int
    category: Category
    capabilities: tuple[str, ...]
    embedding_length: int
    canonical: str = ""
    """The name whose blobs this one shares (``llama3.2:latest`` -> ``llama3.2:3b``)."""

    @property
    def parameters_b(self) -> float:
        text = self.parameter_size.upper().rstrip("B")
        if text.endswith("M"):
            return float(text[:-1]) / 1000
        return float(text)

    @property
    def digest(self) -> str:
        """The manifest digest (64 hex digits), shared by aliases of one model."""
        return hashlib.sha256(f"manifest:{self.canonical or self.name}".encode()).hexdigest()

    @property
    def blob_digest(self) -> str:
        source = f"blob:{self.canonical or self.name}".encode()
        return "sha256:" + hashlib.sha256(source).hexdigest()

    @property
    def blob_file(self) -> str:
        """The weights' file name in Ollama's blob store (``sha256-<hex>``): the path Ollama
        shows after ``FROM`` and orders evictions by."""
        return self.blob_digest.replace(":", "-", 1)

    @property
    def kv_bytes_per_token(self) -> int:
        return int(46_000 * math.sqrt(max(self.parameters_b, 0.02)))

    @property
    def is_embedding(self) -> bool:
        return self.category == "embedding"

    @property
    def makes_images(self) -> bool:
        return "image" in self.capabilities

    def loaded_size(self, context_length: int, num_parallel: int) -> int:
        """Bytes in memory once loaded: weights plus the KV cache of every parallel slot."""
        return self.size + num_parallel * context_length * self.kv_bytes_per_token


def _m(
    name: str,
    size: int,
    params: str,
    quant: str,
    family: str,
    ctx: int,
    category: Category,
    caps: tuple[str, ...],
    embedding_length: int,
) -> ModelSpec:
    return ModelSpec(name, size, params, quant, family, ctx, category, caps, embedding_length)


_CHAT = ("completion",)
_TOOLS = ("completion", "tools")
_THINK = ("completion", "tools", "thinking")
_VISION = ("completion", "vision")
_EMBED = ("embedding",)
_IMAGE = ("image",)
_ZIMAGE = "ZImagePipeline"
_KLEIN = "Flux2KleinPipeline"

_MODELS: list[ModelSpec] = [
    _m("llama3.2:1b", 1_321_098_329, "1.2B", "Q8_0", "llama", 131072, "chat", _TOOLS, 2048),
    _m("llama3.2:3b", 2_019_393_189, "3.2B", "Q4_K_M", "llama", 131072, "chat", _TOOLS, 3072),
    _m("llama3.1:8b", 4_920_753_328, "8.0B", "Q4_K_M", "llama", 131072, "chat", _TOOLS, 4096),
    _m("llama3.3:70b", 42_520_413_916, "70.6B", "Q4_K_M", "llama", 131072, "chat", _TOOLS, 8192),
    _m("mistral:7b", 4_113_301_824, "7.2B", "Q4_K_M", "llama", 32768, "chat", _TOOLS, 4096),
    _m("phi4:14b", 9_053_116_391, "14.7B", "Q4_K_M", "phi3", 16384, "chat", _CHAT, 5120),
    _m("qwen2.5-coder:7b", 4_683_087_332, "7.6B", "Q4_K_M", "qwen2", 32768, "code", _TOOLS, 3584),
    _m(
        "qwen2.5-coder:32b", 19_851_349_669, "32.8B", "Q4_K_M", "qwen2", 32768, "code", _TOOLS, 5120
    ),
    _m("qwen3:0.6b", 522_653_767, "751.63M", "Q4_K_M", "qwen3", 40960, "reasoning", _THINK, 1024),
    _m("qwen3:8b", 5_225_388_164, "8.2B", "Q4_K_M", "qwen3", 40960, "reasoning", _THINK, 4096),
    _m("qwen3:32b", 20_201_253_588, "32.8B", "Q4_K_M", "qwen3", 40960, "reasoning", _THINK, 5120),
    _m(
        "deepseek-r1:14b",
        8_988_112_040,
        "14.8B",
        "Q4_K_M",
        "qwen2",
        131072,
        "reasoning",
        ("completion", "thinking"),
        5120,
    ),
    _m(
        "gpt-oss:20b", 13_780_173_734, "20.9B", "MXFP4", "gptoss", 131072, "reasoning", _THINK, 2880
    ),
    _m("gemma3:4b", 3_338_801_804, "4.3B", "Q4_K_M", "gemma3", 131072, "vision", _VISION, 2560),
    _m("gemma3:27b", 17_396_936_941, "27.4B", "Q4_K_M", "gemma3", 131072, "vision", _VISION, 5376),
    _m("llava:7b", 4_733_363_377, "7B", "Q4_0", "llama", 32768, "vision", _VISION, 4096),
    _m(
        "nomic-embed-text:latest",
        274_302_450,
        "137M",
        "F16",
        "nomic-bert",
        2048,
        "embedding",
        _EMBED,
        768,
    ),
    _m(
        "mxbai-embed-large:latest",
        669_615_493,
        "334M",
        "F16",
        "bert",
        512,
        "embedding",
        _EMBED,
        1024,
    ),
    _m("all-minilm:latest", 45_960_996, "23M", "F16", "bert", 512, "embedding", _EMBED, 384),
    # Ollama's image-generation models (0.14.3 to 0.32.5): safetensors, capability "image", the
    # diffusion pipeline's class as the family, no context window. Sizes approximate the library's.
    _m("x/z-image-turbo:latest", 12_500_000_000, "6B", "FP8", _ZIMAGE, 0, "image", _IMAGE, 0),
    _m("x/flux2-klein:latest", 8_300_000_000, "4B", "FP8", _KLEIN, 0, "image", _IMAGE, 0),
]

_ALIASES = {
    "llama3.2:latest": "llama3.2:3b",
    "llama3.1:latest": "llama3.1:8b",
    "llama3.3:latest": "llama3.3:70b",
    "mistral:latest": "mistral:7b",
    "phi4:latest": "phi4:14b",
    "qwen2.5-coder:latest": "qwen2.5-coder:7b",
    "qwen3:latest": "qwen3:8b",
    "deepseek-r1:latest": "deepseek-r1:14b",
    "gpt-oss:latest": "gpt-oss:20b",
    "gemma3:latest": "gemma3:4b",
    "llava:latest": "llava:7b",
    "nomic-embed-text:v1.5": "nomic-embed-text:latest",
    "mxbai-embed-large:335m": "mxbai-embed-large:latest",
}


def _build_catalogue() -> dict[str, ModelSpec]:
    table = {spec.name: spec for spec in _MODELS}
    for alias, target in _ALIASES.items():
        base = table[target]
        table[alias] = ModelSpec(
            alias,
            base.size,
            base.parameter_size,
            base.quantization,
            base.family,
            base.context_length,
            base.category,
            base.capabilities,
            base.embedding_length,
            canonical=target,
        )
    return table


CATALOGUE: dict[str, ModelSpec] = _build_catalogue()
"""Every model the simulated registry can pull, keyed by normalised name."""


def find_model(name: str) -> ModelSpec | None:
    """The catalogue entry for ``name`` (normalised), or None."""
    return CATALOGUE.get(normalize(name))


@dataclass(frozen=True)
class Profile:
    """A simulated device and the Ollama server on it."""

    name: str
    description: str
    memory_gb: float
    """Memory Ollama may fill with models (weights + KV cache)."""
    bandwidth_gbps: float
    load_gbps: float
    download_mbps: float
    models: tuple[str, ...]
    num_parallel: int = 1
    max_loaded_models: int = 3
    efficiency: float = 0.7
    prompt_factor: float = 10.0
    max_tps: float = 300.0
    batch_penalty: float = 0.25
    """Per-request slowdown for each other request generating on the same model at once."""
    runner_start_s: float = 0.7
    """Fixed cost of every cold load: starting Ollama's runner process and allocating buffers."""
    hardware: dict[str, str] = field(default_factory=dict)
    """The simulated device's platform, arch and chip, reported instead of the host's."""
    cpu_cores: int = 8
    disk_gb: float = 1000.0
    """The simulated disk (decimal GB); the models on it use part of it."""

    def decode_tps(self, spec: ModelSpec) -> float:
        raw = self.bandwidth_gbps * 1e9 * self.efficiency / max(spec.size, 1)
        return min(raw, self.max_tps)

    def prompt_tps(self, spec: ModelSpec) -> float:
        return self.decode_tps(spec) * self.prompt_factor

    def load_seconds(self, spec: ModelSpec) -> float:
        return self.runner_start_s + spec.size / (self.load_gbps * 1e9)

    def download_seconds(self, nbytes: int) -> float:
        return nbytes / (self.download_mbps * 1e6)


PROFILES: dict[str, Profile] = {
    "workstation": Profile(
        name="workstation",
        description="128 GB unified memory, 800 GB/s: holds a 70B model beside several others",
        memory_gb=128,
        bandwidth_gbps=800,
        load_gbps=6.0,
        runner_start_s=0.5,
        download_mbps=200,
        num_parallel=4,
        max_loaded_models=4,
        prompt_factor=12,
        models=(
            "llama3.3:70b",
            "qwen3:32b",
            "qwen2.5-coder:32b",
            "gemma3:27b",
            "gpt-oss:20b",
            "deepseek-r1:14b",
            "llama3.1:8b",
            "qwen3:8b",
            "qwen2.5-coder:7b",
            "gemma3:4b",
            "llama3.2:3b",
            "nomic-embed-text:latest",
            "mxbai-embed-large:latest",
        ),
        hardware={"platform": "darwin", "arch": "arm64", "cpu_model": "Simulated M-Ultra"},
        cpu_cores=24,
        disk_gb=2000,
    ),
    "laptop": Profile(
        name="laptop",
        description="32 GB unified memory, 200 GB/s: mid-size models, one or two at a time",
        memory_gb=32,
        bandwidth_gbps=200,
        load_gbps=3.0,
        runner_start_s=0.7,
        download_mbps=80,
        num_parallel=2,
        max_loaded_models=3,
        prompt_factor=10,
        models=(
            "deepseek-r1:14b",
            "llama3.1:8b",
            "qwen3:8b",
            "qwen2.5-coder:7b",
            "mistral:7b",
            "gemma3:4b",
            "llama3.2:3b",
            "nomic-embed-text:latest",
        ),
        hardware={"platform": "darwin", "arch": "arm64", "cpu_model": "Simulated M-Pro"},
        cpu_cores=12,
        disk_gb=1000,
    ),
    "mini": Profile(
        name="mini",
        description="16 GB, 100 GB/s, slow: small models only",
        memory_gb=16,
        bandwidth_gbps=100,
        load_gbps=1.5,
        runner_start_s=1.0,
        download_mbps=40,
        num_parallel=1,
        max_loaded_models=2,
        prompt_factor=6,
        models=(
            "llama3.1:8b",
            "llama3.2:3b",
            "llama3.2:1b",
            "qwen3:0.6b",
            "nomic-embed-text:latest",
            "all-minilm:latest",
        ),
        hardware={"platform": "linux", "arch": "x86_64", "cpu_model": "Simulated mini PC"},
        cpu_cores=8,
        disk_gb=512,
    ),
    "gpu": Profile(
        name="gpu",
        description="24 GB VRAM discrete GPU, 1000 GB/s: very fast, little memory",
        memory_gb=24,
        bandwidth_gbps=1000,
        load_gbps=4.0,
        download_mbps=120,
        num_parallel=4,
        max_loaded_models=3,
        prompt_factor=20,
        models=(
            "qwen2.5-coder:7b",
            "llama3.1:8b",
            "qwen3:8b",
            "gemma3:4b",
            "llama3.2:3b",
            "nomic-embed-text:latest",
        ),
        hardware={"platform": "linux", "arch": "x86_64", "cpu_model": "Simulated GPU box"},
        cpu_cores=16,
        disk_gb=2000,
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; raises KeyError listing the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
