# mypy: allow-subclassing-any, disable-error-code="import-untyped"
"""Views of the test site: each guarded or flag-reading way the integration offers."""

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View

from vexil.integrations.django import FlagRequiredMixin, flag_required, request_context


def old_ui(request: Any) -> HttpResponse:
    return HttpResponse("old ui")


@flag_required("new-ui")
def new_ui(request: Any) -> HttpResponse:
    return HttpResponse("new ui")


@flag_required("new-ui", redirect_to="old-ui")
def new_ui_or_old(request: Any) -> HttpResponse:
    return HttpResponse("new ui")


@flag_required("new-ui")
async def async_new_ui(request: Any) -> HttpResponse:
    return HttpResponse("new ui, async")


@flag_required("new-ui")
class ClassNewUi(View):
    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, class")


@flag_required("new-ui", redirect_to="/old-ui/")
class ClassNewUiOrOld(View):
    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, class")


@method_decorator(flag_required("new-ui"), name="dispatch")
class MethodDecoratedNewUi(View):
    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, method_decorator")


class MixinNewUi(FlagRequiredMixin, View):
    flag_required = "new-ui"

    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, mixin")


class MixinNewUiOrOld(MixinNewUi):
    flag_redirect_to = "old-ui"


@flag_required("new-ui")
class AsyncClassNewUi(View):
    async def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, async class")


class AsyncMixinNewUi(FlagRequiredMixin, View):
    flag_required = "new-ui"
    flag_redirect_to = "old-ui"

    async def get(self, request: Any) -> HttpResponse:
        return HttpResponse("new ui, async mixin")


def lazy(request: Any) -> JsonResponse:
    """Reads a flag only when asked to (``?read=1``), to show that nothing else does."""
    before = repr(request.flags)
    value = request.flags["new-ui"] if request.GET.get("read") else "unread"
    return JsonResponse({"before": before, "value": value, "after": repr(request.flags)})


def flags(request: Any) -> JsonResponse:
    """The request's context, and what each way of reading ``beta`` gives."""
    detail = request.flags.detail("beta", False)
    return JsonResponse(
        {
            "context": request.flags.context,
            "item": request.flags["beta"],
            "value": request.flags.value("beta", False),
            "is_on": request.flags.is_on("beta"),
            "detail": [detail.value, detail.reason.value],
            "all": request.flags.all(),
        }
    )


async def async_flags(request: Any) -> JsonResponse:
    """Reads flags in an asynchronous view, for a user loaded off the event loop."""
    context = await request.flags.aget_context()
    return JsonResponse({"context": context, "is_on": request.flags.is_on("beta")})


def page(request: Any) -> HttpResponse:
    return render(request, "vexil_page.html")


# Context functions for VEXIL["context"], named by dotted path.


def context_with_plan(request: Any) -> dict[str, Any]:
    return {**request_context(request), "plan": request.headers.get("X-Plan", "free")}


def broken_context(request: Any) -> dict[str, Any]:
    raise RuntimeError("the context function is broken")
