"""A small asynchronous HTTP/1.1 client for the router's hot path: pooled keep-alive connections.

Owns the sockets to the nodes: one bounded, LIFO keep-alive pool per origin, responses parsed by
``httptools`` (llhttp) straight from an ``asyncio.Protocol``, bodies handed to the consumer as
they arrive with backpressure (reading pauses while the consumer is behind). A connection goes
back to the pool only once its response was completely received and the server allowed
keep-alive; a response closed early closes its connection, which is how a node learns to stop
generating. A request that finds its reused connection already closed by the server, before any
response byte, is sent once more on a fresh connection; never after a response byte arrived.

Never knows about Ollama, routing or retries across nodes (``router.upstream`` does), never
follows redirects, never decodes content encodings, never sends ``HEAD`` (bodies are framed by
llhttp, which cannot be told a response has none), and never blocks the event loop.

Layout, each module importing only those before it: ``errors`` (``HTTPError`` and its
subclasses), ``headers`` (``Headers``), ``response`` (``Response`` and its body; declares the
``BodySource`` it is fed by), ``connection`` (one connection: protocol, parsing, backpressure,
timeouts; declares the ``ConnectionOwner`` it reports to), ``pool`` (the per-origin pool; declares
the ``PoolSettings`` it reads), ``client`` (``Client``). Modules talk through those public
interfaces, never through each other's private fields. This module only re-exports the public
API.
"""

from .client import Client
from .errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    ResponseClosed,
    TimeoutException,
)
from .headers import Headers
from .response import HTTPStatusError, Response

__all__ = [
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "PoolTimeout",
    "ProtocolError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Response",
    "ResponseClosed",
    "TimeoutException",
]
