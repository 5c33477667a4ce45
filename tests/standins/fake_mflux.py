"""A stand-in for mflux's ``mflux-generate`` and ``mflux-generate-z-image-turbo``.

Takes the same arguments, writes a real PNG of the asked size to ``--output`` and exits 0, as
mflux does. It appends its argument vector to the JSON-lines file named by ``FAKE_MFLUX_LOG``.
``FAKE_MFLUX_MODE`` makes it misbehave: ``fail`` (a traceback and exit 1, like an out-of-memory
crash), ``garbage`` (writes text instead of a PNG), ``gate`` (waits until the file
``FAKE_MFLUX_GATE`` exists, bounded, before working; the tests use it to hold a job running),
``hang`` (never finishes on its own).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from node.sim.png import render_png


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", "-m")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--output", default="image.png")
    parser.add_argument("--quantize", "-q", type=int)
    parser.add_argument("--negative-prompt")
    args = parser.parse_args()
    log = os.environ.get("FAKE_MFLUX_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps({"argv": sys.argv, "cwd": os.getcwd()}) + "\n")
    mode = os.environ.get("FAKE_MFLUX_MODE", "")
    if mode == "gate":
        gate = Path(os.environ["FAKE_MFLUX_GATE"])
        deadline = time.monotonic() + 30
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    if mode == "hang":
        time.sleep(3600)
    if mode == "fail":
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: [metal::malloc] Attempting to allocate 9 GB", file=sys.stderr)
        return 1
    if mode == "garbage":
        Path(args.output).write_text("not an image")
        return 0
    Path(args.output).write_bytes(render_png(args.width, args.height, args.seed or 0, args.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
