"""Structured logging for every herd process: JSON lines, one object per record.

The router writes them to ``<data dir>/logs/herd.jsonl`` and shows a concise console
(``configure_logging``); the node agent writes them to stderr (``log_json_lines``).

File writes happen on a background thread (a queue handler in front of a rotating file handler),
so logging never blocks the event loop. Per-request lines go to the file only; the console shows
what a person running ``herd`` wants to see (start-up, nodes joining and leaving, errors).
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from pathlib import Path
from typing import Any, TextIO

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
CONSOLE_FLAG = "console"
"""Pass ``extra={"console": True}`` to show a line on the console as well as in the file."""


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key != CONSOLE_FLAG:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname.lower():<7} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or bool(getattr(record, CONSOLE_FLAG, False))


class _CountedFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file whose write errors (a full or read-only disk) are counted, and reported on
    the console once, instead of a traceback on stderr for every line."""

    def handleError(self, record: logging.LogRecord) -> None:
        global _write_errors
        _write_errors += 1
        if _write_errors == 1:
            problem = sys.exc_info()[1]
            sys.stderr.write(
                f"herd: cannot write the log file {self.baseFilename}: {problem}; further log "
                "write errors are counted (health: log_write_errors), not printed\n"
            )


def log_write_errors() -> int:
    """Log lines the file handler failed to write since the process started."""
    return _write_errors


_write_errors = 0
_listener: logging.handlers.QueueListener | None = None


def configure_logging(
    log_path: Path, level: str = "info", max_bytes: int = 20_000_000, backups: int = 5
) -> None:
    """Route the ``herd`` loggers to the JSONL file (rotated) and the console."""
    global _listener
    stop_logging()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = _CountedFileHandler(
        log_path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    file_handler.setFormatter(JsonLineFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, file_handler, respect_handler_level=True)
    _listener.start()
    atexit.register(stop_logging)

    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(ConsoleFormatter())
    console.addFilter(_ConsoleFilter())

    root = logging.getLogger("herd")
    root.handlers[:] = [logging.handlers.QueueHandler(records), console]
    root.setLevel(level.upper())
    root.propagate = False


def log_json_lines(stream: TextIO, level: str = "info") -> None:
    """Route the ``herd`` loggers to ``stream`` as JSON lines (how the node agent logs)."""
    stop_logging()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger("herd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def stop_logging() -> None:
    """Flush and stop the background writer (idempotent)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
