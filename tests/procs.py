"""Test helpers that start real processes on loopback ports and wait for them, boundedly.

The process helpers themselves (``Proc``, ``free_port``, ``wait_until``, ``wait_http_ok``,
``python_module``, ``ROOT``) live in ``bench/processes.py``, shared with the benchmarks (which must
not import the tests); this module adds what only tests use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from bench.processes import ROOT, Proc, free_port, python_module, wait_http_ok, wait_until

__all__ = [
    "ROOT",
    "Proc",
    "free_port",
    "get_json",
    "python_module",
    "running_sim",
    "wait_http_ok",
    "wait_until",
]


@contextlib.contextmanager
def running_sim(name: str, *flags: str) -> Iterator[str]:
    """A ``node.sim`` process on a free loopback port, started with ``flags``; yields its base URL
    once it answers, and stops it afterwards."""
    port = free_port()
    proc = Proc(python_module("node.sim", "--port", str(port), *flags), name=name)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(url + "/", proc)
        yield url
    finally:
        proc.stop()


def get_json(url: str, **kwargs: Any) -> Any:
    response = httpx.get(url, timeout=10.0, **kwargs)
    response.raise_for_status()
    return response.json()
