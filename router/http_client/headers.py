"""Response headers as received: the raw ``(name, value)`` byte pairs, read as a mapping.

Owns ``Headers``: case-insensitive lookups (repeated names joined with ``", "``), built on first use
so a response whose headers nobody reads costs nothing, and ``multi_items`` for every pair.

Never parses or validates headers (llhttp did) and never interprets their meaning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """Response headers as received; case-insensitive lookups, the mapping built on first use."""

    __slots__ = ("_map", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._map: dict[str, str] | None = None

    def _mapping(self) -> dict[str, str]:
        if self._map is None:
            mapping: dict[str, str] = {}
            for name, value in self.raw:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                mapping[key] = f"{mapping[key]}, {text}" if key in mapping else text
            self._map = mapping
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._mapping()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._mapping()

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def multi_items(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"
