"""The dashboard page in a real browser: time until each view is interactive, and screenshots.

Seeds a data directory with a history of traces (100,000 over 30 days for the timing; the store
benchmark's workload, its nodes and models renamed to the demo fleet's), starts ``herd demo`` on
it (a router and three simulated nodes), sends a little live traffic, and drives Debian's
headless Chromium with Playwright.

- ``python -m bench.pages`` (part of ``make bench``): for every view, a fresh page is opened on
  ``/dashboard/<view>`` and timed from navigation start until the view has rendered its data
  (``main[data-ready]``: the page's API calls answered and the DOM built). Target: under one
  second for every view. Writes ``bench/results/pages.json``.
- ``python -m bench.pages --screenshots`` (``make screenshots``): a PNG of every view, wide
  (1280 px) and phone-width (390 px), into ``docs/screenshots/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.store import NODES, seeded_traces
from router.api.pages import VIEWS
from router.store import TraceStore

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pages.json"
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_NODES = ("demo-workstation", "demo-laptop", "demo-mini")
DEMO_MODELS = ("llama3.2:3b", "qwen3:8b", "llama3.3:70b", "qwen2.5-coder:7b", "nomic-embed-text")
ROWS = 100_000
SHOT_ROWS = 20_000
RUNS = 5
TARGET_MS = 1000.0
WIDE: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(data_dir: Path, rows: int) -> None:
    """``rows`` traces of the demo fleet's nodes and models over the last 30 days."""
    node_names = dict(zip(NODES, (*DEMO_NODES, *DEMO_NODES), strict=False))
    models: dict[str, str] = {}
    store = TraceStore(data_dir / "latency.db", retention_days=31, max_buffer=rows)
    await store.open()
    for trace in seeded_traces(rows, time.time()):
        model = models.setdefault(trace.model, DEMO_MODELS[len(models) % len(DEMO_MODELS)])
        node = node_names.get(trace.node_id or "")
        store.record(dataclasses.replace(trace, model=model, original_model=model, node_id=node))
    await store.close()


