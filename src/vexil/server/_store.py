"""The store: transactions that validate, version, audit, log changes and publish.

Every write goes through ``Store.write()``: one transaction in which the writer
locks the environments it changes, validates with the engine, bumps each
environment's revision once, records what changed (for stream replay) and an
audit entry; after the commit, the changes are published on the bus. A write
that fails leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Row,
    Table,
    delete,
    insert,
    select,
    text,
    update,
)
from starlette.concurrency import run_in_threadpool

from vexil.flags import Ruleset, ValidationError

# The engine's split of a flag's fields, named here too: the server stores the parts apart.
from vexil.flags._parse import SHARED_FIELDS as SHARED_FIELDS
from vexil.flags._parse import TARGETING_FIELDS as TARGETING_FIELDS

from ._bus import CHANNEL, Change, Hub
from ._clock import now
from ._credentials import CredentialCache
from ._errors import NotFound, Unprocessable
from ._tables import audit_log as audit_table
from ._tables import changes, environments, flags, segments, targeting


def new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class Tx:
    """One write transaction."""

    def __init__(self, store: Store, conn: Connection) -> None:
        self.store, self.conn = store, conn
        self.revisions: dict[int, int] = {}
        self.rulesets: dict[int, Ruleset] = {}
        #: Set when SDK keys may have changed, so cached lookups are dropped at commit.
        self.keys_changed = False

    def insert(self, table: Table, **values: Any) -> int:
        """Insert a row into ``table``; its id."""
        return new_id(self.conn.execute(insert(table).values(**values)))

    def lock_environment(self, env_id: int) -> None:
        """Serialize writers of one environment (SQLite's BEGIN IMMEDIATE already does)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                select(environments.c.id).where(environments.c.id == env_id).with_for_update()
            )

    def ruleset(self, env_id: int) -> Ruleset:
        """The environment's ruleset as this transaction sees it (cached across writes)."""
        if env_id not in self.rulesets:
            self.lock_environment(env_id)
            self.rulesets[env_id] = self.store.rulesets.load(self.conn, env_id)[1]
        return self.rulesets[env_id]

    def validated(self, env_id: int, change: Any) -> Ruleset:
        """Apply ``change(ruleset) -> ruleset`` with the engine, or raise 422 naming the field."""
        try:
            result: Ruleset = change(self.ruleset(env_id))
        except ValidationError as exc:
            raise Unprocessable.of(exc) from None
        self.rulesets[env_id] = result
        return result

    def record(self, env_id: int, kind: str, key: str) -> int:
        """Note that ``kind`` ``key`` changed in an environment; returns its new revision."""
        revision = self.revisions.get(env_id)
        if revision is None:
            self.conn.execute(
                update(environments)
                .where(environments.c.id == env_id)
                .values(revision=environments.c.revision + 1)
            )
            revision = self.conn.execute(
                select(environments.c.revision).where(environments.c.id == env_id)
            ).scalar_one()
            self.revisions[env_id] = revision
            if self.conn.dialect.name == "postgresql":
                self.conn.execute(
                    text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": f"{env_id}:{revision}"}
                )
            keep = self.store.change_log_size
            self.conn.execute(
                delete(changes).where(
                    changes.c.environment_id == env_id, changes.c.revision <= revision - keep
                )
            )
        self.conn.execute(
            insert(changes).values(
                environment_id=env_id, revision=revision, kind=kind, key=key, created_at=now()
            )
        )
        return revision

    def audit(
        self,
        actor: str,
        action: str,
        key: str | None,
        *,
        project_id: int | None = None,
        env: Row[Any] | None = None,
        before: Any = None,
        after: Any = None,
        comment: str = "",
    ) -> None:
        """Record who did ``action`` (such as "flag.create") to the resource the action
        names (a flag) of ``key``, in a project or in an environment ``env`` (its row),
        with its state before and after."""
        resource = action.partition(".")[0]
        if env is not None:  # in an environment, and so in its project
            project_id = env.project_id
        if action.startswith(("sdk_key.", "project.delete", "environment.delete")):
            self.keys_changed = True
        self.conn.execute(
            insert(audit_table).values(
                at=now(),
                actor=actor,
                action=action,
                resource=resource,
                resource_key=key,
                project_id=project_id,
                environment_id=None if env is None else env.id,
                before=before,
                after=after,
                comment=comment,
            )
        )


