"""Text layout for the terminal: sizes, durations, ages, tables and bars that fit 80 columns.

Pure: values in, strings out. Whether colour or in-place redrawing is used is decided by the
caller (``herd_cli.terminal``); here a bar has a plain ASCII form for pipes and files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

WIDTH = 80
GB = 1e9
ELLIPSIS = "~"


def human_bytes(n: float | None) -> str:
    """Decimal units, as ``ollama list`` prints them: ``4.7 GB``, ``873 MB``."""
    if n is None:
        return "-"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


def human_gb(gb: float | None) -> str:
    return "-" if gb is None else human_bytes(gb * GB)


def human_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _span(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


def ago(then: float | None, now: float, short: bool = False) -> str:
    if then is None:
        return "-"
    if short:
        seconds = max(now - then, 0.0)
        for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{int(seconds // size)}{unit} ago"
        return f"{int(seconds)}s ago"
    return "just now" if now - then < 60 else f"{_span(now - then)} ago"


def until(then: float | None, now: float) -> str:
    if then is None:
        return "-"
    if then - now > 10 * 365 * 86_400:
        return "forever"
    return "now" if then <= now else f"{_span(then - now)} from now"


def parse_time(value: object) -> float | None:
    """An ISO-8601 time (Ollama's ``modified_at``/``expires_at``) or epoch seconds, as epoch."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Go prints nanoseconds; Python takes at most microseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH) -> list[str]:
    """Left-aligned columns two spaces apart; the widest columns give way until the line fits."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    gap = 2 * (len(widths) - 1)
    while sum(widths) + gap > width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        floor = max(len(headers[widest]), 6)
        if widths[widest] <= floor:
            break
        widths[widest] -= 1
    lines = []
    for row in [list(headers), *[list(r) for r in rows]]:
        cells = [clip(cell, widths[i]).ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def bar(fraction: float, width: int, fancy: bool) -> str:
    """A progress bar: block characters on a terminal, ``#`` and ``.`` elsewhere."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    if fancy:
        return "\u2595" + "\u2588" * filled + " " * (width - filled) + "\u258f"
    return "[" + "#" * filled + "." * (width - filled) + "]"


def meter(used: float | None, total: float | None, width: int = 10, fancy: bool = False) -> str:
    if not used or not total:
        return bar(0.0, width, fancy)
    return bar(used / total, width, fancy)
