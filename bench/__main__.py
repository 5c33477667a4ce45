"""``python -m bench`` (``make bench``): every benchmark in turn, each printing its figures.

Each module has a ``main()`` that writes its JSON to ``bench/results/``. A benchmark that fails
makes the whole run fail, after the others have run.
"""

from __future__ import annotations

import importlib
import sys
import traceback

BENCHMARKS = ("scoring", "store", "dashboard", "pages", "overhead", "fleet")


def main() -> int:
    failed: list[str] = []
    for name in BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        try:
            code = importlib.import_module(f"bench.{name}").main()
        except Exception:
            traceback.print_exc()
            code = 1
        if isinstance(code, int) and code != 0:  # some benchmarks return their figures instead
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
