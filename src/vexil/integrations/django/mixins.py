# mypy: disable-error-code="import-untyped"
"""``FlagRequiredMixin``: the class-based form of ``flag_required``.

::

    class Dashboard(FlagRequiredMixin, TemplateView):
        flag_required = "new-ui"
        flag_redirect_to = "old-dashboard"      # optional; without it, a 404
        template_name = "dashboard.html"

Put the mixin first, so that it checks the flag before the view's own ``dispatch``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from vexil.integrations.django.decorators import allowed, allowed_async, refuse

__all__ = ["FlagRequiredMixin"]


class FlagRequiredMixin:
    """Serves the view only while boolean flag ``flag_required`` is on for the request."""

    #: The key of the boolean flag that must be on.
    flag_required: str | None = None
    #: Where to send requests while the flag is off (a URL, URL name or model); None: 404.
    flag_redirect_to: Any = None

    def get_flag_required(self) -> str:
        """The flag to check; override to choose it per request."""
        if not self.flag_required:
            raise ImproperlyConfigured(
                f"{type(self).__name__} uses FlagRequiredMixin: set flag_required to a flag key"
            )
        return self.flag_required

    def handle_flag_off(self, request: Any) -> Any:
        """The answer while the flag is off: a redirect, or a 404."""
        return refuse(self.get_flag_required(), self.flag_redirect_to)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "view_is_async", False):
            return self._dispatch_async(request, *args, **kwargs)
        if not allowed(request, self.get_flag_required()):
            return self.handle_flag_off(request)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _dispatch_async(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not await allowed_async(request, self.get_flag_required()):
            return self.handle_flag_off(request)
        return await super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
