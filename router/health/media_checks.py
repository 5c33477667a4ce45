"""Image-generation and transcription checks over the window's ``TrafficStats.media``: how many
jobs each kind served and how many failed, with the last failure's message.

Owns those checks' logic and wording: an ``info`` finding reports the activity, a ``warning`` (or
``critical``) one the failures once they pass the rate thresholds the other traffic checks use. It
must never read a clock, the network, the database or the environment.
"""

from __future__ import annotations

from .findings import pct, rate_severity, window_text
from .model import Findings, HealthCheck, HealthInputs, TrafficStats
from .registry import health_check
from .thresholds import ERROR_MIN_COUNT, ERROR_RATE_CRITICAL, ERROR_RATE_WARNING

FAILED = ("failed", "rejected", "incomplete")
_NAMES = {
    "image": ("Image generation", "images", "POST /api/generate-image"),
    "transcribe": ("Transcription", "transcriptions", "POST /api/transcribe"),
}
_FIXES = {
    "image": (
        "See which node and backend fail in /dashboard/api/traces (kind image) and the node's "
        "backends in /fleet/status; an mflux timeout needs a longer timeout_s in the node's "
        "backends.json or fewer steps."
    ),
    "transcribe": (
        "See which node and backend fail in /dashboard/api/traces (kind transcribe) and the "
        "node's backends in /fleet/status; check the upload's format and that the speech server "
        "(mlx-qwen3-asr serve or a whisper server) answers."
    ),
}


def _findings(kind: str, t: TrafficStats) -> Findings:
    entry = t.media.get(kind)
    if not entry:
        return []
    by_status = dict(entry.get("by_status", {}))
    jobs = sum(n for status, n in by_status.items() if status != "retried")
    failed = sum(by_status.get(status, 0) for status in FAILED)
    name, plural, endpoint = _NAMES[kind]
    severity = rate_severity(
        failed,
        jobs,
        min_count=ERROR_MIN_COUNT,
        levels=((ERROR_RATE_CRITICAL, "critical"), (ERROR_RATE_WARNING, "warning")),
    )
    data = {"jobs": jobs, "failed": failed, "retried": by_status.get("retried", 0)}
    window = window_text(t.window_s)
    if severity is None:
        return [
            HealthCheck(
                check_id=f"{kind}_activity",
                severity="info",
                title=f"{name}: {jobs} {plural} {window}",
                description=(
                    f"{by_status.get('completed', 0)} of {jobs} {plural} through {endpoint} "
                    f"completed {window}; {failed} failed."
                ),
                fix="Nothing to do.",
                data=data,
            )
        ]
    last = entry.get("last_error") or "no message"
    return [
        HealthCheck(
            check_id=f"{kind}_failures",
            severity=severity,
            title=f"{name} fails often",
            description=(
                f"{failed} of {jobs} {plural} failed {window} ({pct(failed / jobs)}); the last "
                f"error: {last}"
            ),
            fix=_FIXES[kind],
            data={**data, "last_error": last},
        )
    ]


@health_check
def check_image_generation(inputs: HealthInputs) -> Findings:
    """Image generation serves its jobs: activity, and failures past the error thresholds."""
    return _findings("image", inputs.traffic)


@health_check
def check_transcription(inputs: HealthInputs) -> Findings:
    """Transcription serves its jobs: activity, and failures past the error thresholds."""
    return _findings("transcribe", inputs.traffic)
