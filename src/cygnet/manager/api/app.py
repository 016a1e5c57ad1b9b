"""The manager's HTTP application: routers, error handlers, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cygnet import __version__
from cygnet.manager.api.errors import install_error_handlers
from cygnet.manager.api.middleware import RateLimitHeaders
from cygnet.manager.api.rest import (
    admin,
    agent_rpc,
    bgtasks,
    manager,
    resource_groups,
    root,
    scheduler,
    session_streams,
    sessions,
    vfolders,
)
from cygnet.manager.api.rest import auth as auth_routes
from cygnet.manager.services.container import Services


def create_app(
    services: Services,
    *,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="Cygnet manager API",
        version=__version__,
        description="Backend.AI-compatible manager API (v9.20250722).",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(RateLimitHeaders)
    for router in (
        root.router,
        manager.router,
        admin.router,
        auth_routes.router,
        resource_groups.router,
        agent_rpc.router,
        sessions.router,
        session_streams.router,
        scheduler.router,
        vfolders.router,
        bgtasks.router,
    ):
        app.include_router(router)
    return app
