"""The dashboard in a real browser against a real router, simulated nodes and real traffic.

Every view is checked for values that came from the simulators and the trace store; the fleet
view for live changes; changes for confirmation, refusal and persistence; hostile names for
being shown as text. The ``browser`` fixture fails a test whose pages reached another origin,
opened a dialog or logged a console error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from router.api.pages import VIEWS
from tests.browser.conftest import PHONE, Browser, wait_ready
from tests.factories import heartbeat
from tests.fleet import Fleet, running_fleet
from tests.procs import Proc, free_port, python_module, wait_http_ok, wait_until

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data_dir: Path = tmp_path_factory.mktemp("browser")
    flags = ["--degraded-after", "1.5", "--offline-after", "3"]
    with running_fleet(data_dir, [("ws", "workstation"), ("mini", "mini")], flags) as running:
        _traffic(running)
        yield running


def _traffic(fleet: Fleet) -> None:
    """A node and a model named to attack, real requests from two apps (one tag hostile too),
    and a wait until the hostile node is offline, so the views hold still while tested."""
    hostile = heartbeat(
        "evil",
        loaded=[(HOSTILE, 1.0)],
        url="http://127.0.0.1:9",
        hardware={"hostname": HOSTILE, "cpu_model": HOSTILE, "memory_bytes": 8_000_000_000},
        agent_version=HOSTILE[:60],
    )
    accepted = httpx.post(
        f"{fleet.router_url}/fleet/heartbeat", json=hostile.model_dump(mode="json"), timeout=5
    )
    assert accepted.status_code == 200, accepted.text
    refused = httpx.post(
        f"{fleet.router_url}/fleet/heartbeat",
        json={**hostile.model_dump(mode="json"), "node_id": HOSTILE},
        timeout=5,
    )
    assert refused.status_code in (400, 422)  # a node id is never markup
    httpx.post(
        f"{fleet.router_url}/api/chat",
        json={"model": HOSTILE, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    for i in range(4):
        response = httpx.post(
            f"{fleet.router_url}/api/chat",
            headers={"X-Herd-Tags": "app:notes" if i % 2 else HOSTILE},
            json={
                "model": "llama3.2:3b",
                "messages": [{"role": "user", "content": f"question {i}"}],
                "stream": False,
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
    wait_until(lambda: len(_api(fleet, "traces", limit=50)["traces"]) >= 5, what="traces stored")
    wait_until(
        lambda: (fleet.node_status("evil") or {}).get("status") == "offline",
        timeout=10,
        what="the hostile node offline",
    )


def _api(fleet: Fleet, path: str, **params: Any) -> Any:
    response = httpx.get(f"{fleet.router_url}/dashboard/api/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _stat(page: Page, label: str) -> str:
    return page.locator(f".stat[data-label='{label}'] .stat-value").inner_text()


def _main(page: Page) -> str:
    return page.locator("main").inner_text()


# --- the page itself ------------------------------------------------------------------------


def test_root_answers_api_clients_and_sends_browsers_to_the_dashboard(fleet: Fleet) -> None:
    api = httpx.get(f"{fleet.router_url}/", timeout=5)
    assert api.text == "Ollama is running"
    browser = httpx.get(f"{fleet.router_url}/", headers={"Accept": "text/html"}, timeout=5)
    assert browser.status_code == 303 and browser.headers["location"] == "/dashboard"
    page = httpx.get(f"{fleet.router_url}/dashboard/requests", timeout=5)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert "<script" not in page.text.split("</head>")[1]  # no inline script in the body
    missing = httpx.get(f"{fleet.router_url}/dashboard/static/../app.py", timeout=5)
    assert missing.status_code == 404


def test_every_view_shows_real_values(fleet: Fleet, browser: Browser) -> None:
    expected = _expected_values(fleet)
    page = browser.open(fleet.router_url, "fleet")
    for view in VIEWS:
        _go(page, view)
        text = _main(page)
        if view == "trends":
            total = sum(b["requests"] for b in _api(fleet, "trends", hours=24)["buckets"])
            assert _stat(page, "requests") == f"{total:,}"
        for value in expected[view]:
            assert value in text, f"{view} view lacks {value!r}"
        assert "undefined" not in text and "NaN" not in text, view


def _go(page: Page, view: str) -> None:
    """Follow the navigation link to ``view`` and wait for it to render."""
    page.locator(f"#nav a[data-view='{view}']").click()
    wait_ready(page, view)


def _expected_values(fleet: Fleet) -> dict[str, list[str]]:
    """Values each view must show, read from the router's API (so from sims and store)."""
    status = fleet.status()
    loaded = [m["name"] for n in status["nodes"] for m in n["ollama"]["models_loaded"]]
    models = _api(fleet, "models")["models"]
    health = _api(fleet, "health")
    recs = _api(fleet, "recommendations")["nodes"]
    settings = _api(fleet, "settings")
    latest = _api(fleet, "traces", limit=1)["traces"][0]
    return {
        "fleet": ["ws", "mini", "llama3.2:3b", *loaded],
        "trends": ["Requests per hour", "Tokens per second"],
        "models": [m["model"] for m in models] + [f"{models[0]['requests']}"],
        "apps": ["app:notes", HOSTILE],
        "benchmarks": ["No benchmark has run yet", "llama3.2:3b"],
        "health": [f"{health['score']} / 100", health["passed"][0]["title"]]
        + [c["title"] for c in health["checks"]],
        "recommendations": [recs[0]["node_id"], recs[0]["recommended"][0]["model"]],
        "settings": ["auto pull", "vram fallback", settings["nodes"][0]["ollama_version"]],
        "requests": [latest["model"], latest["status"], "llama3.2:3b"],
    }


