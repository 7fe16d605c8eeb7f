"""Projects, environments and their SDK keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update
from typing_extensions import TypedDict

from vexil.flags._parse import KEY_RE

from ._auth import new_secret
from ._clock import now
from ._credentials import digest
from ._errors import BadRequest, Conflict, NotFound
from ._rows import Row, from_row
from ._store import Store, Tx
from ._tables import environments, flags, projects, sdk_keys, targeting


def check_key(key: str, field: str = "key") -> str:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise BadRequest(
            f"invalid key {key!r}: use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return key


def could_exist(key: str) -> bool:
    """Whether ``key`` is a valid key: others name nothing, and need no query.

    (PostgreSQL refuses strings with NUL characters outright, for one.)
    """
    return isinstance(key, str) and KEY_RE.match(key) is not None


def locked(query: Select[Any], lock: bool) -> Select[Any]:
    """``query`` with ``FOR UPDATE`` when ``lock``.

    Writers lock the row they are about to change *before* reading what they
    check (its version, its targeting): on PostgreSQL two writers would otherwise
    both pass the check on the same version, and the second would overwrite the
    first. SQLite needs no row locks: its writers hold the database lock from the
    start (``BEGIN IMMEDIATE``).
    """
    return query.with_for_update() if lock else query


def keyed_row(
    conn: Connection, query: Select[Any], what: str, key: str, *, lock: bool = False
) -> Row:
    """The row ``query`` finds, or 404 naming ``what``; a key that could not exist
    is not looked for."""
    row = conn.execute(locked(query, lock)).first() if could_exist(key) else None
    if row is None:
        raise NotFound(f"no {what} {key!r}", field=what)
    return row


def check_new(
    conn: Connection, query: Select[Any], what: str, key: str, field: str = "key"
) -> None:
    """Refuse (409) a new ``what`` of ``key`` that ``query`` finds already."""
    if conn.execute(query).first() is not None:
        raise Conflict(f"{what} {key!r} already exists", field=field)


def project_row(conn: Connection, key: str, *, lock: bool = False) -> Row:
    return keyed_row(conn, select(projects).where(projects.c.key == key), "project", key, lock=lock)


def environment_row(conn: Connection, project_id: int, key: str, *, lock: bool = False) -> Row:
    query = select(environments).where(
        environments.c.project_id == project_id, environments.c.key == key
    )
    return keyed_row(conn, query, "environment", key, lock=lock)


class Project(TypedDict):
    key: str
    name: str
    description: str
    version: int
    created_at: str


class Environment(TypedDict):
    key: str
    name: str
    production: bool
    #: OFREP with a client key must send the targeting key's HMAC.
    secure_mode: bool
    #: Bumped by every change of the environment's flags or segments.
    revision: int
    version: int
    created_at: str


class SdkKey(TypedDict):
    id: int
    kind: str
    key: str
    created_at: str
    #: When a rotated key stops working.
    expires_at: str | None


class RotatedKey(TypedDict):
    kind: str
    key: str
    previous_expire_in_seconds: int


def project_json(row: Row) -> Project:
    return from_row(Project, row)


def environment_json(row: Row) -> Environment:
    return from_row(Environment, row)


def list_projects(store: Store, project_id: int | None = None) -> list[Project]:
    """Every project; with ``project_id``, only that one (a token limited to it)."""
    query = select(projects).order_by(projects.c.key)
    if project_id is not None:
        query = query.where(projects.c.id == project_id)
    with store.read() as conn:
        return [project_json(r) for r in conn.execute(query)]


def get_project(store: Store, key: str) -> Project:
    with store.read() as conn:
        return project_json(project_row(conn, key))


def project_key(store: Store, project_id: int) -> str:
    with store.read() as conn:
        key: str = conn.execute(
            select(projects.c.key).where(projects.c.id == project_id)
        ).scalar_one()
    return key


def create_project(
    store: Store,
    actor: str,
    key: str,
    name: str | None = None,
    description: str = "",
    environments_: list[dict[str, Any]] | None = None,
) -> Project:
    """A project, with environments ``development`` and ``production`` unless told otherwise."""
    check_key(key)
    envs = environments_ or [
        {"key": "development", "name": "Development"},
        {"key": "production", "name": "Production", "production": True},
    ]
    with store.write() as tx:
        check_new(tx.conn, select(projects.c.id).where(projects.c.key == key), "project", key)
        project_id = tx.insert(
            projects,
            key=key,
            name=name or key,
            description=description,
            version=1,
            created_at=now(),
        )
        for env in envs:
            _insert_environment(tx, project_id, env)
        after = project_json(project_row(tx.conn, key))
        tx.audit(actor, "project.create", key, project_id=project_id, after=after)
    return after


def update_project(
    store: Store, actor: str, key: str, changes: Mapping[str, Any], if_version: int | None
) -> Project:
    with store.write() as tx:
        row = project_row(tx.conn, key, lock=True)
        check_version(row.version, if_version)
        values = {
            k: v for k, v in changes.items() if k in ("name", "description") and v is not None
        }
        tx.conn.execute(
            update(projects)
            .where(projects.c.id == row.id)
            .values(version=row.version + 1, **values)
        )
        after = project_json(project_row(tx.conn, key))
        tx.audit(
            actor, "project.update", key, project_id=row.id, before=project_json(row), after=after
        )
    return after


def delete_project(store: Store, actor: str, key: str) -> None:
    with store.write() as tx:
        row = project_row(tx.conn, key, lock=True)
        tx.conn.execute(delete(projects).where(projects.c.id == row.id))
        tx.audit(actor, "project.delete", key, project_id=row.id, before=project_json(row))


def check_version(current: int, expected: int | None) -> None:
    """Optimistic concurrency: a stale ``If-Match`` is refused with the current version."""
    if expected is not None and expected != current:
        error = Conflict(
            f"the resource changed meanwhile: it is at version {current}, not {expected}",
            current_version=current,
        )
        error.headers["ETag"] = f'"{current}"'
        raise error


# ------------------------------------------------------------ environments


def project_environments(conn: Connection, project_id: int) -> list[Row]:
    """A project's environments, in the order they were made."""
    query = select(environments).where(environments.c.project_id == project_id)
    return list(conn.execute(query.order_by(environments.c.id)))


