"""Dashboard sessions: a random token in an HttpOnly cookie, its SHA-256 in the database.

Keeping sessions in the database (rather than in a signed cookie) means signing out,
disabling a user or deleting them ends their sessions at once, on every replica.
Each session has its own CSRF token, which every form carries.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select

from vexil.server._auth import Principal, Role, check_password
from vexil.server._clock import now
from vexil.server._credentials import digest
from vexil.server._store import Store
from vexil.server._tables import users, web_sessions

COOKIE = "vexil_session"
#: How long a sign-in lasts.
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    username: str
    role: Role
    csrf: str

    @property
    def principal(self) -> Principal:
        return Principal(f"user:{self.username}", self.role)

    def can(self, role: Role) -> bool:
        return self.principal.can(role)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and same_token(self.csrf, token)


def check_user(store: Store, username: str, password: str) -> int | None:
    """The id of the user these credentials sign in, or None.

    A password check: call it through the password gate (``Throttle.verify``).
    """
    with store.read() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or row.disabled:
        check_password(_DUMMY, password)  # the same time as a real check
        return None
    if not check_password(row.password_hash, password):
        return None
    return int(row.id)


def open_session(store: Store, user_id: int) -> str:
    """A new session's cookie value (outside the password gate: it hashes nothing)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    with store.write() as tx:
        tx.conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < moment))
        tx.conn.execute(
            insert(web_sessions).values(
                token_hash=digest(token),
                user_id=user_id,
                csrf=secrets.token_urlsafe(32),
                created_at=moment,
                expires_at=moment + LIFETIME,
            )
        )
    return token


def lookup(store: Store, token: str | None) -> Session | None:
    """The live session of a cookie value: not expired, and its user not disabled."""
    if not token:
        return None
    with store.read() as conn:
        row = conn.execute(
            select(web_sessions.c.csrf, users.c.id, users.c.username, users.c.role)
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(
                web_sessions.c.token_hash == digest(token),
                web_sessions.c.expires_at > now(),
                users.c.disabled.is_(False),
            )
        ).first()
    if row is None:
        return None
    return Session(row.id, row.username, row.role, row.csrf)


def sign_out(store: Store, token: str | None) -> None:
    if token:
        with store.write() as tx:
            tx.conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == digest(token)))


def _dummy_hash() -> str:
    from vexil.server._auth import hash_password

    return hash_password("no such user")


_DUMMY = _dummy_hash()


def same_token(expected: str, given: str) -> bool:
    """Whether a posted token is the expected one, in constant time.

    Compared as bytes: ``hmac.compare_digest`` refuses ``str`` that is not ASCII with
    a TypeError, and a form may post anything.
    """
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )
