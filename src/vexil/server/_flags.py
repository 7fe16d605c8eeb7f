"""Flags (shared by a project's environments) and their targeting (per environment).

Every change is validated by the engine against each environment it touches,
with the rest of that environment's flags and segments, before anything is
written: a change that would break a prerequisite or reference an unknown
segment is refused with the path of the offending field.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired

from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from typing_extensions import TypedDict

from vexil.flags import ValidationError, parse_flag
from vexil.flags._parse import SHARED_FIELDS, TARGETING_FIELDS

from ._clock import now
from ._errors import BadRequest, Unprocessable
from ._projects import (
    check_key,
    check_new,
    check_version,
    environment_row,
    initial_targeting,
    keyed_row,
    project_environments,
    project_row,
)
from ._rows import Row, from_row
from ._store import Store, Tx, flag_document
from ._tables import environments, evaluation_counts, flags, targeting

CREATE_FIELDS = frozenset({"key", *SHARED_FIELDS, "targeting", "comment"})

Metadata = dict[str, str | int | float | bool]


class Targeting(TypedDict):
    """A flag's targeting in one environment: the fields it has, and its version."""

    on: NotRequired[bool]
    off_variation: NotRequired[str]
    #: A variation's name, or a rollout.
    default: NotRequired[str | dict[str, Any]]
    targets: NotRequired[dict[str, list[str]]]
    rules: NotRequired[list[dict[str, Any]]]
    prerequisites: NotRequired[list[dict[str, Any]]]
    version: int
    updated_at: str


class Flag(TypedDict):
    """A flag's shared fields (the same in every environment of its project)."""

    key: str
    name: str
    description: str
    tags: list[str]
    temporary: bool
    client_side: bool
    metadata: Metadata
    type: str
    variations: dict[str, Any]
    version: int
    created_at: str
    updated_at: str


class FlagWithTargeting(Flag):
    #: Its targeting in each environment of the project, by environment key.
    environments: dict[str, Targeting]


class FlagSummary(Flag):
    """A flag in a list: whether it is on in each environment."""

    on: dict[str, bool]
    #: With ``stale_days``: days since its last evaluation, "never", or None if not stale.
    stale: NotRequired[int | str | None]
    last_evaluated: NotRequired[str | None]


class FlagPage(TypedDict):
    items: list[FlagSummary]
    #: How many flags the filters keep, on every page.
    total: int
    limit: int
    offset: int


def flag_row(conn: Connection, project_id: int, key: str, *, lock: bool = False) -> Row:
    """A flag; with ``lock``, locked first: every write of a flag or its targeting does so."""
    query = select(flags).where(flags.c.project_id == project_id, flags.c.key == key)
    return keyed_row(conn, query, "flag", key, lock=lock)


def _targeting_rows(conn: Connection, flag_id: int) -> list[Row]:
    return list(
        conn.execute(
            select(targeting, environments.c.key.label("env_key"))
            .join(environments, environments.c.id == targeting.c.environment_id)
            .where(targeting.c.flag_id == flag_id)
            .order_by(environments.c.id)
        )
    )


def flag_json(row: Row, targetings: list[Row]) -> FlagWithTargeting:
    environments = {t.env_key: targeting_json(t) for t in targetings}
    return from_row(FlagWithTargeting, row, environments=environments)


def targeting_json(row: Row) -> Targeting:
    body = {k: row.body.get(k) for k in TARGETING_FIELDS if row.body.get(k) is not None}
    out = {**body, "version": row.version, "updated_at": row.updated_at.isoformat()}
    return typing.cast(Targeting, out)


