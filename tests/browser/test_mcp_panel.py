"""The herd panel (herd-mcp's MCP App) in a real headless Chromium, hosted the way MCP Apps hosts
do it: a sandboxed iframe fed the resource's HTML, spoken to over postMessage (``ui/initialize``,
``ui/notifications/tool-result``, proxied ``tools/call``).

With sample results of ``fleet_status``, ``health`` and ``pull_model`` it must render the values,
escape hostile names (as text, never markup), ask the host (never the network) for a running
pull's progress, and make no request to any origin at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Frame, Page, Route

from herd_mcp.panel import panel_html

HOST = "http://host.test/"
HOST_PAGE = """<!DOCTYPE html><html><body><script>
window.log = []; window.calls = []; window.answers = [];
const frame = document.createElement("iframe");
frame.setAttribute("sandbox", "allow-scripts");
document.body.appendChild(frame);
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) { return; }
  const m = event.data;
  window.log.push(typeof m === "object" && m ? (m.method || "response") : String(m));
  const reply = (result) =>
    frame.contentWindow.postMessage({jsonrpc: "2.0", id: m.id, result}, "*");
  if (m.method === "ui/initialize") {
    reply({protocolVersion: "2026-01-26", hostInfo: {name: "test", version: "1"},
           hostCapabilities: {serverTools: {}}, hostContext: {}});
  } else if (m.method === "tools/call") {
    window.calls.push(m.params);
    reply(window.answers.shift() || {content: []});
  }
});
window.load = (html) => { frame.srcdoc = html; };
window.show = (data) => frame.contentWindow.postMessage(
  {jsonrpc: "2.0", method: "ui/notifications/tool-result",
   params: {content: [], structuredContent: data}}, "*");
</script></body></html>"""

EVIL = "<img src=x onerror=\"parent.postMessage('pwned', '*')\">"
FLEET = {
    "fleet": {"nodes_total": 2, "nodes_online": 1},
    "nodes": [
        {
            "node_id": EVIL,
            "status": "online",
            "memory": {"total_gb": 64.0, "used_gb": 21.5},
            "disk": {"free_gb": 812.3},
            "ollama": {"models_loaded": [{"name": "<script>alert(1)</script>", "size_gb": 4.9}]},
        },
        {"node_id": "laptop", "status": "offline", "memory": {"total_gb": 32}, "ollama": {}},
    ],
}
HEALTH = {
    "score": 62,
    "status": "warning",
    "checks": [
        {
            "check_id": "memory_pressure",
            "severity": "critical",
            "title": "Memory pressure on <b>mini</b>",
            "description": "1.2 GB available of 16 GB.",
            "fix": "Unload idle models.",
            "node_id": "mini",
        }
    ],
}


def job(state: str, percent: float | None, done: int) -> dict[str, Any]:
    return {
        "id": "pull-7",
        "model": "qwen3:8b",
        "node_id": "ws",
        "state": state,
        "percent": percent,
        "completed_bytes": done,
        "total_bytes": 5_200_000_000,
        "rate_bytes_per_s": 52_000_000.0,
        "eta_s": 60.0 if state == "running" else None,
    }


@pytest.fixture
def host(chromium: Any) -> Iterator[tuple[Page, list[str]]]:
    """The host page with the panel loaded and initialised; the list collects every request
    that left the page for anywhere but the host page itself."""
    context = chromium.new_context()
    outside: list[str] = []

    def route(request_route: Route) -> None:
        url = request_route.request.url
        if url == HOST:
            request_route.fulfill(status=200, content_type="text/html", body=HOST_PAGE)
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(HOST)
    page.evaluate("html => window.load(html)", panel_html())
    page.wait_for_function("window.log.includes('ui/notifications/initialized')", timeout=10_000)
    yield page, outside
    assert dialogs == []
    context.close()


def panel(page: Page) -> Frame:
    return next(f for f in page.frames if f != page.main_frame)


def show(page: Page, data: dict[str, Any], title: str) -> Frame:
    page.evaluate(f"window.show({json.dumps(data)})")
    frame = panel(page)
    # Polling with a function would need eval, which the panel's CSP rightly forbids.
    frame.wait_for_selector(f"#title:text-is('{title}')", timeout=10_000)
    return frame


def test_fleet_cards_render_the_values_and_hostile_names_as_text(host: Any) -> None:
    page, outside = host
    frame = show(page, FLEET, "Fleet")
    text = frame.inner_text("#view")
    assert "1 of 2 nodes online" in text
    assert EVIL in text and "<script>alert(1)</script> (4.9 GB)" in text
    assert "memory 21.5 GB of 64.0 GB" in text and "disk 812.3 GB free" in text
    assert "offline" in text and "nothing loaded" in text
    assert frame.locator("img").count() == 0 and frame.locator("#view script").count() == 0
    assert frame.evaluate("document.querySelector('progress').value") == 21.5
    assert "pwned" not in page.evaluate("window.log") and outside == []


def test_health_findings_show_severity_and_fix(host: Any) -> None:
    page, outside = host
    frame = show(page, HEALTH, "Health")
    text = frame.inner_text("#view")
    assert "score 62" in text and "warning" in text
    assert "critical" in text and "Memory pressure on <b>mini</b>" in text and "on mini" in text
    assert "Fix: Unload idle models." in text and frame.locator("b").count() == 0
    assert frame.locator(".finding.critical").count() == 1 and outside == []


def test_a_running_pull_refreshes_through_the_host_until_it_is_done(host: Any) -> None:
    page, outside = host
    done = {"pulls": [job("done", 100.0, 5_200_000_000)]}
    page.evaluate(
        "answer => window.answers.push(answer)", {"content": [], "structuredContent": done}
    )
    frame = show(page, {"status": "running", "job": job("running", 40.0, 2_080_000_000)}, "Pulls")
    first = frame.inner_text("#view")
    assert "qwen3:8b → ws" in first and "40% ·" in first and "2.1 GB of 5.2 GB" in first
    assert "52.0 MB/s" in first and "60 s left" in first
    frame.wait_for_selector(".badge.done", timeout=10_000)
    calls = page.evaluate("window.calls")
    assert calls == [{"name": "pull_status", "arguments": {"job_id": "pull-7"}}]
    assert frame.evaluate("document.querySelector('progress').value") == 100
    assert outside == []
