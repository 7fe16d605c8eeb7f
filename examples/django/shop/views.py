"""Views of the example: a page with flags in its template, a guarded page, and JSON."""

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from vexil.integrations.django import flag_required


def home(request: Any) -> HttpResponse:
    return render(request, "shop/home.html", {"user_name": request.session.get("user")})


def login(request: Any, name: str) -> HttpResponse:
    """Signs in as anyone (a demonstration: no password)."""
    request.session["user"] = name
    return redirect("home")


def logout(request: Any) -> HttpResponse:
    request.session.flush()
    return redirect("home")


@flag_required("new-ui", redirect_to="home")  # the old home page for everyone else
def dashboard(request: Any) -> HttpResponse:
    return HttpResponse("The new dashboard.")


def api_flags(request: Any) -> JsonResponse:
    # In Python code, request.flags reads flags for this request, as templates do.
    return JsonResponse(
        {
            "new_ui": request.flags.is_on("new-ui"),
            "banner": request.flags.value("welcome-banner", ""),
            "flags": request.flags.all(),
            "context": request.flags.context,
        }
    )
