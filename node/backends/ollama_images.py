"""The image-generation models of the node's own Ollama, reported as an ``image`` backend.

Ollama runs image models (``x/z-image-turbo``, ``x/flux2-klein``) through its ``/api/generate``
from 0.14.3 (``width``, ``height``, ``steps`` in the request; ``image``, base64 PNG, in the answer)
until 0.32.6, which removed them: from then on it still lists and shows them (capability
``image``) but answers 400 to a generation. Owns ``split``: the models Ollama lists with the
``image`` capability are taken out of the LLM list (no chat or embedding goes to them) and become
one ``BackendReport`` of kind ``image``, adapter ``ollama``, whose ``url`` is the Ollama itself: the
router sends those jobs there in Ollama's shape, not through the agent's gateway. An Ollama whose
version cannot run them reports the backend unreachable, saying why. Pure.
"""

from __future__ import annotations

from herd_contract.heartbeat import AvailableModel
from herd_contract.versions import parse_version

from .jobs import BackendReport

CAPABILITY = "image"
SINCE = (0, 14, 3)
"""The first Ollama with image generation through ``/api/generate``."""
REMOVED_IN = (0, 32, 6)
"""The first Ollama without it."""


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def runs_images(version: str) -> str:
    """Why an Ollama reporting ``version`` cannot make images; "" when it can (or is unknown)."""
    parsed = parse_version(version)
    if parsed is None or SINCE <= parsed < REMOVED_IN:
        return ""
    if parsed < SINCE:
        return f"Ollama {version} cannot run image models (they need {_dotted(SINCE)} or later)"
    return (
        f"Ollama {version} lists image models but no longer runs them "
        f"(image generation was removed in {_dotted(REMOVED_IN)})"
    )


def is_image_model(model: AvailableModel) -> bool:
    return CAPABILITY in (model.capabilities or ())


def split(
    url: str, version: str, available: list[AvailableModel]
) -> tuple[list[AvailableModel], BackendReport | None]:
    """The LLM models of ``available``, and the image backend its image models make (None when
    there are none). Ollama runs one image at a time: capacity 1."""
    images = sorted(m.name for m in available if is_image_model(m))
    if not images:
        return available, None
    why = runs_images(version)
    report = BackendReport("image", "ollama", url, images, reachable=not why, detail=why)
    return [m for m in available if not is_image_model(m)], report
