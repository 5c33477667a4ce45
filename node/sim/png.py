"""Pictures the simulated image engines return: a valid PNG written with zlib and struct alone.

Owns ``render_png``: an RGB gradient whose colours follow the seed and the prompt, so two requests
that differ get different images and the same request gets the same one. No imaging library.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from node.backends.jobs import PNG_SIGNATURE

MAX_SIDE = 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def render_png(width: int, height: int, seed: int = 0, prompt: str = "") -> bytes:
    """A ``width`` x ``height`` RGB PNG: a diagonal gradient tinted by ``seed`` and ``prompt``."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image sides must be 1..{MAX_SIDE} pixels")
    tint = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    # One base row, three bytes per pixel; row y is the base row shifted by y pixels, so the
    # picture is built by slicing instead of a Python loop per pixel.
    period = width + height
    base = bytearray()
    for x in range(period):
        base += bytes(((x * 255 // period + tint[c]) & 0xFF) for c in range(3))
    rows = bytearray()
    for y in range(height):
        rows += b"\x00" + base[3 * y : 3 * (y + width)]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(bytes(rows), 6)),
            _chunk(b"IEND", b""),
        )
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header, or None when ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
