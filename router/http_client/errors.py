"""The errors of the HTTP client: ``HTTPError`` and its subclasses, one per way a request fails.

Owns the exception hierarchy callers catch (``ConnectError``, the ``TimeoutException`` family,
``RemoteProtocolError``, ``ProtocolError``, ``ResponseClosed``; ``HTTPStatusError`` lives with
the response it carries) and ``StaleConnection``, the package's internal signal that a reused
connection was found closed before any response byte (the client sends once more, fresh; it is
not exported).

Never raises anything itself and never knows about Ollama or routing: ``router.upstream``
translates these into its own failures.
"""

from __future__ import annotations


class HTTPError(Exception):
    """Anything that went wrong talking HTTP to a server."""


class ConnectError(HTTPError):
    """No connection could be made (refused, unreachable, name not resolved)."""


class TimeoutException(HTTPError):
    """A timeout: connecting, waiting for a pool slot, or waiting for response bytes."""


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    pass


class RemoteProtocolError(HTTPError):
    """The server closed or reset the connection before the response was complete."""


class ProtocolError(HTTPError):
    """The server sent something that is not a valid HTTP/1.1 response."""


class ResponseClosed(HTTPError):
    """The body of a response was read after the response was closed."""


class StaleConnection(Exception):
    """A reused connection turned out closed before any response byte: send again, fresh."""
