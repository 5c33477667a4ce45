"""A real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, for the
dashboard's browser tests.

One browser per module. Every page a test opens through ``Browser.open`` records what must never
happen on the dashboard: a request to any origin but the router's (it is aborted and kept), a
JavaScript dialog (a sign of injected script), a console error or an uncaught exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from bench.pages import CHROMIUM, CHROMIUM_ARGS

WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Watch:
    """What the pages of one test did that they must not."""

    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests to other origins: {self.foreign}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.errors == [], f"console errors: {self.errors}"


class Browser:
    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.watch = Watch()

    def open(
        self,
        base_url: str,
        view: str,
        viewport: dict[str, int] = WIDE,
        query: str = "",
        ready: bool = True,
    ) -> Page:
        """A fresh page on ``/dashboard/<view>``, waited until the view has rendered (unless
        ``ready`` is false: the page is waiting for a key, say)."""
        origin = urlsplit(base_url).netloc
        context = self.browser.new_context(viewport=viewport, base_url=base_url)
        watch = self.watch

        def guard(route: Route) -> None:
            url = route.request.url
            watch.urls.append(url)
            auth = route.request.headers.get("authorization")
            if auth:
                watch.authorizations.add(auth)
            if urlsplit(url).netloc != origin and not url.startswith(("data:", "blob:")):
                watch.foreign.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watch.errors.append(str(e)))
        page.goto(f"/dashboard/{view}{query}")
        if ready:
            wait_ready(page, view)
        return page


def wait_ready(page: Page, view: str) -> None:
    page.wait_for_selector(f"main[data-ready='{view}']", timeout=15_000)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Browser]:
    """Pages for one test; after it, none of them may have reached out, alerted or erred."""
    b = Browser(chromium)
    yield b
    for context in chromium.contexts:
        context.close()
    b.watch.assert_clean()
