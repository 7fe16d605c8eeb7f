"""Settings of the example: the Vexil app, its middleware, and ``VEXIL``.

No database: visitors "sign in" with a name kept in a signed cookie.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "change me: for the demonstration only")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop.urls"
USE_TZ = True

INSTALLED_APPS = [
    "vexil.integrations.django",  # starts the client, and gives templates {% load vexil %}
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Put it after AuthenticationMiddleware when you have one. It only attaches a lazy
    # request.flags: nothing is evaluated until a view or template reads a flag.
    "vexil.integrations.django.middleware.FlagsMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            # {% flag %} uses the request's context when `request` is in the template.
            "context_processors": ["django.template.context_processors.request"],
        },
    }
]

if os.environ.get("VEXIL_SDK_KEY"):
    # A Vexil server: the client keeps a stream open, so a toggle reaches the next request.
    VEXIL = {
        "sdk_key": os.environ["VEXIL_SDK_KEY"],
        "url": os.environ.get("VEXIL_URL", "http://127.0.0.1:8800"),
        "options": {"init_timeout": 2},
        "context": "shop.flags.context",
    }
else:
    # The flags of flags.yaml, reloaded within a second of an edit.
    VEXIL = {
        "file": BASE_DIR / "flags.yaml",
        "watch": True,
        "context": "shop.flags.context",
    }
