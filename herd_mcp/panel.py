"""The herd panel: an MCP App (``ui://herd/panel.html``) that shows ``fleet_status``, ``health``
and pull progress as a small live view in clients that render MCP Apps.

Owns the panel's URI, its HTML (``panel.html``, shipped in the package) with a strict
Content-Security-Policy whose script and style are allowed by their SHA-256 hashes only (no remote
resource, no network, no inline handlers), and the ``Apps`` extension that serves it. The panel
renders every value as text (``textContent``, never markup) and, while one pull runs, asks the host
for ``pull_status`` every two seconds. Tools point at it through ``PANEL_META``; their text and
structured results are the same for every client.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from mcp.server.apps import Apps, ResourceCsp

PANEL_URI = "ui://herd/panel.html"
PANEL_META = {"ui": {"resourceUri": PANEL_URI}, "ui/resourceUri": PANEL_URI}
"""The ``_meta`` of a tool shown in the panel (``ui/resourceUri`` for hosts of the older draft)."""

_TEMPLATE = Path(__file__).with_name("panel.html")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(html: str) -> str:
    """The panel's Content-Security-Policy: nothing but its own inline script and style."""
    scripts = [_sha256(s) for s in re.findall(r"<script>(.*?)</script>", html, re.S)]
    styles = [_sha256(s) for s in re.findall(r"<style>(.*?)</style>", html, re.S)]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(scripts)}",
            f"style-src {' '.join(styles)}",
            "img-src 'none'",
            "connect-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


@cache
def panel_html() -> str:
    template = _TEMPLATE.read_text(encoding="utf-8")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy(template)}">'
    return template.replace("<!--CSP-->", meta, 1)


def panel_extension() -> Apps:
    """The MCP Apps extension serving the panel (pass it to ``MCPServer(extensions=...)``)."""
    apps = Apps()
    apps.add_html_resource(
        PANEL_URI,
        panel_html(),
        name="herd-panel",
        title="herd panel",
        description="Fleet, health and pull progress as a small live view.",
        csp=ResourceCsp(connect_domains=[], resource_domains=[]),
        prefers_border=True,
    )
    return apps
