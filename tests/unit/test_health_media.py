"""The health engine's image and transcription checks: activity as info, failures past the error
thresholds as warnings naming the last error."""

from __future__ import annotations

from router import health
from router.health.model import HealthInputs, TrafficStats


def evaluate(media: dict[str, dict[str, object]]) -> dict[str, health.HealthCheck]:
    inputs = HealthInputs(nodes=[], router_version="t", now=0.0, traffic=TrafficStats(media=media))
    found = health.check_image_generation(inputs) + health.check_transcription(inputs)
    return {c.check_id: c for c in found}


def test_no_jobs_no_findings() -> None:
    assert evaluate({}) == {}


def test_activity_is_reported() -> None:
    found = evaluate({"image": {"by_status": {"completed": 12, "failed": 1}, "last_error": "x"}})
    image = found["image_activity"]
    assert image.severity == "info" and image.data == {"jobs": 13, "failed": 1, "retried": 0}
    assert "12 of 13 images" in image.description


def test_failures_past_the_threshold_warn_with_the_last_error() -> None:
    media = {
        "transcribe": {"by_status": {"completed": 24, "failed": 16}, "last_error": "timed out"}
    }
    speech = evaluate(media)["transcribe_failures"]
    assert speech.severity in ("warning", "critical")
    assert speech.data["last_error"] == "timed out" and "16 of 40" in speech.description
