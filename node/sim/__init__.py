"""The Ollama simulator: a faithful stand-in for an Ollama server, for demos, tests and benchmarks.

Public API::

    from node.sim import create_app, SimConfig
    app = create_app(SimConfig(profile="laptop", time_scale=0.05))   # an ASGI app for uvicorn
    app.sim.engine                                                     # the live physics

    with start_in_thread(SimConfig(profile="mini")) as server:        # a real server, port 0
        httpx.get(server.url + "/api/tags")

or ``python -m node.sim --port 11434 --profile workstation``. See ``server`` for the app wiring,
``ollama_api`` / ``openai_api`` for the endpoints, ``control`` for the ``/_sim`` hooks, ``exchange``
for disconnects and fault execution, ``engine`` for the physics, ``faults`` for the injectable
failures.
"""

from .catalogue import CATALOGUE, PROFILES, ModelSpec, Profile
from .engine import Engine, SimConfig
from .runner import SimServer, serve, start_in_thread
from .server import SimApp, Simulator, create_app

__all__ = [
    "CATALOGUE",
    "PROFILES",
    "Engine",
    "ModelSpec",
    "Profile",
    "SimApp",
    "SimConfig",
    "SimServer",
    "Simulator",
    "create_app",
    "serve",
    "start_in_thread",
]
