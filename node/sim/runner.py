"""Running the simulator: as an asyncio task, or in a background thread with its own loop.

Owns uvicorn's configuration for the simulator (quiet: warnings only, no access log) and the
lifecycle of an in-process server. Never changes the simulator's behaviour.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType

import uvicorn

from .engine import SimConfig
from .server import SimApp, Simulator, create_app


def uvicorn_config(app: SimApp, host: str = "127.0.0.1", port: int = 11434) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )


async def serve(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 11434
) -> None:
    """Serve a simulator until cancelled (for ``herd demo`` / ``herd-node --simulate``)."""
    server = uvicorn.Server(uvicorn_config(create_app(config), host, port))
    await server.serve()


class SimServer:
    """A simulator served by uvicorn on a background thread. Use as a context manager."""

    def __init__(
        self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = create_app(config)
        self.host = host
        self._server = uvicorn.Server(uvicorn_config(self.app, host, port))
        self._thread = threading.Thread(target=self._run, name="herd-sim", daemon=True)
        self.port = port

    @property
    def sim(self) -> Simulator:
        return self.app.sim

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self, timeout: float = 15.0) -> SimServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        servers = getattr(self._server, "servers", [])
        if servers and servers[0].sockets:
            self.port = servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> SimServer:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> SimServer:
    """Start a simulator on a background thread; port 0 picks a free one (see ``.url``)."""
    return SimServer(config, host, port).start()
