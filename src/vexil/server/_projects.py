"""Projects, environments and their SDK keys."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

from vexil.flags._parse import KEY_PATTERN

from ._auth import new_secret
from ._credentials import digest
from ._errors import BadRequest, Conflict, NotFound
from ._store import Store, Tx, new_id, now
from ._tables import environments, flags, projects, sdk_keys, targeting

#: The engine's key pattern, which the OpenAPI document declares too.
KEY_RE = re.compile(KEY_PATTERN + r"\Z")


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


def project_row(conn: Connection, key: str, *, lock: bool = False) -> Any:
    row = None
    if could_exist(key):
        row = conn.execute(locked(select(projects).where(projects.c.key == key), lock)).first()
    if row is None:
        raise NotFound(f"no project {key!r}", field="project")
    return row


def environment_row(conn: Connection, project_id: int, key: str, *, lock: bool = False) -> Any:
    row = None
    if could_exist(key):
        query = select(environments).where(
            environments.c.project_id == project_id, environments.c.key == key
        )
        row = conn.execute(locked(query, lock)).first()
    if row is None:
        raise NotFound(f"no environment {key!r}", field="environment")
    return row


def project_json(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": row.name,
        "description": row.description,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
    }


def environment_json(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": row.name,
        "production": row.production,
        "secure_mode": row.secure_mode,
        "revision": row.revision,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
    }


def list_projects(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [project_json(r) for r in conn.execute(select(projects).order_by(projects.c.key))]


def get_project(store: Store, key: str) -> dict[str, Any]:
    with store.read() as conn:
        return project_json(project_row(conn, key))


def create_project(
    store: Store,
    actor: str,
    key: str,
    name: str | None = None,
    description: str = "",
    environments_: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A project, with environments ``development`` and ``production`` unless told otherwise."""
    check_key(key)
    envs = environments_ or [
        {"key": "development", "name": "Development"},
        {"key": "production", "name": "Production", "production": True},
    ]
    with store.write() as tx:
        if tx.conn.execute(select(projects.c.id).where(projects.c.key == key)).first():
            raise Conflict(f"project {key!r} already exists", field="key")
        project_id = new_id(
            tx.conn.execute(
                insert(projects).values(
                    key=key, name=name or key, description=description, version=1, created_at=now()
                )
            )
        )
        for env in envs:
            _insert_environment(tx, project_id, env)
        after = project_json(project_row(tx.conn, key))
        tx.audit(actor, "project.create", "project", key, project_id=project_id, after=after)
    return after


def update_project(
    store: Store, actor: str, key: str, changes: dict[str, Any], if_version: int | None
) -> dict[str, Any]:
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
            actor,
            "project.update",
            "project",
            key,
            project_id=row.id,
            before=project_json(row),
            after=after,
        )
    return after


def delete_project(store: Store, actor: str, key: str) -> None:
    with store.write() as tx:
        row = project_row(tx.conn, key, lock=True)
        tx.conn.execute(delete(projects).where(projects.c.id == row.id))
        tx.audit(
            actor, "project.delete", "project", key, project_id=row.id, before=project_json(row)
        )


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


def list_environments(store: Store, project: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        row = project_row(conn, project)
        rows = conn.execute(
            select(environments)
            .where(environments.c.project_id == row.id)
            .order_by(environments.c.id)
        )
        return [environment_json(r) for r in rows]


def get_environment(store: Store, project: str, key: str) -> dict[str, Any]:
    with store.read() as conn:
        return environment_json(environment_row(conn, project_row(conn, project).id, key))


def create_environment(
    store: Store, actor: str, project: str, body: dict[str, Any]
) -> dict[str, Any]:
    check_key(body.get("key", ""))
    with store.write() as tx:
        # Locked so that a flag created meanwhile cannot miss the new environment.
        prow = project_row(tx.conn, project, lock=True)
        exists = tx.conn.execute(
            select(environments.c.id).where(
                environments.c.project_id == prow.id, environments.c.key == body["key"]
            )
        ).first()
        if exists:
            raise Conflict(f"environment {body['key']!r} already exists", field="key")
        env_id = _insert_environment(tx, prow.id, body)
        _seed_targeting(tx, prow.id, env_id)
        after = environment_json(environment_row(tx.conn, prow.id, body["key"]))
        tx.audit(
            actor,
            "environment.create",
            "environment",
            body["key"],
            project_id=prow.id,
            env_id=env_id,
            after=after,
        )
    return after


def update_environment(
    store: Store,
    actor: str,
    project: str,
    key: str,
    changes: dict[str, Any],
    if_version: int | None,
) -> dict[str, Any]:
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
            actor,
            "environment.update",
            "environment",
            key,
            project_id=prow.id,
            env_id=row.id,
            before=environment_json(row),
            after=after,
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
        tx.audit(
            actor,
            "environment.delete",
            "environment",
            key,
            project_id=prow.id,
            env_id=row.id,
            before=environment_json(row),
        )


def _insert_environment(tx: Tx, project_id: int, env: dict[str, Any]) -> int:
    key = check_key(env["key"])
    env_id = new_id(
        tx.conn.execute(
            insert(environments).values(
                project_id=project_id,
                key=key,
                name=env.get("name") or key,
                production=bool(env.get("production", False)),
                secure_mode=bool(env.get("secure_mode", False)),
                revision=0,
                version=1,
                created_at=now(),
            )
        )
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


def list_keys(store: Store, project: str, env: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        rows = conn.execute(
            select(sdk_keys).where(sdk_keys.c.environment_id == erow.id).order_by(sdk_keys.c.id)
        )
        t = now()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "key": r.key,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            }
            for r in rows
            if r.expires_at is None or r.expires_at > t
        ]


def rotate_key(
    store: Store, actor: str, project: str, env: str, kind: str, overlap_seconds: int
) -> dict[str, Any]:
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
            "sdk_key",
            kind,
            project_id=prow.id,
            env_id=erow.id,
            after={"kind": kind, "overlap_seconds": overlap_seconds},
        )
    return {"kind": kind, "key": key, "previous_expire_in_seconds": overlap_seconds}
