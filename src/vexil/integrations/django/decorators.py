# mypy: disable-error-code="import-untyped"
"""``flag_required``: a view that exists only while a boolean flag is on.

::

    @flag_required("new-ui")                          # 404 while the flag is off
    def dashboard(request): ...

    @flag_required("new-ui", redirect_to="old-dashboard")   # or a redirect
    class Dashboard(TemplateView): ...

    @method_decorator(flag_required("new-ui"), name="dispatch")
    class Settings(View): ...

The flag is evaluated for the request's context (``request.flags`` when the
middleware is installed). Synchronous and asynchronous views both work; for
asynchronous ones the request's context is made on a worker thread, because making
it may load ``request.user`` from the database.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.http import Http404
from django.shortcuts import redirect

from vexil.integrations.django._flags import flags_of

__all__ = ["flag_required"]

V = TypeVar("V", bound=Callable[..., Any])


def allowed(request: Any, key: str) -> bool:
    """Whether boolean flag ``key`` is on for ``request``."""
    return flags_of(request).is_on(key)


async def allowed_async(request: Any, key: str) -> bool:
    """:func:`allowed`, from asynchronous code: the context is made on a worker thread."""
    flags = flags_of(request)
    await flags.aget_context()
    return flags.is_on(key)


def refuse(key: str, redirect_to: Any = None) -> Any:
    """The answer while the flag is off: a redirect to ``redirect_to``, else a 404."""
    if redirect_to is not None:
        return redirect(redirect_to)
    raise Http404(f"feature flag {key!r} is off")


def flag_required(key: str, *, redirect_to: Any = None) -> Callable[[V], V]:
    """Serve the view only while boolean flag ``key`` is on for the request.

    While it is off (or unknown, or not boolean), the view is not called: a 404, or
    a redirect to ``redirect_to`` (a URL, a URL name or a model, as for Django's
    ``redirect()``). Decorate a function view, a class-based view (its ``dispatch``
    is wrapped), or use it with ``method_decorator``.
    """

    def decorate(view: V) -> V:
        if isinstance(view, type):
            return _decorate_class(view, key, redirect_to)  # type: ignore[return-value]
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: Any, *args: Any, **kwargs: Any) -> Any:
                if not await allowed_async(request, key):
                    return refuse(key, redirect_to)
                return await view(request, *args, **kwargs)

            return async_view  # type: ignore[return-value]

        @functools.wraps(view)
        def sync_view(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed(request, key):
                return refuse(key, redirect_to)
            return view(request, *args, **kwargs)

        return sync_view  # type: ignore[return-value]

    return decorate


def _decorate_class(view: type[Any], key: str, redirect_to: Any) -> type[Any]:
    dispatch = view.dispatch
    # An asynchronous class-based view has a synchronous dispatch() that returns a
    # coroutine; the check must then run inside a coroutine too.
    if getattr(view, "view_is_async", False):

        @functools.wraps(dispatch)
        async def async_dispatch(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not await allowed_async(request, key):
                return refuse(key, redirect_to)
            return await dispatch(self, request, *args, **kwargs)

        view.dispatch = async_dispatch
    else:

        @functools.wraps(dispatch)
        def sync_dispatch(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed(request, key):
                return refuse(key, redirect_to)
            return dispatch(self, request, *args, **kwargs)

        view.dispatch = sync_dispatch
    return view
