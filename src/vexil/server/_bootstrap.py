"""First start: a project, its environments, an admin and keys; optionally demo flags."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from importlib import resources

from sqlalchemy import func, select

from vexil.flags import read_document

from . import _access, _flags, _projects, _segments
from ._settings import Settings
from ._store import Store
from ._tables import flags, projects

SYSTEM = "system:bootstrap"


@dataclass
class FirstStart:
    """What a person needs after the first start, printed once."""

    username: str
    password: str | None  # None when it came from VEXIL_ADMIN_PASSWORD
    keys: dict[str, list[_projects.SdkKey]] = field(default_factory=dict)


def bootstrap(store: Store, settings: Settings, demo: bool = False) -> FirstStart | None:
    """Create the ``default`` project and an admin on an empty database, and seed demo data.

    Returns what to print on a first start, or None when the database was not empty.
    """
    with store.read() as conn:
        empty = conn.execute(select(func.count()).select_from(projects)).scalar_one() == 0
    first: FirstStart | None = None
    if empty:
        _projects.create_project(store, SYSTEM, "default", "Default project")
        password = settings.admin_password or secrets.token_urlsafe(12)
        _access.create_user(store, SYSTEM, "admin", password, "admin")
        keys = {
            env["key"]: _projects.list_keys(store, "default", env["key"])
            for env in _projects.list_environments(store, "default")
        }
        first = FirstStart("admin", None if settings.admin_password else password, keys)
    if demo:
        seed_demo(store)
    return first


def seed_demo(store: Store, project: str = "default") -> int:
    """Add the demo flags and segments to ``project`` if it has no flags yet; returns how many."""
    with store.read() as conn:
        project_id = _projects.project_row(conn, project).id
        if conn.execute(
            select(func.count()).select_from(flags).where(flags.c.project_id == project_id)
        ).scalar_one():
            return 0
    demo = read_document(resources.files("vexil.server").joinpath("demo.yaml").read_bytes())
    envs = [env["key"] for env in _projects.list_environments(store, project)]
    for env in envs:
        for key, segment in demo["segments"].items():
            _segments.put_segment(store, SYSTEM, project, env, key, segment, None)
    for key, spec in demo["flags"].items():
        shared = {k: v for k, v in spec.items() if k != "targeting"}
        _flags.create_flag(store, SYSTEM, project, {"key": key, **shared})
        for env in envs:
            body = dict(spec.get("targeting", {}))
            # Production starts with everything off: turning a flag on there is a decision.
            body["on"] = body.get("on", False) and env != "production"
            _flags.replace_targeting(store, SYSTEM, project, env, key, body, None, "demo data")
    return len(demo["flags"])
