"""Composition only: wire settings, database, keyring, blob store and routes into Litestar."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router, get
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from dokportal import db, metrics, tasks
from dokportal.accounts.controllers import AccountController
from dokportal.accounts.profile import AccessRequestController, ProfileController
from dokportal.accounts.services import resume_session
from dokportal.api.admin_pages import TokenAdminController
from dokportal.api.controllers import ExportApiController
from dokportal.audit.controllers import AuditController
from dokportal.crypto.keyring import Keyring
from dokportal.documents.controllers import DocumentController
from dokportal.info.controllers import InfoController
from dokportal.keyring_guard import check_permissions
from dokportal.lib.asgi import UploadSlots
from dokportal.lib.error_pages import EXCEPTION_HANDLERS
from dokportal.lib.headers import security_headers_middleware
from dokportal.lib.outages import quiet_driver_tracebacks
from dokportal.lib.runtime import Runtime, runtime_of
from dokportal.lib.web import CookieWriter, make_prepare_request
from dokportal.notices.controllers import NoticeController
from dokportal.settings import Settings
from dokportal.staff.controllers import OidcController, StaffAuthController
from dokportal.staff.guards import StaffSignInRequired, redirect_to_staff_signin
from dokportal.storage.errors import StorageError
from dokportal.storage.factory import build_store
from dokportal.webapp.controllers import WebAppController
from dokportal.workspace.controllers import WorkspaceController
from dokportal.workspace.customer_pages import CustomerController
from dokportal.workspace.notice_pages import StaffNoticeController
from dokportal.wrapped_secrets import missing_key_ids_cached

PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger("dokportal")


@get("/healthz", include_in_schema=False, cache=False)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. No dependencies, so a DB outage does not restart pods."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Readiness: database and blob store reachable, and the keyring holds every key id
    stored data is wrapped with; otherwise 503 and no traffic."""
    runtime = runtime_of(request)
    problems: dict[str, str] = {}
    try:
        await db.current_engine().run_ddl("SELECT 1")
        missing = await missing_key_ids_cached(runtime.keyring)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        problems["database"] = type(error).__name__
    else:
        if missing:
            problems["keys_missing"] = ", ".join(missing)
    try:
        await runtime.store.check()
    except StorageError as error:
        problems["storage"] = str(error)
    metrics.DEPENDENCY_UP.labels("database").set("database" not in problems)
    metrics.DEPENDENCY_UP.labels("keys").set("keys_missing" not in problems)
    metrics.DEPENDENCY_UP.labels("storage").set("storage" not in problems)
    if problems:
        return Response(content={"status": "unavailable", **problems}, status_code=503)
    return Response(content={"status": "ok"})


def create_app(settings: Settings, *, keyring: Keyring | None = None) -> Litestar:
    """Build the portal for one tenant. Fails fast with readable messages on bad setup."""
    secret = settings.session_secret.get_secret_value()
    if len(secret) < 32:
        raise ValueError("DOKPORTAL_SESSION_SECRET must be at least 32 characters")
    runtime = Runtime(
        settings=settings,
        keyring=keyring or _load_keyring(settings),
        store=build_store(settings.storage),
        csrf_secret=secret,
    )
    engine = db.configure(settings)
    quiet_driver_tracebacks()
    metrics.observe_keyring(runtime.keyring)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await db.prepare(engine)
        await db.open_pool(engine)
        exporter = None
        if settings.metrics.port:
            exporter = metrics.MetricsServer.start(settings.metrics.host, settings.metrics.port)
        # Everything loaded at start-up (modules, templates, tables: ~180,000 objects) lives
        # as long as the process. Frozen, the cyclic GC no longer walks it on every full
        # collection, which had paused all requests for up to 100 ms under load (issue 6).
        gc.collect()
        gc.freeze()
        worker = None
        if settings.worker.enabled:
            # Virus scans, PDF safe copies, mail, reminders, retention (dokportal/tasks.py).
            worker = asyncio.create_task(tasks.loop(settings, runtime.store, runtime.keyring))
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if exporter is not None:
                exporter.stop()
            await db.close_pool(engine)

    templates = TemplateConfig(
        directory=PACKAGE_DIR / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=_fixed_templates,
    )
    app = Litestar(
        route_handlers=[
            # HTML pages stay out of the OpenAPI document, which describes only /api/v1.
            Router(
                path="/",
                include_in_schema=False,
                route_handlers=[
                    AccountController,
                    InfoController,
                    WebAppController,
                    DocumentController,
                    NoticeController,
                    ProfileController,
                    AccessRequestController,
                    StaffAuthController,
                    OidcController,
                    WorkspaceController,
                    CustomerController,
                    StaffNoticeController,
                    TokenAdminController,
                    AuditController,
                ],
            ),
            ExportApiController,
            healthz,
            readyz,
            create_static_files_router(
                path="/static", directories=[PACKAGE_DIR / "static"], include_in_schema=False
            ),
        ],
        before_request=make_prepare_request(resume_session),
        middleware=[
            DefineMiddleware(CookieWriter),
            DefineMiddleware(
                UploadSlots, max_per_client=settings.server.max_uploads_per_client, active={}
            ),
        ],
        template_config=templates,
        exception_handlers={
            **EXCEPTION_HANDLERS,
            StaffSignInRequired: redirect_to_staff_signin,
        },
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Dokportal export API",
            version="1.0.0",
            path="/schema",
            # Machine-readable only: the HTML viewers load script from elsewhere.
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={
                    "token": SecurityScheme(
                        type="http", scheme="bearer", description="Per-integration API token"
                    )
                }
            ),
        ),
        # Forms are small; the upload route reads its own stream with its own limit.
        request_max_body_size=1024 * 1024,
        debug=False,
    )
    app.state.runtime = runtime
    # Outermost, around Litestar's own exception handling: router-level 404/405 answers,
    # static files and error pages get the security headers like every page does.
    app.asgi_handler = security_headers_middleware(settings.secure_cookies)(app.asgi_handler)
    # Outermost of all: counts every answer, including the router's own 404s.
    app.asgi_handler = metrics.http_metrics(app.asgi_handler)
    return app


def _load_keyring(settings: Settings) -> Keyring:
    """For servers started without the CLI (``uvicorn dokportal.asgi:app``): the same
    permission rule as `dokportal serve`; a missing file fails in `Keyring.load`."""
    check_permissions(settings.keyring_path, allow_shared=settings.keyring_allow_shared)
    return Keyring.load(settings.keyring_path)


def _fixed_templates(engine: JinjaTemplateEngine) -> None:
    """Templates ship inside the package and never change while the process runs: no file
    time check before every render (Jinja's default, meant for development)."""
    engine.engine.auto_reload = False
