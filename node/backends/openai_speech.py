"""A server speaking OpenAI's ``POST /v1/audio/transcriptions`` (whisper.cpp's server,
faster-whisper servers) as a speech-to-text backend.

Owns ``OpenAITranscriptions``: uploads the audio as multipart ``file`` with ``model``,
``response_format=verbose_json`` and ``language`` when given, and maps ``{text, language, duration,
segments[{start, end, text}]}`` into a ``Transcript`` (a server that answers only ``{text}`` gives
a transcript without chunks).
"""

from __future__ import annotations

import time
from typing import Any

from .http import ServedModels
from .jobs import (
    AudioJob,
    BackendError,
    Transcript,
    TranscriptChunk,
)


def chunks_from(items: Any) -> list[TranscriptChunk]:
    """``[{text, start, end}, ...]`` (segments or chunks) as chunks; malformed items skipped."""
    chunks: list[TranscriptChunk] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            chunks.append(
                TranscriptChunk(
                    str(item.get("text", "")).strip(), float(item["start"]), float(item["end"])
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return chunks


def transcript_from(payload: Any, job: AudioJob, seconds: float) -> Transcript:
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise BackendError("the transcription server's answer has no text")
    duration = payload.get("duration")
    return Transcript(
        text=payload["text"].strip(),
        language=str(payload.get("language") or job.language or ""),
        model=job.model,
        seconds=seconds,
        duration=float(duration) if isinstance(duration, int | float) else None,
        chunks=chunks_from(payload.get("segments")),
    )


class OpenAITranscriptions(ServedModels):
    kind = "stt"
    adapter = "openai"

    async def transcribe(self, job: AudioJob) -> Transcript:
        fields = {"model": job.model, "response_format": "verbose_json"}
        if job.language:
            fields["language"] = job.language
        files = {"file": (job.filename, job.audio, job.content_type)}
        async with self.occupancy.slot():
            started = time.perf_counter()
            response = await self.server.call(
                lambda: self.server.client.post(
                    "/v1/audio/transcriptions", data=fields, files=files
                )
            )
            seconds = time.perf_counter() - started
        try:
            payload = response.json()
        except ValueError:
            raise BackendError("the transcription server did not answer JSON") from None
        return transcript_from(payload, job, seconds)
