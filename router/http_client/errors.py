"""The errors of the HTTP client: ``HTTPError`` and its subclasses, one per way a request fails.

Owns the exception hierarchy callers catch (``ConnectError``, the ``TimeoutException`` family,
``RemoteProtocolError``, ``ProtocolError``, ``ResponseClosed``, ``HTTPStatusError``) and
``_StaleConnection``, the internal signal that a reused connection was found closed before any
response byte (the client sends once more, fresh; it never escapes the package).

Never raises anything itself and never knows about Ollama or routing: ``router.upstream``
translates these into its own failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .response import Response


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


class HTTPStatusError(HTTPError):
    """``raise_for_status`` on a 4xx/5xx response."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class _StaleConnection(Exception):
    """A reused connection turned out closed before any response byte: send again, fresh."""
