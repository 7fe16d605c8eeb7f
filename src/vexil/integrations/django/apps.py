# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any
"""The Django app: ``"vexil.integrations.django"`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig

from vexil.integrations.django._client import get_client

__all__ = ["VexilConfig"]


class VexilConfig(AppConfig):
    """Starts the client when Django starts, from ``settings.VEXIL``.

    A wrong setting stops the start with ``ImproperlyConfigured``. ``ready()`` may
    run more than once (some test runners and commands call it again): the client is
    made once, so no second connection is opened. After a fork (gunicorn
    ``--preload``, Celery's prefork pool), the SDK restarts the client's threads in
    each child on its own.
    """

    name = "vexil.integrations.django"
    label = "vexil"
    verbose_name = "Vexil feature flags"

    def ready(self) -> None:
        get_client()
