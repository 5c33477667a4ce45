"""Suite-wide test set-up.

Every test talks plain HTTP to 127.0.0.1, and most calls are one-off ``httpx.get``/``httpx.post``,
each of which builds a new client, and with it a TLS context loaded from certifi's bundle (about
20 ms, thousands of times per run) that a plain-HTTP call never uses. The default context is
built once per test process instead; anything asking for another (``verify=False``, a context of
its own) still gets exactly what it asks for.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx._transports.default as httpx_transports

_build_context = httpx_transports.create_ssl_context


@functools.cache
def _default_context(trust_env: bool) -> ssl.SSLContext:
    return _build_context(verify=True, cert=None, trust_env=trust_env)


def _ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is True and cert is None:
        return _default_context(trust_env)
    return _build_context(verify=verify, cert=cert, trust_env=trust_env)


httpx_transports.create_ssl_context = _ssl_context  # type: ignore[assignment]