def list_environments(store: Store, project: str) -> list[Environment]:
    with store.read() as conn:
        rows = project_environments(conn, project_row(conn, project).id)
        return [environment_json(r) for r in rows]


def get_environment(store: Store, project: str, key: str) -> Environment:
    with store.read() as conn:
        return environment_json(environment_row(conn, project_row(conn, project).id, key))


def create_environment(
    store: Store, actor: str, project: str, body: Mapping[str, Any]
) -> Environment:
    check_key(body.get("key", ""))
    with store.write() as tx:
        # Locked so that a flag created meanwhile cannot miss the new environment.
        prow = project_row(tx.conn, project, lock=True)
        query = select(environments.c.id).where(
            environments.c.project_id == prow.id, environments.c.key == body["key"]
        )
        check_new(tx.conn, query, "environment", body["key"])
        env_id = _insert_environment(tx, prow.id, body)
        _seed_targeting(tx, prow.id, env_id)
        row = environment_row(tx.conn, prow.id, body["key"])
        after = environment_json(row)
        tx.audit(actor, "environment.create", row.key, env=row, after=after)
    return after


def update_environment(
    store: Store,
    actor: str,
    project: str,
    key: str,
    changes: Mapping[str, Any],
    if_version: int | None,
) -> Environment:
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        row = environment_row(tx.conn, prow.id, key, lock=True)
        check_version(row.version, if_version)
        editable = ("name", "production", "secure_mode")
        values = {k: v for k, v in changes.items() if k in editable and v is not None}
        if "secure_mode" in values:
            tx.keys_changed = True  # client keys' cached lookups carry the setting
        tx.conn.execute(
            update(environments)
            .where(environments.c.id == row.id)
            .values(version=row.version + 1, **values)
        )
        after = environment_json(environment_row(tx.conn, prow.id, key))
        tx.audit(
            actor, "environment.update", key, env=row, before=environment_json(row), after=after
        )
    return after


