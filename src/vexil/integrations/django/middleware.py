# mypy: disable-error-code="import-untyped"
"""``FlagsMiddleware``: a lazy ``request.flags`` on every request.

::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "vexil.integrations.django.middleware.FlagsMiddleware",
    ]

The middleware only attaches a :class:`RequestFlags`; nothing is evaluated, and
``request.user`` is not read, until a view or template reads a flag. It works in
both synchronous and asynchronous stacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from vexil.integrations.django._flags import RequestFlags

__all__ = ["FlagsMiddleware"]


class FlagsMiddleware:
    """Sets ``request.flags``, a :class:`RequestFlags` evaluated only when read."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            # Django then awaits this middleware instead of running it on a thread.
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        request.flags = RequestFlags(request)
        return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        request.flags = RequestFlags(request)
        response: Awaitable[Any] = self.get_response(request)
        return await response
