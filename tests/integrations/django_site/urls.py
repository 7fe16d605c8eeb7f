# mypy: allow-subclassing-any, disable-error-code="import-untyped"
"""Routes of the test site."""

from django.urls import path

from . import views

urlpatterns = [
    path("old-ui/", views.old_ui, name="old-ui"),
    path("new-ui/", views.new_ui),
    path("new-ui-or-old/", views.new_ui_or_old),
    path("async/", views.async_new_ui),
    path("class/", views.ClassNewUi.as_view()),
    path("class-or-old/", views.ClassNewUiOrOld.as_view()),
    path("method-decorated/", views.MethodDecoratedNewUi.as_view()),
    path("mixin/", views.MixinNewUi.as_view()),
    path("mixin-or-old/", views.MixinNewUiOrOld.as_view()),
    path("async-class/", views.AsyncClassNewUi.as_view()),
    path("async-mixin/", views.AsyncMixinNewUi.as_view()),
    path("lazy/", views.lazy),
    path("flags/", views.flags),
    path("async-flags/", views.async_flags),
    path("page/", views.page),
]
