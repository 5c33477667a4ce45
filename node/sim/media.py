"""The simulator's image and speech engines: their models, physics and one-job-at-a-time slots.

Owns ``ImageEngine`` (seconds per image from its size and steps, like mflux on the profile's GPU)
and ``SpeechEngine`` (seconds per file from the audio's length times a real-time factor, like
Qwen3-ASR), each running one job at a time with the rest waiting in arrival order, and the content
they return: a PNG from ``png`` and a deterministic transcript with chunk timings. Delays go
through the Ollama engine's ``sleep`` so ``time_scale`` applies to them too. No HTTP here.
"""

from __future__ import annotations

import hashlib
import io
import wave
from collections.abc import Awaitable, Callable

from node.backends.occupancy import Occupancy

from .png import render_png

IMAGE_MODELS: dict[str, int] = {"z-image-turbo": 9, "flux-schnell": 4, "flux-dev": 20}
"""Image models the simulator knows, with their default number of steps."""
SPEECH_MODELS = ("qwen3-asr",)

# Per profile: seconds per step per megapixel, and the speech real-time factor.
_STEP_SECONDS_PER_MP = {"workstation": 0.35, "laptop": 0.9, "mini": 1.6}
_REAL_TIME_FACTOR = {"workstation": 0.04, "laptop": 0.1, "mini": 0.18}
IMAGE_SETUP_S = 1.5
"""Model load and VAE decode, per image."""
SPEECH_SETUP_S = 0.3
COMPRESSED_BYTES_PER_S = 16_000
"""How long a compressed file (mp3 at 128 kbit/s) lasts per byte, when it is not a WAV."""
CHUNK_S = 10.0
WORDS_PER_S = 2.5
_WORDS = tuple(
    [
        "the",
        "fleet",
        "routes",
        "every",
        "request",
        "to",
        "the",
        "device",
        "that",
        "will",
        "finish",
        "it",
        "first",
        "while",
        "images",
        "and",
        "speech",
        "share",
        "the",
        "same",
        "queues",
        "traces",
        "and",
        "health",
        "checks",
        "across",
        "the",
        "home",
        "lab",
    ]
)

Sleep = Callable[[float], Awaitable[None]]


class UnknownModel(Exception):
    pass


def image_seconds(profile: str, width: int, height: int, steps: int) -> float:
    """Modelled seconds for one image: setup plus steps scaled by the megapixels."""
    per_mp = _STEP_SECONDS_PER_MP.get(profile, _STEP_SECONDS_PER_MP["laptop"])
    return IMAGE_SETUP_S + steps * per_mp * (width * height / 1_000_000)


def audio_duration(audio: bytes) -> float:
    """Seconds of audio: exact for a WAV, from the byte count for a compressed file."""
    if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(audio)) as reader:
                frames: int = reader.getnframes()
                rate: int = reader.getframerate()
                return frames / float(rate or 1)
        except (wave.Error, EOFError):
            pass
    return len(audio) / COMPRESSED_BYTES_PER_S


def speech_seconds(profile: str, duration: float) -> float:
    rtf = _REAL_TIME_FACTOR.get(profile, _REAL_TIME_FACTOR["laptop"])
    return SPEECH_SETUP_S + duration * rtf


def transcript_chunks(audio: bytes, duration: float) -> list[tuple[str, float, float]]:
    """Deterministic words for ``audio``: ``WORDS_PER_S``, cut into ``CHUNK_S`` pieces."""
    digest = hashlib.sha256(audio).digest()
    chunks: list[tuple[str, float, float]] = []
    start = 0.0
    index = 0
    while start < duration or not chunks:
        end = min(start + CHUNK_S, max(duration, 0.1))
        count = max(1, round((end - start) * WORDS_PER_S))
        words = [
            _WORDS[(digest[(index + i) % len(digest)] + index + i) % len(_WORDS)]
            for i in range(count)
        ]
        chunks.append((" ".join(words).capitalize() + ".", round(start, 3), round(end, 3)))
        index += count
        start = end
    return chunks


class ImageEngine:
    def __init__(self, profile: str, sleep: Sleep, models: list[str] | None = None) -> None:
        self.profile = profile
        self._sleep = sleep
        self.models = list(models) if models is not None else list(IMAGE_MODELS)
        self.lane = Occupancy(1)

    def default_steps(self, model: str) -> int:
        return IMAGE_MODELS.get(model, 4)

    async def generate(
        self, model: str, prompt: str, width: int, height: int, steps: int | None, seed: int
    ) -> tuple[bytes, float]:
        """The PNG and the modelled seconds it took, after waiting for the one slot."""
        if model not in self.models:
            raise UnknownModel(model)
        steps = steps or self.default_steps(model)
        seconds = image_seconds(self.profile, width, height, steps)
        async with self.lane.slot():
            await self._sleep(seconds)
        return render_png(width, height, seed, prompt), seconds


class SpeechEngine:
    def __init__(self, profile: str, sleep: Sleep, models: list[str] | None = None) -> None:
        self.profile = profile
        self._sleep = sleep
        self.models = list(models) if models is not None else list(SPEECH_MODELS)
        self.lane = Occupancy(1)

    async def transcribe(
        self, model: str, audio: bytes
    ) -> tuple[list[tuple[str, float, float]], float, float]:
        """Chunks, audio duration and modelled seconds, after waiting for the one slot."""
        if model not in self.models:
            raise UnknownModel(model)
        duration = audio_duration(audio)
        seconds = speech_seconds(self.profile, duration)
        async with self.lane.slot():
            await self._sleep(seconds)
        return transcript_chunks(audio, duration), duration, seconds