class RulesetCache:
    """Compiled rulesets per environment, keyed by revision, shared by requests.

    Rebuilt from the database when the environment's revision moved on (a write
    by another replica); updated in place after this process's own writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rulesets: dict[int, tuple[int, Ruleset]] = {}
        self._documents: dict[tuple[int, int], bytes] = {}

    def load(self, conn: Connection, env_id: int) -> tuple[int, Ruleset]:
        """The environment's current revision and its ruleset."""
        revision = conn.execute(
            select(environments.c.revision).where(environments.c.id == env_id)
        ).scalar_one_or_none()
        if revision is None:
            raise NotFound(f"no environment {env_id}")
        cached = self._rulesets.get(env_id)
        if cached is not None and cached[0] == revision:
            return cached
        ruleset = Ruleset.from_data(environment_document(conn, env_id))
        self.put(env_id, revision, ruleset)
        return revision, ruleset

    def put(self, env_id: int, revision: int, ruleset: Ruleset) -> None:
        with self._lock:
            current = self._rulesets.get(env_id)
            if current is None or current[0] <= revision:
                self._rulesets[env_id] = (revision, ruleset)

    def cached(self, env_id: int) -> tuple[int, Ruleset] | None:
        return self._rulesets.get(env_id)

    def document_bytes(self, env_id: int, revision: int, render: Any) -> bytes:
        """The serialized ruleset of a revision, rendered once."""
        key = (env_id, revision)
        body = self._documents.get(key)
        if body is None:
            body = render()
            with self._lock:
                self._documents = {k: v for k, v in self._documents.items() if k[0] != env_id}
                self._documents[key] = body
        return body


def environment_document(conn: Connection, env_id: int) -> dict[str, Any]:
    """The flag document of one environment, assembled from the tables."""
    env = conn.execute(select(environments).where(environments.c.id == env_id)).one()
    rows = conn.execute(
        select(flags, targeting.c.body)
        .join(targeting, targeting.c.flag_id == flags.c.id)
        .where(targeting.c.environment_id == env_id, flags.c.project_id == env.project_id)
        .order_by(flags.c.key)
    ).all()
    segs = conn.execute(
        select(segments.c.key, segments.c.body)
        .where(segments.c.environment_id == env_id)
        .order_by(segments.c.key)
    ).all()
    return {
        "version": 1,
        "flags": {row.key: flag_document(row._mapping, row.body) for row in rows},
        "segments": dict(segs),
    }


def flag_document(flag: Any, body: dict[str, Any]) -> dict[str, Any]:
    """A flag's document in one environment: its shared fields plus that targeting."""
    doc = {name: flag[name] for name in SHARED_FIELDS}
    doc.update({k: v for k, v in body.items() if k in TARGETING_FIELDS and v is not None})
    return doc


class Store:
    def __init__(self, engine: Engine, hub: Hub, change_log_size: int = 1000) -> None:
        self.engine, self.hub = engine, hub
        self.change_log_size = change_log_size
        self.rulesets = RulesetCache()
        self.credentials = CredentialCache()

    def fresh(self, env_id: int) -> tuple[int, Ruleset] | None:
        """The cached ruleset if the bus knows of nothing newer; never touches the database.

        The bus hears of this process's writes as they commit, and of other replicas'
        through PostgreSQL notifications or the revision poll, so a replica answers
        from memory and sees another's change within ``poll_seconds`` at worst.
        """
        cached = self.rulesets.cached(env_id)
        latest = self.hub.latest(env_id)
        if cached is not None and latest is not None and cached[0] >= latest:
            return cached
        return None

    async def latest(self, env_id: int) -> tuple[int, Ruleset]:
        """``current`` for async handlers: memory in the loop, the database in a thread."""
        found = self.fresh(env_id)
        if found is None:
            found = await run_in_threadpool(self.current, env_id)
        return found

    def current(self, env_id: int) -> tuple[int, Ruleset]:
        """The environment's revision and ruleset, from memory or else the database."""
        found = self.fresh(env_id)
        if found is not None:
            return found
        with self.read() as conn:
            return self.rulesets.load(conn, env_id)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(vexil_write=True)
            with conn.begin():
                tx = Tx(self, conn)
                yield tx
        if tx.keys_changed:
            self.credentials.clear()
        for env_id, revision in tx.revisions.items():
            if env_id in tx.rulesets:
                self.rulesets.put(env_id, revision, tx.rulesets[env_id])
        for env_id, revision in tx.revisions.items():
            self.hub.publish(Change(env_id, revision))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn
