"""The work an image or speech backend does, and what it gives back, independent of the program.

Owns the job and result types every image and speech adapter speaks (``ImageJob`` ->
``ImageResult``, ``AudioJob`` -> ``Transcript``), what an adapter reports about itself
(``BackendReport``) and the typed failures an adapter raises (``BackendError`` and its kinds), each
with the HTTP status the gateway answers with. Plain data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

BackendKind = Literal["ollama", "openai", "image", "stt"]
KINDS: tuple[BackendKind, ...] = ("ollama", "openai", "image", "stt")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class ImageJob:
    model: str
    prompt: str
    width: int = 1024
    height: int = 1024
    steps: int | None = None
    seed: int | None = None
    negative_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class ImageResult:
    png: bytes
    model: str
    seconds: float
    """How long the backend took to make the image."""
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class AudioJob:
    model: str
    audio: bytes
    filename: str = "audio.wav"
    content_type: str = "application/octet-stream"
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptChunk:
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    model: str
    seconds: float
    duration: float | None = None
    """Length of the audio in seconds, when the backend says."""
    chunks: list[TranscriptChunk] = field(default_factory=list)


@dataclass(slots=True)
class BackendReport:
    """One backend as the heartbeat carries it."""

    kind: BackendKind
    adapter: str
    url: str
    models: list[str]
    reachable: bool = True
    capacity: int = 1
    """Jobs it runs at once."""
    busy: int = 0
    """Jobs running now (as far as this node knows)."""
    detail: str = ""


class BackendError(Exception):
    """A job the backend did not do; ``status`` is what the gateway answers with."""

    status = 502
    reason = "backend_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadJob(BackendError):
    """The job itself is wrong (unknown model, bad size); no other node would do better."""

    status = 400
    reason = "bad_request"


class BackendUnavailable(BackendError):
    """The program is missing or its server does not answer."""

    status = 503
    reason = "unavailable"


class BackendTimeout(BackendError):
    """The job took longer than the backend's timeout and was stopped."""

    status = 504
    reason = "timeout"


class ImageBackend(Protocol):
    """What the gateway needs from an image adapter."""

    adapter: str

    def serves(self, model: str) -> bool: ...

    async def report(self) -> BackendReport: ...

    async def generate(self, job: ImageJob) -> ImageResult: ...

    async def aclose(self) -> None: ...


class SpeechBackend(Protocol):
    """What the gateway needs from a speech-to-text adapter."""

    adapter: str

    def serves(self, model: str) -> bool: ...

    async def report(self) -> BackendReport: ...

    async def transcribe(self, job: AudioJob) -> Transcript: ...

    async def aclose(self) -> None: ...
