"""Version strings as Ollama and herd's agents report them, made comparable.

Owns ``parse_version`` (``"v0.14.2-rc1"`` -> ``(0, 14, 2)``, ``None`` when it does not start with
a number) and ``version_key`` (a sort key that puts unparsable versions first). Pure.
"""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(version: str) -> tuple[int, int, int] | None:
    """Major, minor and patch (missing parts are 0); ``None`` when there is no number."""
    match = _VERSION_RE.match(version)
    if not match:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def version_key(version: str) -> tuple[int, int, int, str]:
    """Sort key: by number, unparsable versions first, the text breaking ties."""
    return (*(parse_version(version) or (-1, -1, -1)), version)
