"""The data directory's fitness, checked once before the router starts.

An unusable data directory (missing permissions, a read-only or full filesystem, a file in the
way) must end the start-up with one clear sentence, not a traceback from deep inside SQLite or
the logging set-up.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROBE_BYTES = 64 * 1024
"""The start-up probe writes this much, so a disk with almost no room left is refused too."""


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot hold the router's data, or ``None`` when it can."""
    probe = path / ".herd-write-probe"
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "logs").mkdir(exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None
