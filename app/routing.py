"""The route class of every router, and ``Dispatch``, which answers a GET whose inputs are
plain query and path values through a lean handler instead of FastAPI's.

FastAPI re-inspects each parameter's annotation on every request (is it a sequence, a
model, a JSON field, which alias did the client use): for a list with seven query
parameters that was a quarter of an uncached read, more than its SQL. The lean handler
decides all of that once, when the route is made, and validates each value with the very
``ModelField`` FastAPI built for it, so values, defaults, error types, messages and
locations are FastAPI's own. Anything else (a body, headers, cookies, a dependency that is
not a plain ``async def`` check of path and query values) keeps FastAPI's handler, and so
does every route while the app has ``dependency_overrides``.
``tests/test_routing.py`` holds both handlers to the same answers.

Both reach into FastAPI's and Starlette's internals, and are used only on the fast path
(``app.fast``): ``Route`` itself is FastAPI's ``APIRoute`` until ``Dispatch`` asks it for its
lean handler, and a release that lacks an internal must not break the import of the routers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

try:  # internals: app.fast does not take the fast path with a release that moved them
    from fastapi._compat import ModelField, field_annotation_is_sequence, get_missing_field_error
    from starlette._utils import get_route_path
except ImportError:  # pragma: no cover (an untested release)
    pass

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset)


@dataclass(frozen=True, slots=True)
class _Param:
    name: str  # of the function's argument
    alias: str  # in the request
    location: str  # "query" or "path"
    sequence: bool  # repeated in the query string, read as a list
    field: ModelField
    required: bool
    default: Any


@dataclass(frozen=True, slots=True)
class _Call:
    function: Callable[..., Any]
    params: tuple[_Param, ...]
    dependencies: tuple[tuple[str, _Call], ...]
    request_name: str | None


class Route(APIRoute):
    """An ``APIRoute`` that can answer through the lean handler (``lean_app``)."""

    def lean_app(self) -> ASGIApp | None:
        """The route as an ASGI app on the lean handler, or None where it has none. Planned
        on the route's own dependant: the app includes its routers without dependencies of
        their own."""
        if self.methods != {"GET"} or (call := _plan(self.dependant, endpoint=True)) is None:
            return None
        return request_response(lean_handler(call))


class Dispatch:
    """The app's router, with a short way in for the routes that have a lean handler.

    FastAPI looks for a request's route router by router, saving and restoring its own scope
    keys around every route it tries, and matches an included router twice (to choose it,
    then to choose within it): in-process, /healthz (in the last router) took 82 us through
    FastAPI's router and 28 us through Dispatch, a detail 219 and 176 us. Here the routes
    are tried in the same order, each first by the literal start of its path; when the
    first that matches in full has a lean handler, that handler answers.
    Everything else (a route with FastAPI's handler, a method the route does not take, no
    route at all, any request while the app has ``dependency_overrides``) goes to FastAPI's
    router, as if Dispatch were not there.

    ``routes`` are every route of the app in FastAPI's order: the app's own, then those of
    each included router. A route added after Dispatch is made is FastAPI's alone.
    """

    def __init__(self, app: FastAPI, routes: list[BaseRoute]) -> None:
        self.app = app
        self.router = app.router
        self.fallback: ASGIApp = app.router.middleware_stack
        self.routes = [
            (getattr(route, "path", "").partition("{")[0], route, lean)
            for route in routes
            for lean in [route.lean_app() if isinstance(route, Route) else None]
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.app.dependency_overrides:
            path = get_route_path(scope)
            for start, route, lean in self.routes:
                if not path.startswith(start):
                    continue
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    if lean is not None:
                        scope.setdefault("router", self.router)
                        scope.update(child_scope)
                        await lean(scope, receive, send)
                        return
                    break
        await self.fallback(scope, receive, send)


def lean_handler(call: _Call) -> Handler:
    """The handler of ``call``: its arguments solved as planned, then the call."""

    async def handle(request: Request) -> Response:
        values, errors = await _solve(call, request)
        if errors:
            raise RequestValidationError(errors)
        response = await call.function(**values)
        assert isinstance(response, Response), "a lean GET route answers a Response"
        return response

    return handle


async def _solve(call: _Call, request: Request) -> tuple[dict[str, Any], list[Any]]:
    """The arguments of ``call`` in the order FastAPI solves them: dependencies first (each
    called once its own values are valid), then path and query values."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for name, dependency in call.dependencies:
        sub_values, sub_errors = await _solve(dependency, request)
        if sub_errors:
            errors.extend(sub_errors)
        else:
            values[name] = await dependency.function(**sub_values)
    query = request.query_params
    path = request.path_params
    for param in call.params:
        source: Mapping[str, Any] = path if param.location == "path" else query
        raw = query.getlist(param.alias) if param.sequence else source.get(param.alias)
        if raw is None or (param.sequence and not raw):
            if param.required:
                errors.append(get_missing_field_error((param.location, param.alias)))
            else:
                values[param.name] = param.default
            continue
        value, field_errors = param.field.validate(raw, values, loc=(param.location, param.alias))
        if field_errors:
            errors.extend(field_errors)
        else:
            values[param.name] = value
    if call.request_name is not None:
        values[call.request_name] = request
    return values, errors


def _plan(dependant: Dependant, *, endpoint: bool) -> _Call | None:
    """What the lean handler needs to call ``dependant``; None where it needs FastAPI's."""
    function = dependant.call
    if function is None or not inspect.iscoroutinefunction(function):
        return None
    special = (
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
        dependant.own_oauth_scopes,
    )
    if any(special) or (dependant.request_param_name is not None and not endpoint):
        return None
    params = []
    for location, fields in (("path", dependant.path_params), ("query", dependant.query_params)):
        for field in fields:
            param = _param(field, location)
            if param is None:
                return None
            params.append(param)
    dependencies = []
    for sub in dependant.dependencies:
        planned = _plan(sub, endpoint=False)
        if planned is None or sub.name is None or sub.dependencies:
            return None
        dependencies.append((sub.name, planned))
    return _Call(function, tuple(params), tuple(dependencies), dependant.request_param_name)


def _param(field: ModelField, location: str) -> _Param | None:
    info = field.field_info
    annotation = info.annotation
    if info.validation_alias is not None or info.validate_default:
        return None
    if any(type(item) is Json for item in info.metadata):
        return None
    if any(
        isinstance(t, type) and issubclass(t, BaseModel)
        for t in (annotation, *get_args(annotation))
    ):
        return None  # a model of query parameters, or an optional one
    required = info.is_required()
    if not required and not isinstance(info.default, _IMMUTABLE):
        return None  # FastAPI copies such a default for each request
    return _Param(
        name=field.name,
        alias=field.alias,
        location=location,
        sequence=location == "query" and field_annotation_is_sequence(annotation),
        field=field,
        required=required,
        default=None if required else info.default,
    )
