"""herd's router: one Ollama- and OpenAI-compatible endpoint in front of a fleet of Ollama nodes."""

from herd_contract import __version__

__all__ = ["__version__"]
