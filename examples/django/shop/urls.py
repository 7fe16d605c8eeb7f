"""Routes of the example."""

from django.urls import path

from shop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/<str:name>", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("api/flags", views.api_flags, name="api-flags"),
]
