"""A Flask application whose pages follow Vexil flags.

Run it from the repository's root (flags from ``flags.yaml`` next to this file)::

    flask --app examples/flask/app.py run

or against a Vexil server, with an environment's server SDK key::

    VEXIL_SDK_KEY=vx-srv-... VEXIL_URL=http://127.0.0.1:8800 flask --app examples/flask/app.py run

Sign in as anyone at ``/login/<name>`` (a demonstration: no password).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, redirect, render_template_string, session, url_for
from werkzeug.wrappers import Response

from vexil.integrations.flask import Vexil, flag, flag_required, request_context

app = Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY", "change me: for the demonstration only")
if os.environ.get("VEXIL_SDK_KEY"):
    # Client() reads VEXIL_SDK_KEY and VEXIL_URL from the environment itself.
    app.config["VEXIL_OPTIONS"] = {"init_timeout": 2}
else:
    # Relative to the application's directory; edits are picked up within a second.
    app.config.update(VEXIL_FILE="flags.yaml", VEXIL_WATCH=True)

vexil = Vexil(app)


@vexil.context_loader
def flag_context() -> dict[str, Any]:
    """Who the flags are evaluated for: the signed-in name, else an anonymous visitor.

    With Flask-Login, there is nothing to write: its current user is the default.
    """
    name = session.get("user")
    if name is None:
        return request_context()
    return {"key": name, "email": f"{name}@vexil.dev" if name == "staff" else f"{name}@example.com"}


PAGE = """
<!doctype html>
<title>Vexil and Flask</title>
{% set banner = flag("welcome-banner", "") %}
{% if banner %}<p><strong>{{ banner }}</strong></p>{% endif %}
{% if "new-ui" is flag_on %}
  <h1>The new home page</h1>
  <p><a href="{{ url_for('new_dashboard') }}">Try the new dashboard</a></p>
{% else %}
  <h1>Home</h1>
{% endif %}
<p>Signed in as {{ session.get("user", "nobody") }}.
   Try <a href="/login/ana">ana</a>, <a href="/login/staff">staff</a>,
   <a href="/login/bob">bob</a> or <a href="/logout">sign out</a>.</p>
"""


@app.get("/")
def home() -> str:
    return render_template_string(PAGE)


@app.get("/dashboard")
@flag_required("new-ui", redirect_to="home")  # the old page for everyone else
def new_dashboard() -> str:
    return "The new dashboard."


@app.get("/api/theme")
def theme() -> dict[str, Any]:
    # In Python code, `flag()` reads a flag for the current request, as templates do.
    return {"new_ui": flag("new-ui"), "flags": vexil.all_flags()}


@app.get("/login/<name>")
def login(name: str) -> Response:
    session["user"] = name
    return redirect(url_for("home"))


@app.get("/logout")
def logout() -> Response:
    session.pop("user", None)
    return redirect(url_for("home"))