@contextlib.contextmanager
def demo_fleet(rows: int) -> Iterator[str]:
    """``herd demo`` on a fresh data directory holding ``rows`` seeded traces; yields its URL."""
    data_dir = Path(tempfile.mkdtemp(prefix="herd-bench-pages-"))
    begun = time.perf_counter()
    asyncio.run(_seed(data_dir, rows))
    print(f"seeded {rows} traces in {time.perf_counter() - begun:.1f}s", flush=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "router", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait(lambda: httpx.get(f"{url}/fleet/status").json()["fleet"]["nodes_online"] == 3)
        _traffic(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait(ready: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            if ready():
                return
        time.sleep(0.2)
    raise TimeoutError("the demo fleet did not come up")


def _traffic(url: str) -> None:
    """Live requests from three apps, so models are loaded and the newest traces are real."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for i, (model, tag) in enumerate(
            [("llama3.2:3b", "app:notes"), ("qwen3:8b", "app:coder"), ("llama3.2:1b", "app:chat")]
            * 3
        ):
            client.post(
                "/api/chat",
                headers={"X-Herd-Tags": tag},
                json={"model": model, "messages": [{"role": "user", "content": f"hello {i}"}]},
            ).raise_for_status()
        client.post(
            "/dashboard/api/benchmarks/start",
            json={"models": ["llama3.2:3b"], "duration_s": 2, "concurrency": 2},
        ).raise_for_status()
        _wait(lambda: client.get("/dashboard/api/benchmarks").json()["runs"][0]["results"])


def _ready_ms(page: Any, view: str) -> float:
    page.goto(f"/dashboard/{view}")
    page.wait_for_selector(f"main[data-ready='{view}']", timeout=30_000)
    return float(page.evaluate("performance.now()"))


_DATA_MS = r"""() => Math.max(0, ...performance.getEntriesByType("resource")
    .filter((e) => /\/(dashboard\/api|dashboard\/events|fleet\/status)/.test(e.name))
    .map((e) => e.responseStart - e.requestStart))"""
"""The slowest of the view's data calls, from request sent to first byte back (the router's
share of the load time; the rest is the browser fetching, parsing and drawing the page)."""


def _switch_ms(page: Any, view: str) -> float:
    """Milliseconds from a click on the view's link (in an open dashboard) to its data shown."""
    page.evaluate(
        "(v) => { window.herdT0 = performance.now();"
        " document.querySelector(`#nav a[data-view='${v}']`).click(); }",
        view,
    )
    page.wait_for_selector(f"main[data-ready='{view}']", timeout=30_000)
    return float(page.evaluate("performance.now() - window.herdT0"))


def measure(url: str) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for view in VIEWS:
                times, data = [], []
                for _ in range(RUNS + 1):
                    context = browser.new_context(viewport=WIDE, base_url=url)
                    page = context.new_page()
                    times.append(_ready_ms(page, view))
                    data.append(float(page.evaluate(_DATA_MS)))
                    context.close()
                times, data = times[1:], data[1:]  # the first load warms the caches
                context = browser.new_context(viewport=WIDE, base_url=url)
                page = context.new_page()
                switches = []
                for _ in range(RUNS):
                    _ready_ms(page, "settings" if view != "settings" else "fleet")
                    switches.append(_switch_ms(page, view))
                context.close()
                rows.append(
                    {
                        "view": view,
                        "median_ms": round(statistics.median(times), 1),
                        "max_ms": round(max(times), 1),
                        "data_median_ms": round(statistics.median(data), 1),
                        "switch_median_ms": round(statistics.median(switches), 1),
                        "switch_max_ms": round(max(switches), 1),
                    }
                )
        finally:
            browser.close()
    return rows


def screenshots(url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            sizes: tuple[tuple[str, ViewportSize], ...] = (("", WIDE), ("-phone", PHONE))
            for suffix, viewport in sizes:
                context = browser.new_context(
                    viewport=viewport, base_url=url, color_scheme="light", device_scale_factor=1
                )
                page = context.new_page()
                for view in VIEWS:
                    _ready_ms(page, view)
                    page.wait_for_timeout(400)  # let the charts finish their first frame
                    path = SHOTS / f"{view}{suffix}.png"
                    page.screenshot(path=str(path))
                    written.append(path)
                context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--screenshots", action="store_true", help="write docs/screenshots/")
    args = parser.parse_args(argv)
    if args.screenshots:
        with demo_fleet(SHOT_ROWS) as url:
            for path in screenshots(url):
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    with demo_fleet(ROWS) as url:
        rows = measure(url)
    print(f"\nDashboard views in Chromium with {ROWS} traces (median of {RUNS} fresh loads)")
    print("cold: a fresh browser context opening /dashboard/<view>; data: its slowest API call;")
    print("switch: following the view's link in an open dashboard (what a user mostly does)")
    heads = ("cold med", "cold max", "data med", "switch med", "max")
    print(f"{'view':<16} " + " ".join(f"{h:>{max(9, len(h))}}" for h in heads))
    for row in rows:
        flag = "" if max(row["max_ms"], row["switch_max_ms"]) < TARGET_MS else "  MISSED"
        print(
            f"{row['view']:<16} {row['median_ms']:>9.1f} {row['max_ms']:>9.1f} "
            f"{row['data_median_ms']:>9.1f} {row['switch_median_ms']:>10.1f} "
            f"{row['switch_max_ms']:>9.1f}{flag}"
        )
    met = all(max(r["max_ms"], r["switch_max_ms"]) < TARGET_MS for r in rows)
    print(f"  {'met   ' if met else 'MISSED'} every view interactive in under {TARGET_MS:g} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    load = [round(x, 1) for x in os.getloadavg()]
    print(f"  machine load average while measured: {load}")
    RESULTS.write_text(
        json.dumps({"rows": ROWS, "views": rows, "target_met": met, "load": load}, indent=2)
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
