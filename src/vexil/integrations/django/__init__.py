# mypy: disable-error-code="import-untyped"
"""Feature flags in Django: an app, a middleware, a view decorator and a template tag.

::

    INSTALLED_APPS = [..., "vexil.integrations.django"]
    MIDDLEWARE = [..., "vexil.integrations.django.middleware.FlagsMiddleware"]
    VEXIL = {"sdk_key": "vx-srv-...", "url": "https://flags.internal"}

The app makes one client when Django starts (``get_client()``); views read
``request.flags``, are guarded by ``@flag_required("new-ui")`` or
``FlagRequiredMixin``, and templates use ``{% load vexil %}{% flag "new-ui" as on %}``.
Every evaluation goes through ``current_client(get_client())``, so the pytest
plugin's ``vexil_flags`` fixture takes over in tests.

Needs the ``django`` extra: ``pip install 'vexil[django]'``. See ``docs/integrations.md``.
"""

from __future__ import annotations

from vexil.integrations._base import context_of_user, needs_extra

try:
    import django  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise needs_extra("the Django integration", "django") from error

from vexil.integrations.django._client import VexilSettings, close_client, get_client, read_settings
from vexil.integrations.django._flags import RequestFlags, request_context
from vexil.integrations.django.decorators import flag_required
from vexil.integrations.django.middleware import FlagsMiddleware
from vexil.integrations.django.mixins import FlagRequiredMixin

__all__ = [
    "FlagRequiredMixin",
    "FlagsMiddleware",
    "RequestFlags",
    "VexilSettings",
    "close_client",
    "context_of_user",
    "flag_required",
    "get_client",
    "read_settings",
    "request_context",
]
