"""API routes: credentials checked before the body is read, and no NUL in what is stored.

FastAPI reads and parses a route's body before it solves the route's
dependencies, so a request without credentials would be read whole (and parsed)
before its 401. Here a route that depends on a credential (a function marked with
``@credential``) checks it first, from the headers alone, and only then lets
FastAPI read the body. The dependency remembers its answer for the request, so
the check is made once.

A credential function takes exactly two parameters, ``request`` and ``store``,
and raises an ``ApiError`` (401, 403, 429...) to refuse.

The admin API's routes (``AdminRoute``) also refuse a NUL character (``\u0000``)
anywhere in a JSON body, a path parameter or a query parameter, with 422 naming the
field: PostgreSQL cannot store NUL in text or JSON, and SQLite can, so refusing it
keeps the two alike and turns what would be a database error into a clear answer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ._errors import Unprocessable

F = TypeVar("F", bound=Callable[..., Any])

_SCOPE_KEY = "vexil.credentials"
_MARK = "__vexil_credential__"


def credential(check: F) -> F:
    """Mark ``check`` as a credential dependency, and remember its answer per request."""
    original = check

    def cache(request: Request) -> dict[Any, Any]:
        found: dict[Any, Any] = request.scope.setdefault(_SCOPE_KEY, {})
        return found

    if inspect.iscoroutinefunction(check):

        @functools.wraps(check)
        async def remembered_async(*, request: Request, store: Any) -> Any:
            answers = cache(request)
            if original not in answers:
                answers[original] = await original(request=request, store=store)
            return answers[original]

        wrapper: Any = remembered_async
    else:

        @functools.wraps(check)
        def remembered(*, request: Request, store: Any) -> Any:
            answers = cache(request)
            if original not in answers:
                answers[original] = original(request=request, store=store)
            return answers[original]

        wrapper = remembered
    setattr(wrapper, _MARK, True)
    return wrapper  # type: ignore[no-any-return]


def _credentials(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if getattr(sub.call, _MARK, False):
            yield sub.call  # type: ignore[misc]
        yield from _credentials(sub)


class GuardedRoute(APIRoute):
    """An API route whose credentials are checked before its body is read."""

    #: Whether a NUL in the body, path or query is refused (see ``AdminRoute``).
    refuse_nul: ClassVar[bool] = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = list(dict.fromkeys(_credentials(self.dependant)))
        refuse_nul = self.refuse_nul
        if not checks and not refuse_nul:
            return handler

        async def guarded(request: Request) -> Response:
            store = request.app.state.store
            for check in checks:
                if inspect.iscoroutinefunction(check):
                    await check(request=request, store=store)
                else:
                    await run_in_threadpool(check, request=request, store=store)
            if refuse_nul:
                _refuse_nul_in_url(request)
                await _refuse_nul_in_json(request)
            return await handler(request)

        return guarded


class AdminRoute(GuardedRoute):
    """A route of the admin API, which stores what it is sent: no NUL anywhere in it.

    The SDK and OFREP routes are not: their bodies carry what end users typed, which
    events store with NUL replaced (``_events.storable``) and OFREP only evaluates.
    """

    refuse_nul = True


async def _refuse_nul_in_json(request: Request) -> None:
    """Read a JSON body (the request keeps it for the handler) and refuse a NUL in it."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (
        kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
    ):
        return
    try:
        data = await request.json()
    except (ValueError, RecursionError):  # malformed or absurdly deep: answered as usual
        return
    path = nul_path(data, "")
    if path is not None:
        raise Unprocessable(f"{path or 'body'}: NUL characters are not allowed", field=path)


def nul_path(data: Any, path: str) -> str | None:
    """The path of the first string (value or object key) in ``data`` holding a NUL.

    Iterative, so that a deeply nested body cannot exhaust the stack.
    """
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                inner = f"{where}.{key}" if where else str(key)
                if "\x00" in key:
                    return inner
                stack.append((item, inner))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None


def _refuse_nul_in_url(request: Request) -> None:
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise Unprocessable(f"{name}: NUL characters are not allowed", field=name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise Unprocessable(f"{name}: NUL characters are not allowed", field=name)
