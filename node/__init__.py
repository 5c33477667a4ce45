"""herd-node: the agent that reports one device and its Ollama to the router, and the simulator."""

from herd_contract import __version__

__all__ = ["__version__"]