def test_requests_view_filters_and_explains_the_decision(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "requests", query="?tag=app:notes")
    rows = page.locator("table.grid > tbody > tr")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Why?").first.click()
    decision = page.locator(".decision")
    expect(decision).to_contain_text("score by signal")
    routed = _api(fleet, "traces", tag="app:notes", limit=1)["traces"][0]
    for signal in routed["scores_breakdown"]:
        expect(decision).to_contain_text(signal)
    expect(decision).to_contain_text(routed["request_id"])
    weighed = decision.locator("table.grid")
    for candidate in routed["candidates"]:  # ws and mini, each with its outcome
        expect(weighed).to_contain_text(candidate["node_id"])
        expect(weighed).to_contain_text(candidate["outcome"])
    assert {c["outcome"] for c in routed["candidates"]} >= {"chosen"}
    page.get_by_label("Status").select_option("rejected")
    page.get_by_label("Tag").fill("")
    page.get_by_role("button", name="Filter").click()
    wait_ready(page, "requests")
    expect(page.locator("main")).to_contain_text("No request matches these filters")


def test_fleet_view_is_live(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "fleet")
    mini = page.locator("article[data-node='mini']")
    expect(mini).to_have_attribute("data-state", "online")
    fleet.sim("mini").fault(kind="slow", delay_s=2.0, count=1)
    sender = threading.Thread(target=_slow_chat, args=(fleet,), daemon=True)
    sender.start()
    expect(mini.locator(".queues")).to_contain_text("1 in flight", timeout=5_000)
    expect(page.locator(".stat[data-label='requests active'] .stat-value")).to_have_text("1")
    sender.join(timeout=30)
    expect(mini.locator(".queues")).to_have_count(0, timeout=5_000)
    _beat(fleet, "passing")
    card = page.locator("article[data-node='passing']")
    expect(card).to_have_attribute("data-state", "online", timeout=5_000)
    # no heartbeat for 3 s makes it offline; the next snapshot (2 s period at most) shows it
    expect(card).to_have_attribute("data-state", "offline", timeout=8_000)


def _beat(fleet: Fleet, node_id: str) -> None:
    beat = heartbeat(node_id, url="http://127.0.0.1:9").model_dump(mode="json")
    httpx.post(f"{fleet.router_url}/fleet/heartbeat", json=beat, timeout=5).raise_for_status()


def _slow_chat(fleet: Fleet) -> None:
    httpx.post(
        f"{fleet.router_url}/api/chat",
        json={"model": "llama3.2:1b", "messages": [{"role": "user", "content": "slow"}]},
        timeout=30,
    )


def test_delete_and_pull_ask_first_then_show_the_result(fleet: Fleet, browser: Browser) -> None:
    model = "qwen2.5-coder:32b"  # recommended on ws, on its disk, and in the simulator's library
    page = browser.open(fleet.router_url, "recommendations")
    ws = page.locator("section[data-node='ws']")
    ws.locator("details.on-disk summary").click()
    ws.locator(f"details.on-disk button[data-model='{model}']").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("This frees about 19.9 GB on ws")
    page.locator("#confirm-no").click()
    expect(dialog).to_be_hidden()
    assert model in fleet.sim("ws").models()  # cancelled: nothing deleted
    ws.locator(f"details.on-disk button[data-model='{model}']").click()
    page.locator("#confirm-yes").click()
    expect(page.locator("main")).to_contain_text(f"{model} was deleted from ws")
    assert model not in fleet.sim("ws").models()
    pull = page.locator(f"section[data-node='ws'] button.primary[data-model='{model}']")
    pull.click()
    expect(dialog).to_contain_text("Free disk on ws")
    expect(dialog).to_contain_text("after")
    page.locator("#confirm-yes").click()
    expect(page.locator("main")).to_contain_text(f"{model} is now on ws", timeout=30_000)
    assert model in fleet.sim("ws").models()
    expect(pull).to_have_count(0, timeout=15_000)  # redrawn once the heartbeat shows it
    on_disk = page.locator("section[data-node='ws'] details.on-disk")
    on_disk.locator("summary").click()
    expect(on_disk.locator(f"button[data-model='{model}']")).to_be_visible()