def delete_environment(store: Store, actor: str, project: str, key: str) -> None:
    with store.write() as tx:
        prow = project_row(tx.conn, project, lock=True)
        row = environment_row(tx.conn, prow.id, key, lock=True)
        count = tx.conn.execute(
            select(func.count())
            .select_from(environments)
            .where(environments.c.project_id == prow.id)
        ).scalar_one()
        if count <= 1:
            raise Conflict("a project keeps at least one environment", field="environment")
        tx.conn.execute(delete(environments).where(environments.c.id == row.id))
        tx.audit(actor, "environment.delete", key, env=row, before=environment_json(row))


def _insert_environment(tx: Tx, project_id: int, env: Mapping[str, Any]) -> int:
    key = check_key(env["key"])
    env_id = tx.insert(
        environments,
        project_id=project_id,
        key=key,
        name=env.get("name") or key,
        production=bool(env.get("production", False)),
        secure_mode=bool(env.get("secure_mode", False)),
        revision=0,
        version=1,
        created_at=now(),
    )
    for kind in ("server", "client"):
        _insert_key(tx.conn, env_id, kind)
    return env_id


def _seed_targeting(tx: Tx, project_id: int, env_id: int) -> None:
    """A new environment starts with every flag of the project off.

    The flags are read with a share lock: a change of variations waits for the new
    environment (and then checks it too) rather than slipping in between.
    """
    query = select(flags).where(flags.c.project_id == project_id).with_for_update(read=True)
    for flag in tx.conn.execute(query).all():
        tx.conn.execute(
            insert(targeting).values(
                flag_id=flag.id,
                environment_id=env_id,
                body=initial_targeting(flag.variations),
                version=1,
                updated_at=now(),
            )
        )


def initial_targeting(
    variations: dict[str, Any], given: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Off, serving the last variation when off and the first by default, unless ``given``."""
    names = list(variations)
    body: dict[str, Any] = {"on": False, "off_variation": names[-1], "default": names[0]}
    body.update(given or {})
    return body


def _insert_key(conn: Connection, env_id: int, kind: str) -> str:
    key = new_secret(kind)
    conn.execute(
        insert(sdk_keys).values(
            environment_id=env_id, kind=kind, key=key, key_hash=digest(key), created_at=now()
        )
    )
    return key


# ------------------------------------------------------------------ SDK keys


def list_keys(store: Store, project: str, env: str) -> list[SdkKey]:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        rows = conn.execute(
            select(sdk_keys).where(sdk_keys.c.environment_id == erow.id).order_by(sdk_keys.c.id)
        )
        t = now()
        return [from_row(SdkKey, r) for r in rows if r.expires_at is None or r.expires_at > t]


def rotate_key(
    store: Store, actor: str, project: str, env: str, kind: str, overlap_seconds: int
) -> RotatedKey:
    """A new key of ``kind``; the current ones keep working for ``overlap_seconds``."""
    if kind not in ("server", "client"):
        raise BadRequest("kind must be 'server' or 'client'", field="kind")
    if not 0 <= overlap_seconds <= 30 * 86400:
        raise BadRequest(
            "overlap_seconds must be from 0 to 2592000 (30 days)", field="overlap_seconds"
        )
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        erow = environment_row(tx.conn, prow.id, env)
        t = now()
        tx.conn.execute(
            update(sdk_keys)
            .where(sdk_keys.c.environment_id == erow.id, sdk_keys.c.kind == kind)
            .where(
                sdk_keys.c.expires_at.is_(None)
                | (sdk_keys.c.expires_at > t + timedelta(seconds=overlap_seconds))
            )
            .values(expires_at=t + timedelta(seconds=overlap_seconds))
        )
        key = _insert_key(tx.conn, erow.id, kind)
        tx.audit(
            actor,
            "sdk_key.rotate",
            kind,
            env=erow,
            after={"kind": kind, "overlap_seconds": overlap_seconds},
        )
    return RotatedKey(kind=kind, key=key, previous_expire_in_seconds=overlap_seconds)
