"""The application factory: one Litestar app with every module's routes.

The ingest endpoints are raw ASGI handlers in front of it (:mod:`lookout.asgi`).
The OpenAPI document is :mod:`lookout.openapi`'s, as JSON and YAML only
(``/schema/openapi.json``, ``.yaml``): Litestar's generated schema misses the
raw ingest endpoints, and its HTML viewers load scripts from a CDN, which must
not run on Lookout's origin next to a logged-in session.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from collector import routes as ingest_routes
from collector.otlp import routes as otlp_routes
from collector.sentry import routes as sentry_routes
from lookout import openapi, ops
from lookout.asgi import FastPaths
from lookout.http import http_exception_handler, internal_error_handler, refuse_nul_characters
from lookout.services import Services
from lookout.settings import Settings
from rules import api as rules_api
from rules.slack_routes import slack_interactions
from web import api, issues_api, pages
from web.ui import build_environment


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               background_jobs: bool = True) -> FastPaths:
    """Build the app; ``services`` start on app startup and stop (draining writes) on shutdown."""
    settings = settings or (services.settings if services else Settings.from_env())
    svc = services or Services.build(settings)

    async def start(_app: Litestar) -> None:
        await svc.start(background_jobs=background_jobs)

    async def stop(_app: Litestar) -> None:
        await svc.stop()

    app = Litestar(
        route_handlers=[*ops.routes, *openapi.routes, api.router, issues_api.router,
                        rules_api.router, slack_interactions, *pages.routers],
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(build_environment())),
        on_startup=[start],
        on_shutdown=[stop],
        state=State({"services": svc}),
        exception_handlers={HTTPException: http_exception_handler,
                            Exception: internal_error_handler},
        request_max_body_size=settings.max_body_bytes,
        before_request=refuse_nul_characters,
        openapi_config=None,  # lookout.openapi serves the document Litestar cannot generate
        debug=False,
        logging_config=None,  # Lookout configures logging itself (lookout.logs)
    )
    return FastPaths(app, svc, [*ingest_routes.routes, *sentry_routes.routes,
                                *otlp_routes.routes])
