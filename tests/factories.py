"""Builders for wire objects in tests: a heartbeat with sensible defaults and a few models (from
``bench/heartbeats.py``, which the benchmarks share) and a tool definition."""

from __future__ import annotations

from bench.heartbeats import GB, gb_bytes, heartbeat

__all__ = ["GB", "WEATHER_TOOL", "Clock", "gb_bytes", "heartbeat"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
"""An OpenAI-style tool definition the simulator knows how to call."""


class Clock:
    """A clock that moves only when the test moves it (``clock.now += seconds``)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
