"""The router's settings over HTTP: everything configured (secrets only as set or not) and the
runtime toggles, changed by an administrator and persisted."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router import __version__, management
from router.api.access import route
from router.api.bodies import read_json_object
from router.api.dashboard.params import node_views
from router.api.responses import json_response
from router.config import write_persisted_toggles
from router.errors import BadRequest, InsufficientStorage
from router.parts import AppParts


def routes(ctx: AppParts) -> list[Route]:

    async def settings_get(request: Request) -> Response:
        return json_response(management.settings_view(ctx.settings, node_views(ctx), __version__))

    async def settings_post(request: Request) -> Response:
        body = await read_json_object(request, 65_536)
        try:
            updated = management.apply_toggle_changes(ctx.settings.toggles, body)
        except management.SettingsError as exc:
            raise BadRequest(str(exc)) from None
        try:
            write_persisted_toggles(ctx.settings.toggles_path, updated)
        except OSError as exc:
            raise InsufficientStorage(
                f"the settings were not changed: could not save {ctx.settings.toggles_path.name} "
                f"({exc.strerror or exc}); free space on the router's data disk"
            ) from None
        ctx.settings.toggles = updated
        ctx.store.set_retention_days(updated.trace_retention_days)
        changed = {k: getattr(updated, k) for k in body}
        return json_response({"updated": changed, "toggles": updated.model_dump()})

    return [
        route("/dashboard/api/settings", settings_get, methods=["GET"], access="use"),
        route("/dashboard/api/settings", settings_post, methods=["POST"], access="admin"),
    ]
