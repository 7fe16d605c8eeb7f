"""``RequestFlags``: the flags of one request, evaluated only when read.

Nothing here raises into the view because of flags: the client's calls never raise,
and a context function that fails is logged and replaced by the anonymous context.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async

from vexil import Client, EvaluationDetail
from vexil.integrations._base import context_of_user, current_client
from vexil.integrations.django._client import current_settings, get_client

__all__ = ["RequestFlags", "flags_of", "request_context"]

log = logging.getLogger("vexil.integrations.django")

ANONYMOUS: dict[str, Any] = {"key": "anonymous", "anonymous": True}


def request_context(request: Any) -> dict[str, Any]:
    """The default context of a request: its signed-in user (``context_of_user``).

    A ``VEXIL["context"]`` function may call it and add attributes to what it returns.
    """
    return context_of_user(getattr(request, "user", None))


class RequestFlags:
    """Flags for one request (``request.flags``), each evaluated when it is read.

    The context is made once, at the first read: from ``VEXIL["context"]`` if set,
    else from ``request.user``. In an asynchronous view, ``await
    request.flags.aget_context()`` first, so that it is made off the event loop.
    Each read evaluates again, through the client in use at that moment (the
    ``vexil_flags`` fixture's during a test).

    ::

        request.flags["new-ui"]                  # the value, or None for an unknown flag
        request.flags.is_on("new-ui")            # True only if a boolean flag serves True
        request.flags.value("theme", "light")    # with a default (of the flag's type)
        request.flags.detail("theme", "light")   # an EvaluationDetail: value, reason...
        request.flags.all()                      # {key: value} of every flag
    """

    __slots__ = ("_context", "_request", "_user")

    def __init__(self, request: Any = None, *, user: Any = None) -> None:
        self._request = request
        self._user = user
        self._context: dict[str, Any] | None = None

    @property
    def client(self) -> Client:
        """The client that evaluates now: the test fixture's, else ``get_client()``."""
        client = current_client(get_client())
        assert client is not None  # get_client() always returns one
        return client

    @property
    def context(self) -> dict[str, Any]:
        """The evaluation context of this request, made on first use."""
        if self._context is None:
            self._context = self._make_context()
        return self._context

    async def aget_context(self) -> dict[str, Any]:
        """Make the context on a worker thread, for asynchronous views.

        Making it may load ``request.user`` from the database, which Django forbids
        on the event loop; once made, every read is a plain call that never blocks.
        """
        if self._context is None:
            made = await sync_to_async(self._make_context)()
            if self._context is None:
                self._context = made
        return self._context

    def _make_context(self) -> dict[str, Any]:
        if self._request is None:
            return context_of_user(self._user)
        function = current_settings().context
        try:
            if function is None:
                return request_context(self._request)
            made = function(self._request)
            if isinstance(made, Mapping):
                return dict(made)
            log.error(
                "VEXIL['context'] returned %s, not a dict: using the anonymous context",
                type(made).__name__,
            )
        except Exception:
            # A bug in the context function, or a user that cannot be loaded: the page
            # still renders, with the defaults that anonymous visitors get.
            log.exception("could not make the flag context of a request: using the anonymous one")
        return dict(ANONYMOUS)

    def __getitem__(self, key: str) -> Any:
        return self.client.variation(key, self.context, None)

    def value(self, key: str, default: Any = None) -> Any:
        """The flag's value for this request, or ``default``."""
        return self.client.variation(key, self.context, default)

    def detail(self, key: str, default: Any = None) -> EvaluationDetail[Any]:
        """The flag's value with its variant, reason and error."""
        return self.client.variation_detail(key, self.context, default)

    def is_on(self, key: str) -> bool:
        """Whether a boolean flag serves ``True`` (``False`` on any error)."""
        return self.client.bool_variation(key, self.context, False) is True

    def all(self) -> dict[str, Any]:
        """Every flag's value for this request (not counted in evaluation summaries)."""
        return self.client.all_flags(self.context)

    def __repr__(self) -> str:
        made = "not yet made" if self._context is None else repr(self._context)
        return f"<RequestFlags context {made}>"


def flags_of(request: Any) -> RequestFlags:
    """``request.flags`` when the middleware set it, else flags for this request."""
    flags = getattr(request, "flags", None)
    return flags if isinstance(flags, RequestFlags) else RequestFlags(request)
