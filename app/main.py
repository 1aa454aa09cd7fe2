"""The application factory: settings, database, routers, error handlers and docs."""

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from app import __version__, errors, fast, openapi
from app.auth import KeyFirst
from app.cache import ResponseCache
from app.config import Settings
from app.db import make_engine, make_sessionmaker, read_connections
from app.middleware import BodySizeLimit, HeadAsGet
from app.migrate import head_revision
from app.pagination import Cursors, PageStatements, Totals, cursor_secret
from app.queries import read_data_version
from app.routers import articles, health, imports, indicators, observations, sectors, targets
from app.routers import search as search_router
from app.routing import Dispatch

TAGS = [
    {"name": "articles", "description": "The sources that facts come from."},
    {"name": "sectors", "description": "Sectors and industries that facts concern."},
    {"name": "indicators", "description": "Measured concepts: series over periods."},
    {"name": "observations", "description": "Figures and milestones, each with its evidence."},
    {"name": "targets", "description": "Targets and plans with their outcome."},
    {"name": "search", "description": "Full-text search over everything."},
    {"name": "imports", "description": "Bundles of facts loaded in one transaction."},
    {"name": "health", "description": "Probes for load balancers."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Swagger UI and ReDoc are served from the package: /docs works with no internet.
    app = FastAPIOffline(
        title="policyfacts",
        version=__version__,
        openapi_tags=TAGS,
        generate_unique_id_function=openapi.operation_id,
    )
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    app.state.settings = settings
    app.state.engine = engine
    app.state.reads_inline = engine.dialect.name == "sqlite"  # see app.db.reads
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_connections = read_connections(engine, pool_size=settings.db_pool_size)
    # As many threads for reads as the pool has connections (PostgreSQL, app.db.reads): a
    # thread more would wait for a connection, and every thread more fights for the GIL.
    app.state.read_threads = anyio.CapacityLimiter(settings.db_pool_size)
    # Found on the first cursor, not here: the app must start while the database is down.
    app.state.cursors = Cursors(
        lambda: cursor_secret(app.state.sessionmaker, settings.cursor_secret)
    )
    app.state.totals = Totals()
    app.state.pages = PageStatements()
    app.state.head_revision = head_revision()

    errors.install(app)
    routes = list(app.router.routes)  # the docs' own, tried first
    routers = (articles, sectors, indicators, observations, targets, search_router, imports, health)
    for module in routers:
        app.include_router(module.router)
        routes += module.router.routes
    if fast.configure(wanted=settings.fast_path):  # else FastAPI's own router and handlers
        app.router.middleware_stack = Dispatch(app, routes)
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    # Innermost: its 401 passes through CORS, so that a browser's script can read it.
    app.add_middleware(KeyFirst, api=app, routes=routes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
        expose_headers=["ETag", "Link", "Location", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)
    if settings.response_cache:
        # Added last, so outermost of all but Starlette's error middleware: a cached answer
        # costs little more than the cache itself. It keeps answers as the stack sent them,
        # CORS headers included, keyed by the request fields they vary on.
        app.add_middleware(
            ResponseCache,
            read_version=lambda: read_data_version(app.state.read_connections),
            max_bytes=settings.cache_bytes,
            poll_seconds=settings.cache_poll_seconds,
        )
    return app
