"""API tokens, users and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, select, update
from typing_extensions import TypedDict

from ._auth import ROLES, hash_password, new_secret
from ._clock import now
from ._credentials import digest
from ._errors import BadRequest, Forbidden, NotFound
from ._projects import check_new, project_row
from ._rows import Row, from_row
from ._store import Store
from ._tables import api_tokens, audit_log, environments, projects, users

#: The longest token name or username: the audit log records "token:<name>" in 200.
MAX_NAME = 100


def _utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC (naive means UTC); beyond year 1 or 9999 it is clamped there."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def _role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}: use viewer, editor or admin", field="role")
    return role


class Token(TypedDict):
    """An API token, never its secret."""

    id: int
    name: str
    #: The secret's first characters, to recognise it.
    prefix: str
    role: str
    #: The project it is limited to, if any.
    project: str | None
    created_by: str
    created_at: str
    last_used_at: str | None


class NewToken(Token):
    #: The secret, in this answer and nowhere else.
    token: str


class User(TypedDict):
    id: int
    username: str
    role: str
    disabled: bool
    created_at: str


class AuditEntry(TypedDict):
    id: int
    at: str
    actor: str
    #: What was done, such as "flag.create" or "targeting.toggle".
    action: str
    resource: str
    key: str | None
    environment: str | None
    comment: str
    before: Any
    after: Any


class AuditPage(TypedDict):
    items: list[AuditEntry]
    limit: int
    offset: int


def token_json(row: Row, project_key: str | None) -> Token:
    return from_row(Token, row, project=project_key)


def _tokens_in_use() -> Select[Any]:
    return (
        select(api_tokens, projects.c.key.label("project_key"))
        .outerjoin(projects, projects.c.id == api_tokens.c.project_id)
        .where(api_tokens.c.revoked.is_(False))
    )


def list_tokens(store: Store, project_id: int | None = None) -> list[Token]:
    """The tokens in use; with ``project_id``, only those limited to that project."""
    query = _tokens_in_use().order_by(api_tokens.c.id)
    if project_id is not None:
        query = query.where(api_tokens.c.project_id == project_id)
    with store.read() as conn:
        return [token_json(r, r.project_key) for r in conn.execute(query)]


def get_token(store: Store, token_id: int) -> Token:
    """One token in use, as ``list_tokens`` lists it; a revoked one is not found."""
    with store.read() as conn:
        row = conn.execute(_tokens_in_use().where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token {token_id}", field="token")
    return token_json(row, row.project_key)


def create_token(
    store: Store, actor: str, name: str, role: str, project: str | None = None
) -> NewToken:
    """A new token; the secret is in the answer and nowhere else, ever."""
    _role(role)
    if not name.strip():
        raise BadRequest("a token needs a name", field="name")
    if len(name) > MAX_NAME:
        # Writes are audited as "token:<name>", which must fit the audit log's actor.
        raise BadRequest(f"a token name has at most {MAX_NAME} characters", field="name")
    token = new_secret("token")
    with store.write() as tx:
        project_id = project_row(tx.conn, project).id if project else None
        token_id = tx.insert(
            api_tokens,
            name=name,
            token_hash=digest(token),
            prefix=token[:12],
            role=role,
            project_id=project_id,
            created_by=actor,
            created_at=now(),
            revoked=False,
        )
        row = tx.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
        out = token_json(row, project)
        tx.audit(actor, "token.create", name, project_id=project_id, after=out)
    return NewToken(**out, token=token)


def revoke_token(store: Store, actor: str, token_id: int, project_id: int | None = None) -> None:
    """Revoke a token; with ``project_id``, only one limited to that project."""
    with store.write() as tx:
        row = tx.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None or row.revoked:
            raise NotFound(f"no token {token_id}", field="token")
        if project_id is not None and row.project_id != project_id:
            raise Forbidden("this token is limited to another project")
        tx.conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked=True))
        tx.audit(actor, "token.revoke", row.name, project_id=row.project_id)


def user_json(row: Row) -> User:
    return from_row(User, row)


def list_users(store: Store) -> list[User]:
    with store.read() as conn:
        return [user_json(r) for r in conn.execute(select(users).order_by(users.c.id))]


def _user_row(conn: Connection, user_id: int) -> Row:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user {user_id}", field="user")
    return row


def get_user(store: Store, user_id: int) -> User:
    """One user, as ``list_users`` lists them."""
    with store.read() as conn:
        return user_json(_user_row(conn, user_id))


def create_user(store: Store, actor: str, username: str, password: str, role: str) -> User:
    _role(role)
    if not username.strip():
        raise BadRequest("a user needs a username", field="username")
    if len(username) > MAX_NAME:
        # Writes are audited as "user:<username>", which must fit the audit log's actor.
        raise BadRequest(f"a username has at most {MAX_NAME} characters", field="username")
    if len(password) < 8:
        raise BadRequest("a password needs at least 8 characters", field="password")
    with store.write() as tx:
        query = select(users.c.id).where(users.c.username == username)
        check_new(tx.conn, query, "user", username, field="username")
        user_id = tx.insert(
            users,
            username=username,
            password_hash=hash_password(password),
            role=role,
            disabled=False,
            created_at=now(),
        )
        out = user_json(tx.conn.execute(select(users).where(users.c.id == user_id)).one())
        tx.audit(actor, "user.create", username, after=out)
    return out


def update_user(store: Store, actor: str, user_id: int, changes: Mapping[str, Any]) -> User:
    values: dict[str, Any] = {}
    if changes.get("role") is not None:
        values["role"] = _role(changes["role"])
    if changes.get("disabled") is not None:
        values["disabled"] = bool(changes["disabled"])
    if changes.get("password") is not None:
        if len(changes["password"]) < 8:
            raise BadRequest("a password needs at least 8 characters", field="password")
        values["password_hash"] = hash_password(changes["password"])
    with store.write() as tx:
        row = _user_row(tx.conn, user_id)
        if values:
            tx.conn.execute(update(users).where(users.c.id == user_id).values(**values))
        out = user_json(tx.conn.execute(select(users).where(users.c.id == user_id)).one())
        tx.audit(actor, "user.update", row.username, before=user_json(row), after=out)
    return out


def delete_user(store: Store, actor: str, user_id: int) -> None:
    with store.write() as tx:
        row = _user_row(tx.conn, user_id)
        tx.conn.execute(delete(users).where(users.c.id == user_id))
        tx.audit(actor, "user.delete", row.username, before=user_json(row))


def list_audit(
    store: Store,
    *,
    project: str | None = None,
    project_id: int | None = None,
    flag: str | None = None,
    environment: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    entry: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> AuditPage:
    """The audit log, newest first, filtered by project (key or id), flag, environment,
    actor and time (or the one ``entry`` of that id).

    Times without an offset are UTC.
    """
    since, until = _utc(since), _utc(until)
    query = select(audit_log, environments.c.key.label("env_key")).outerjoin(
        environments, environments.c.id == audit_log.c.environment_id
    )
    with store.read() as conn:
        if project:
            project_id = project_row(conn, project).id
        if project_id is not None:
            query = query.where(audit_log.c.project_id == project_id)
        if flag:
            query = query.where(
                audit_log.c.resource.in_(("flag", "targeting")), audit_log.c.resource_key == flag
            )
        if environment:
            query = query.where(environments.c.key == environment)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if entry is not None:
            query = query.where(audit_log.c.id == entry)
        if since:
            query = query.where(audit_log.c.at >= since)
        if until:
            query = query.where(audit_log.c.at < until)
        rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit).offset(offset))
        items = [from_row(AuditEntry, r, key=r.resource_key, environment=r.env_key) for r in rows]
    return AuditPage(items=items, limit=limit, offset=offset)
