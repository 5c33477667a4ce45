"""Child processes that must not outlive the process that started them.

Used by ``herd-node`` for a simulator it runs as a child and by ``herd demo`` for its nodes.
Never starts anything itself.
"""

from __future__ import annotations

import contextlib
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in a child before exec: on Linux, get SIGTERM when the parent dies, even by SIGKILL,
    so no orphan is left behind. A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
