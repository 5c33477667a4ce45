"""The dashboard page: ``/dashboard`` and its views, the static files it loads, and ``GET /``.

The page is static: HTML, CSS and JavaScript modules shipped inside the package under
``router/dashboard_ui/`` (with the vendored charting library), read once when the routes are
built, so a request can only ever receive one of those files. Every answer carries a strict
``Content-Security-Policy``: scripts, styles and connections from this origin only, nothing
inline, no frames. All of it is open (no key): the page asks for the key itself and sends it
with each call to ``/dashboard/api/``. ``GET /`` answers API clients like Ollama does and sends
a browser (one that accepts ``text/html``) to the dashboard.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from router.api.access import route
from router.errors import NotFound

UI_DIR = Path(__file__).resolve().parent.parent / "dashboard_ui"
VIEWS = (
    "fleet",
    "trends",
    "models",
    "apps",
    "benchmarks",
    "health",
    "recommendations",
    "settings",
    "requests",
)
"""The dashboard's views; each is bookmarkable as ``/dashboard/<view>`` (or ``#<view>``)."""
PAGE_PATHS = ("/dashboard", "/dashboard/", *(f"/dashboard/{view}" for view in VIEWS))
STATIC_PREFIX = "/dashboard/static/"
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def load_files(root: Path = UI_DIR) -> dict[str, tuple[bytes, str]]:
    """Every file under ``root`` by its relative POSIX path, with its content type."""
    files: dict[str, tuple[bytes, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
            files[path.relative_to(root).as_posix()] = (
                path.read_bytes(),
                kind or "application/octet-stream",
            )
    return files


def wants_html(accept: str) -> bool:
    """True when the ``Accept`` header names ``text/html`` (what browsers send for a page)."""
    return any(part.split(";", 1)[0].strip() == "text/html" for part in accept.split(","))


def routes() -> list[Route]:
    files = load_files()
    page = files["index.html"][0]

    async def dashboard(request: Request) -> Response:
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={**SECURITY_HEADERS, "cache-control": "no-cache"},
        )

    async def static(request: Request) -> Response:
        found = files.get(request.path_params["path"])
        if found is None:
            raise NotFound(f"no dashboard file {request.path_params['path']!r}")
        body, kind = found
        return Response(
            body, media_type=kind, headers={**SECURITY_HEADERS, "cache-control": "no-cache"}
        )

    async def root(request: Request) -> Response:
        if wants_html(request.headers.get("accept", "")):
            return RedirectResponse("/dashboard", status_code=303)
        return PlainTextResponse("Ollama is running")

    return [
        route("/", root, methods=["GET", "HEAD"], access="open"),
        *(route(path, dashboard, methods=["GET", "HEAD"], access="open") for path in PAGE_PATHS),
        route(STATIC_PREFIX + "{path:path}", static, methods=["GET", "HEAD"], access="open"),
    ]
