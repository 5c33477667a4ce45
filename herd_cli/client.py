"""The terminal client's link to a router: base URL, keys, and failures a person can read.

Reads send ``HERD_API_KEY`` (or the admin key when only that is set), changes send
``HERD_ADMIN_KEY``, both as ``Authorization: Bearer``. Every failure becomes a ``CliError`` with
the exit code the command ends with: 3 when nothing answered, 1 when the router refused or failed.
Never a traceback for a refused connection, a 401/403 or a 404.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_ROUTER_URL = "http://localhost:11435"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
READ_TIMEOUT_S = 15.0


class CliError(Exception):
    """A failure to report in one or two lines, with the exit code to end with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def error_text(body: Any) -> str:
    """The message inside an Ollama, OpenAI or Anthropic error body, or the body itself."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    if isinstance(body, str):
        return body.strip() or "no details"
    return json.dumps(body)


def _hint(status: int, admin: bool) -> str:
    if status == 401:
        key = "HERD_ADMIN_KEY" if admin else "HERD_API_KEY"
        return f" (set {key} to the router's key)"
    if status == 403 and admin:
        return " (set HERD_ADMIN_KEY, or run the command on the router's own machine)"
    return ""


class RouterClient:
    """Blocking JSON calls to one router; a command makes a handful, so no pooling tricks."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        admin_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("HERD_ROUTER_URL") or DEFAULT_ROUTER_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("HERD_API_KEY")
        self.admin_key = admin_key if admin_key is not None else os.environ.get("HERD_ADMIN_KEY")
        self._http = httpx.Client(base_url=self.url, timeout=READ_TIMEOUT_S, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _headers(self, admin: bool) -> dict[str, str]:
        key = (self.admin_key or self.api_key) if admin else (self.api_key or self.admin_key)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _unreachable(self, exc: httpx.TransportError) -> CliError:
        return CliError(
            f"cannot reach the router at {self.url} ({type(exc).__name__}).\n"
            "Start it with `herd` (or `herd demo` for a simulated fleet), or point --router-url "
            "or HERD_ROUTER_URL at a running one.",
            EXIT_UNREACHABLE,
        )

    def _checked(self, response: httpx.Response, admin: bool) -> Any:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            message = error_text(body)
            raise CliError(
                f"the router answered {response.status_code}: {message}"
                f"{_hint(response.status_code, admin)}"
            )
        return body

    def get(self, path: str, params: dict[str, Any] | None = None, admin: bool = False) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.get(path, params=query, headers=self._headers(admin))
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return self._checked(response, admin)

    def post(self, path: str, body: dict[str, Any], admin: bool = False) -> Any:
        try:
            response = self._http.post(path, json=body, headers=self._headers(admin))
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return self._checked(response, admin)

    def stream(self, path: str, body: dict[str, Any], admin: bool = False) -> Iterator[Any]:
        """The JSON lines of a streamed answer (NDJSON), each decoded; an error line raises."""
        try:
            with self._http.stream(
                "POST", path, json=body, headers=self._headers(admin), timeout=None
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self._checked(response, admin)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict) and "error" in item:
                        raise CliError(f"the router reported: {error_text(item)}")
                    yield item
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