def test_benchmark_runs_from_the_page(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "benchmarks")
    for box in page.locator("fieldset.checks input").all():
        box.set_checked(box.get_attribute("value") == "llama3.2:3b")
    page.get_by_label("Duration (s)").fill("1")
    page.get_by_role("button", name="Start").click()
    history = page.locator("main table.grid")
    expect(history).to_contain_text("completed", timeout=20_000)
    runs = _api(fleet, "benchmarks")["runs"]
    rps = runs[0]["results"]["overall"]["requests_per_s"]
    shown = history.locator("tbody tr").first.locator("td[data-label='Requests/s']").inner_text()
    assert rps > 0 and abs(float(shown) - rps) <= 0.006


def test_hostile_names_show_as_text(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "fleet")
    for view in ("fleet", "apps", "requests", "models", "settings"):
        _go(page, view)
        assert HOSTILE in _main(page), view
        assert page.locator("main img").count() == 0
    # the evil node's upstream refused the connection: the trace says so, as text
    browser.watch.assert_clean()


def test_phone_width_has_no_horizontal_scroll(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "fleet", viewport=PHONE)
    for view in VIEWS:
        _go(page, view)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{view} is {width}px wide at {PHONE['width']}px"


def test_keyboard_reaches_every_view(fleet: Fleet, browser: Browser) -> None:
    page = browser.open(fleet.router_url, "fleet")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # Fleet
    page.keyboard.press("Tab")  # Trends
    focused = page.evaluate("document.activeElement.dataset.view")
    assert focused == "trends"
    page.keyboard.press("Enter")
    wait_ready(page, "trends")
    assert page.url.endswith("/dashboard/trends")
    assert page.evaluate("document.activeElement.id") == "main"


# --- a router of its own: empty, guarded by an admin key, restarted -------------------------


def test_keys_refusal_persistence_and_empty_states(tmp_path: Path, browser: Browser) -> None:
    env = {"HERD_API_KEY": "use-secret", "HERD_ADMIN_KEY": "admin-secret"}
    url, router = _keyed_router(tmp_path, env)
    try:
        page = browser.open(url, "fleet", ready=False)
        _give_key(page, "use-secret")  # asked once, on the first refused read
        wait_ready(page, "fleet")
        expect(page.locator("main")).to_contain_text("No node has joined yet")
        _go(page, "requests")
        expect(page.locator("main")).to_contain_text("No request has gone through")
        _go(page, "settings")
        switch = page.locator("#toggle-auto_pull")
        assert switch.is_checked()
        page.locator("label[for='toggle-auto_pull']").click()
        expect(page.locator("#key-dialog")).to_contain_text("admin key")
        page.locator("#key-cancel").click()
        refusal = page.get_by_test_id("refusal")
        expect(refusal).to_contain_text("refused")
        expect(refusal).to_contain_text("HERD_ADMIN_KEY")
        assert switch.is_checked()  # the switch shows the state the router kept
        page.locator("label[for='toggle-auto_pull']").click()
        _give_key(page, "admin-secret")
        expect(page.locator("main")).to_contain_text("Saved: auto pull is now false")
        assert not switch.is_checked()
        router.stop()
        _expect_unreachable(page)
        url, router = _keyed_router(tmp_path, env)
        page = browser.open(url, "settings", ready=False)  # another origin: asked again
        _give_key(page, "admin-secret")
        wait_ready(page, "settings")
        assert not page.locator("#toggle-auto_pull").is_checked()
    finally:
        router.stop()
    assert not [u for u in browser.watch.urls if "secret" in u]  # never in a URL
    assert "Bearer use-secret" in browser.watch.authorizations
    browser.watch.errors = [e for e in browser.watch.errors if not _expected_error(e)]


def _keyed_router(data_dir: Path, env: dict[str, str]) -> tuple[str, Proc]:
    """A router whose reads need a key: ready once its open page answers."""
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--no-mdns"]
    proc = Proc(python_module("router", *args), env=env, name="router-with-keys")
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/dashboard", proc)
    return url, proc


def _give_key(page: Page, key: str) -> None:
    expect(page.locator("#key-dialog")).to_be_visible()
    page.locator("#key-input").fill(key)
    page.locator("#key-dialog button[type=submit]").click()


def _expect_unreachable(page: Page) -> None:
    page.get_by_role("link", name="Trends").click()
    expect(page.locator("main")).to_contain_text("The router did not answer")
    page.context.close()


def _expected_error(message: str) -> bool:
    """Chromium logs each refused (401) or unreachable fetch; those are the point here."""
    return "401" in message or "ERR_CONNECTION_REFUSED" in message or "Failed to fetch" in message