def _shared(body: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
    return {k: body[k] for k in SHARED_FIELDS if k in body}


def _normalized(key: str, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared fields, validated on their own and completed with their defaults."""
    try:
        flag = parse_flag(key, {**shared, "variations": shared.get("variations")})
    except ValidationError as exc:
        raise Unprocessable.of(exc) from None
    return {
        "name": flag.name,
        "description": flag.description,
        "tags": list(flag.tags),
        "temporary": flag.temporary,
        "client_side": flag.client_side,
        "metadata": dict(flag.metadata),
        "type": flag.type.value,
        "variations": dict(flag.variations),
    }


# ------------------------------------------------------------------- reading


def list_flags(
    store: Store,
    project: str,
    *,
    query: str | None = None,
    tag: str | None = None,
    limit: int = 100,
    offset: int = 0,
    search_tags: bool = False,
    env: str | None = None,
    on: bool | None = None,
    temporary: bool | None = None,
    stale_days: int | None = None,
    stale_only: bool = False,
) -> FlagPage:
    """A page of a project's flags in key order, filtered, counted and paged in the database.

    ``query`` searches keys and names (and tags, with ``search_tags``), case-insensitively;
    ``tag`` keeps flags with that tag. The other filters need ``env``: ``on`` keeps flags
    on (or off) there; ``stale_days`` adds ``stale`` and ``last_evaluated`` to each item,
    and ``stale_only`` keeps only stale flags (see ``_stale``).
    """
    with store.read() as conn:
        prow = project_row(conn, project)
        where: list[ColumnElement[bool]] = [flags.c.project_id == prow.id]
        dialect = conn.dialect.name
        if query:
            where.append(_search(dialect, query, search_tags))
        if tag:
            where.append(_has_tag(dialect, tag))
        if temporary is not None:
            where.append(flags.c.temporary == temporary)
        env_id = None
        if env is not None and (on is not None or stale_days is not None):
            env_id = environment_row(conn, prow.id, env).id
        if on is not None and env_id is not None:
            is_on = exists().where(
                targeting.c.flag_id == flags.c.id,
                targeting.c.environment_id == env_id,
                targeting.c.body["on"].as_boolean() == true(),
            )
            where.append(is_on if on else ~is_on)
        at = now()
        last = None
        if stale_days is not None and env_id is not None:
            last = _last_evaluated(env_id)
            if stale_only:
                where.append(_stale(env_id, at - timedelta(days=stale_days)))
        total = conn.execute(select(func.count()).select_from(flags).where(*where)).scalar_one()
        columns: list[Any] = [flags]
        if last is not None:
            columns.append(last.label("last_evaluated"))
        rows = conn.execute(
            select(*columns).where(*where).order_by(flags.c.key).limit(limit).offset(offset)
        ).all()
        states = _on_by_environment(conn, [r.id for r in rows])
        staleness = stale_days is not None and last is not None
        items = [
            from_row(
                FlagSummary,
                r,
                on=states.get(r.id, {}),
                **(_staleness(r, at, stale_days or 0) if staleness else {}),
            )
            for r in rows
        ]
    return FlagPage(items=items, total=total, limit=limit, offset=offset)


def _like(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere, its wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _tag_values(dialect: str) -> Any:
    """The flag's tags as rows of a ``value`` column (correlated with ``flags``)."""
    if dialect == "postgresql":
        return func.jsonb_array_elements_text(flags.c.tags).table_valued("value")
    return func.json_each(flags.c.tags).table_valued("value")


def _search(dialect: str, query: str, search_tags: bool) -> ColumnElement[bool]:
    like = _like(query)
    found: list[ColumnElement[bool]] = [
        func.lower(flags.c.key).like(like, escape="\\"),
        func.lower(flags.c.name).like(like, escape="\\"),
    ]
    if search_tags:
        values = _tag_values(dialect)
        in_tags: ColumnElement[bool] = (
            exists().select_from(values).where(func.lower(values.c.value).like(like, escape="\\"))
        )
        if query.isascii() and query.isprintable() and not set(query) & {'"', "\\"}:
            # Such text appears as it is in the tags' JSON: a cheap test of that text
            # first spares unpacking the tags of the flags that cannot match.
            in_tags = and_(func.lower(cast(flags.c.tags, Text)).like(like, escape="\\"), in_tags)
        found.append(in_tags)
    return or_(*found)


def _has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # Containment, which a GIN index on tags could serve.
        return flags.c.tags.op("@>")(bindparam(None, [tag], type_=JSONB))
    values = _tag_values(dialect)
    return exists().select_from(values).where(values.c.value == tag)


def _last_evaluated(env_id: int) -> Any:
    """When the flag was last evaluated in the environment (Unix seconds), or NULL.

    Correlated, so that each flag costs one descent of the (environment_id, flag_key,
    period_end) index rather than a pass over the environment's evaluation counts.
    """
    return (
        select(func.max(evaluation_counts.c.period_end))
        .where(
            evaluation_counts.c.environment_id == env_id,
            evaluation_counts.c.flag_key == flags.c.key,
        )
        .scalar_subquery()
    )


def _stale(env_id: int, cutoff: datetime) -> ColumnElement[bool]:
    """Not evaluated since ``cutoff``, but evaluated before or created before it.

    Written so that a flag usually costs one descent of the index: the second test
    only runs for flags younger than the cutoff.
    """
    ec = evaluation_counts
    mine = and_(ec.c.environment_id == env_id, ec.c.flag_key == flags.c.key)
    return and_(
        ~exists().where(mine, ec.c.period_end >= cutoff.timestamp()),
        or_(flags.c.created_at < cutoff, exists().where(mine)),
    )


def _staleness(row: Row, at: datetime, stale_days: int) -> dict[str, Any]:
    """``stale``: whole days since the last evaluation, "never", or None if not stale."""
    last: float | None = row.last_evaluated
    cutoff = at - timedelta(days=stale_days)
    if last is None:
        stale: int | str | None = "never" if row.created_at < cutoff else None
        when = None
    else:
        evaluated = datetime.fromtimestamp(last, UTC)
        stale = (at - evaluated).days if evaluated < cutoff else None
        when = evaluated.isoformat()
    return {"stale": stale, "last_evaluated": when}


def _on_by_environment(conn: Connection, flag_ids: list[int]) -> dict[int, dict[str, bool]]:
    out: dict[int, dict[str, bool]] = {}
    # In chunks: SQLite takes at most 32,766 parameters in a statement.
    for first in range(0, len(flag_ids), 5000):
        rows = conn.execute(
            select(targeting.c.flag_id, targeting.c.body, environments.c.key)
            .join(environments, environments.c.id == targeting.c.environment_id)
            .where(targeting.c.flag_id.in_(flag_ids[first : first + 5000]))
        )
        for flag_id, body, env_key in rows:
            out.setdefault(flag_id, {})[env_key] = bool(body.get("on", False))
    return out


def get_flag(store: Store, project: str, key: str) -> FlagWithTargeting:
    with store.read() as conn:
        row = flag_row(conn, project_row(conn, project).id, key)
        return flag_json(row, _targeting_rows(conn, row.id))


def get_targeting(store: Store, project: str, env: str, key: str) -> Targeting:
    with store.read() as conn:
        prow = project_row(conn, project)
        erow = environment_row(conn, prow.id, env)
        row = _targeting_row(conn, flag_row(conn, prow.id, key).id, erow.id)
        return targeting_json(row)


def _targeting_row(conn: Connection, flag_id: int, env_id: int) -> Row:
    return conn.execute(
        select(targeting).where(
            targeting.c.flag_id == flag_id, targeting.c.environment_id == env_id
        )
    ).one()


# ------------------------------------------------------------------- writing


def create_flag(
    store: Store, actor: str, project: str, body: Mapping[str, Any]
) -> FlagWithTargeting:
    key = check_key(body.get("key", ""))
    shared = _normalized(key, _shared(body))
    given = body.get("targeting") or {}
    _check_targeting_fields(given)
    with store.write() as tx:
        # Locked: one creator of a key at a time, and no environment appears meanwhile.
        prow = project_row(tx.conn, project, lock=True)
        query = select(flags.c.id).where(flags.c.project_id == prow.id, flags.c.key == key)
        check_new(tx.conn, query, "flag", key)
        body_ = initial_targeting(shared["variations"], given)
        envs = project_environments(tx.conn, prow.id)
        doc = flag_document(shared, body_)
        for env in envs:
            tx.validated(env.id, lambda rs: rs.with_flag(key, doc))
        flag_id = insert_flag(tx, prow.id, key, shared, {env.id: body_ for env in envs})
        after = flag_json(flag_row(tx.conn, prow.id, key), _targeting_rows(tx.conn, flag_id))
        tx.audit(
            actor,
            "flag.create",
            key,
            project_id=prow.id,
            after=after,
            comment=str(body.get("comment", "")),
        )
    return after


def update_flag(
    store: Store,
    actor: str,
    project: str,
    key: str,
    changes: Mapping[str, Any],
    if_version: int | None,
    comment: str = "",
) -> FlagWithTargeting:
    """Change the shared fields (name, variations, ...), checked in every environment."""
    patch = _shared(changes)
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        row = flag_row(tx.conn, prow.id, key, lock=True)
        check_version(row.version, if_version)
        current = {name: row._mapping[name] for name in SHARED_FIELDS}
        if "type" not in patch and "variations" in patch:
            current.pop("type")  # inferred again from the new variations
        shared = _normalized(key, {**current, **patch})
        for t_row in _targeting_rows(tx.conn, row.id):
            doc = flag_document(shared, t_row.body)
            tx.validated(t_row.environment_id, lambda rs, doc=doc: rs.with_flag(key, doc))
        return write_shared(tx, actor, row, shared, comment)


def write_shared(
    tx: Tx, actor: str, row: Row, shared: Mapping[str, Any], comment: str
) -> FlagWithTargeting:
    """Write a flag's new shared fields (validated), recorded in each environment of its
    project and audited; the flag after."""
    targetings = _targeting_rows(tx.conn, row.id)
    before = flag_json(row, targetings)
    tx.conn.execute(
        update(flags)
        .where(flags.c.id == row.id)
        .values(version=row.version + 1, updated_at=now(), **shared)
    )
    for t_row in targetings:
        tx.record(t_row.environment_id, "flag", row.key)
    after = flag_json(flag_row(tx.conn, row.project_id, row.key), targetings)
    tx.audit(
        actor,
        "flag.update",
        row.key,
        project_id=row.project_id,
        before=before,
        after=after,
        comment=comment,
    )
    return after


def delete_flag(store: Store, actor: str, project: str, key: str, comment: str = "") -> None:
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        row = flag_row(tx.conn, prow.id, key, lock=True)
        before = flag_json(row, _targeting_rows(tx.conn, row.id))
        for t_row in _targeting_rows(tx.conn, row.id):
            tx.validated(t_row.environment_id, lambda rs: rs.without_flag(key))
            tx.record(t_row.environment_id, "flag", key)
        tx.conn.execute(delete(flags).where(flags.c.id == row.id))
        tx.audit(actor, "flag.delete", key, project_id=prow.id, before=before, comment=comment)


def insert_flag(
    tx: Tx, project_id: int, key: str, shared: Mapping[str, Any], bodies: Mapping[int, Any]
) -> int:
    """A new flag, with its targeting in each environment (``bodies`` by environment id),
    recorded for streams; its id. The changes were validated."""
    t = now()
    values = {"version": 1, "created_at": t, "updated_at": t, **shared}
    flag_id = tx.insert(flags, project_id=project_id, key=key, **values)
    for env_id, body in bodies.items():
        tx.conn.execute(
            insert(targeting).values(
                flag_id=flag_id, environment_id=env_id, body=body, version=1, updated_at=t
            )
        )
        tx.record(env_id, "flag", key)
    return flag_id


def _check_targeting_fields(body: Mapping[str, Any]) -> None:
    if not isinstance(body, dict):
        raise BadRequest("targeting must be an object", field="targeting")
    unknown = sorted(set(body) - set(TARGETING_FIELDS))
    if unknown:
        raise BadRequest(
            f"unknown targeting field {unknown[0]!r} (fields: {', '.join(TARGETING_FIELDS)})",
            field=unknown[0],
        )


def _write_targeting(
    tx: Tx,
    actor: str,
    prow: Row,
    erow: Row,
    key: str,
    new_body: dict[str, Any],
    if_version: int | None,
    action: str,
    comment: str,
) -> Targeting:
    row = flag_row(tx.conn, prow.id, key, lock=True)
    current = _targeting_row(tx.conn, row.id, erow.id)
    check_version(current.version, if_version)
    doc = flag_document(row._mapping, new_body)
    tx.validated(erow.id, lambda rs: rs.with_flag(key, doc))
    tx.conn.execute(
        update(targeting)
        .where(targeting.c.id == current.id)
        .values(body=new_body, version=current.version + 1, updated_at=now())
    )
    tx.record(erow.id, "flag", key)
    after = targeting_json(_targeting_row(tx.conn, row.id, erow.id))
    tx.audit(
        actor, action, key, env=erow, before=targeting_json(current), after=after, comment=comment
    )
    return after


def replace_targeting(
    store: Store,
    actor: str,
    project: str,
    env: str,
    key: str,
    body: Mapping[str, Any],
    if_version: int | None,
    comment: str = "",
) -> Targeting:
    _check_targeting_fields(body)
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        erow = environment_row(tx.conn, prow.id, env)
        return _write_targeting(
            tx, actor, prow, erow, key, dict(body), if_version, "targeting.update", comment
        )


def toggle(
    store: Store,
    actor: str,
    project: str,
    env: str,
    key: str,
    on: bool,
    if_version: int | None,
    comment: str = "",
) -> Targeting:
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        erow = environment_row(tx.conn, prow.id, env)
        current = _targeting_row(tx.conn, flag_row(tx.conn, prow.id, key, lock=True).id, erow.id)
        body = {**current.body, "on": on}
        return _write_targeting(
            tx, actor, prow, erow, key, body, if_version, "targeting.toggle", comment
        )


def promote(
    store: Store, actor: str, project: str, key: str, source: str, target: str, comment: str = ""
) -> Targeting:
    """Copy a flag's targeting from one environment to another."""
    if source == target:
        raise BadRequest("source and target are the same environment", field="target")
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        src = environment_row(tx.conn, prow.id, source)
        dst = environment_row(tx.conn, prow.id, target)
        flag_id = flag_row(tx.conn, prow.id, key, lock=True).id
        body = dict(_targeting_row(tx.conn, flag_id, src.id).body)
        return _write_targeting(
            tx,
            actor,
            prow,
            dst,
            key,
            body,
            None,
            "targeting.promote",
            comment or f"promoted from {source}",
        )
