"""The terminal the client writes to: is it one, how wide, and redrawing a screen in place.

The only module that knows about ANSI escapes. When stdout is not a terminal everything degrades
to plain appended lines, so pipes, files and tests get readable text.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from herd_cli.render import WIDTH

CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Terminal:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.fancy = bool(getattr(self.out, "isatty", lambda: False)())
        self.width = (
            min(shutil.get_terminal_size((WIDTH, 24)).columns, WIDTH) if self.fancy else WIDTH
        )
        self._drawn = 0

    def print(self, *lines: str) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def redraw(self, lines: list[str]) -> None:
        """Replace what the last ``redraw`` drew (terminal), or append (anything else)."""
        if self.fancy and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def screen(self, lines: list[str]) -> None:
        """A whole refreshed screen for ``--watch`` and ``top``."""
        if self.fancy:
            self.out.write(CLEAR_SCREEN)
        self.print(*lines)


def refresh(
    draw: Callable[[], list[str]],
    term: Terminal,
    interval: float,
    count: int | None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Draw every ``interval`` seconds until Ctrl-C, or ``count`` times when given."""
    shown = 0
    try:
        while count is None or shown < count:
            term.screen(draw())
            shown += 1
            if count is None or shown < count:
                sleep(interval)
    except KeyboardInterrupt:
        term.print("")


def confirm(question: str, term: Terminal, ask: Callable[[str], str] = input) -> bool:
    term.out.write(question + " [y/N] ")
    term.out.flush()
    try:
        answer = ask("")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
