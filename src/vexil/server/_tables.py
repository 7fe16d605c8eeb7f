"""The database schema (SQLAlchemy Core). Alembic migrations in ``_migrations`` create it.

Flags belong to a project: key, variations, description and tags are shared by its
environments. Targeting (on/off, targets, rules, defaults, prerequisites) and
segments are per environment. Every write bumps the environment's ``revision`` and
appends to ``changes``, which streams replay from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere; SQLite, which has no time zones, stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: JSON on SQLite, JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")


# Columns that many tables have, made anew for each (a column belongs to one table).


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def _owner(table: str, **options: Any) -> Column[int]:
    """``<thing>_id``, the row of ``table`` (``<things>``) this one belongs to, and goes with."""
    return Column(
        f"{table[:-1]}_id", ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False, **options
    )


def _text(name: str, **options: Any) -> Column[str]:
    return Column(name, String(200), nullable=False, **options)


def _version() -> Column[int]:
    return Column("version", Integer, nullable=False, default=1)


def _time(name: str, *, nullable: bool = False) -> Column[datetime]:
    return Column(name, UtcDateTime(), nullable=nullable)


def _now() -> Column[datetime]:
    return _time("created_at")


projects = Table(
    "projects",
    metadata,
    _id(),
    _text("key", unique=True),
    _text("name"),
    Column("description", Text, nullable=False, default=""),
    _version(),
    _now(),
)

environments = Table(
    "environments",
    metadata,
    _id(),
    _owner("projects"),
    _text("key"),
    _text("name"),
    Column("production", Boolean, nullable=False, default=False),
    #: OFREP with a client key must prove the targeting key with its HMAC (``_secure_mode``).
    Column("secure_mode", Boolean, nullable=False, default=False, server_default=false()),
    Column("revision", Integer, nullable=False, default=0),
    _version(),
    _now(),
    UniqueConstraint("project_id", "key"),
)

flags = Table(
    "flags",
    metadata,
    _id(),
    _owner("projects"),
    _text("key"),
    _text("name"),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Json, nullable=False),
    Column("temporary", Boolean, nullable=False, default=True),
    Column("client_side", Boolean, nullable=False, default=False),
    Column("metadata", Json, nullable=False),
    Column("type", String(20), nullable=False),
    Column("variations", Json, nullable=False),
    _version(),
    _now(),
    _time("updated_at"),
    UniqueConstraint("project_id", "key"),
)

targeting = Table(
    "targeting",
    metadata,
    _id(),
    _owner("flags"),
    _owner("environments"),
    #: The targeting fields of the flag document: on, off_variation, default,
    #: targets, rules, prerequisites.
    Column("body", Json, nullable=False),
    _version(),
    _time("updated_at"),
    UniqueConstraint("flag_id", "environment_id"),
)

segments = Table(
    "segments",
    metadata,
    _id(),
    _owner("environments"),
    _text("key"),
    #: The segment in document form: name, description, included, excluded, rules.
    Column("body", Json, nullable=False),
    _version(),
    _now(),
    _time("updated_at"),
    UniqueConstraint("environment_id", "key"),
)

changes = Table(
    "changes",
    metadata,
    _id(),
    _owner("environments"),
    Column("revision", Integer, nullable=False),
    #: "flag" or "segment".
    Column("kind", String(20), nullable=False),
    _text("key"),
    _now(),
    Index(None, "environment_id", "revision"),
)

sdk_keys = Table(
    "sdk_keys",
    metadata,
    _id(),
    _owner("environments"),
    #: "server" (secret, reads the whole ruleset) or "client" (public, client-side flags).
    Column("kind", String(20), nullable=False),
    #: Kept so that people with access can reveal and copy it, as in other products.
    _text("key"),
    Column("key_hash", String(64), nullable=False, unique=True),
    _now(),
    #: Set when the key was rotated: it keeps working until then.
    _time("expires_at", nullable=True),
)

users = Table(
    "users",
    metadata,
    _id(),
    _text("username", unique=True),
    Column("password_hash", String(500), nullable=False),
    #: "viewer", "editor" or "admin".
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    _now(),
)

#: Dashboard sign-ins: the cookie holds a random token, the table its SHA-256.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    _owner("users", index=True),
    #: The token every form of this session carries (CSRF protection).
    Column("csrf", String(64), nullable=False),
    _now(),
    _time("expires_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    _text("name"),
    #: SHA-256 of the token: tokens are random and long, so a slow hash adds nothing.
    Column("token_hash", String(64), nullable=False, unique=True),
    #: The first characters, to recognise a token in lists.
    Column("prefix", String(20), nullable=False),
    Column("role", String(20), nullable=False),
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    _text("created_by"),
    _now(),
    _time("last_used_at", nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", UtcDateTime(), nullable=False, index=True),
    _text("actor", index=True),
    #: For example "flag.create", "targeting.update", "segment.delete".
    Column("action", String(50), nullable=False),
    Column("project_id", Integer, nullable=True),
    Column("environment_id", Integer, nullable=True),
    #: "project", "environment", "flag", "targeting", "segment", "sdk_key", "token", "user".
    Column("resource", String(20), nullable=False),
    Column("resource_key", String(200), nullable=True, index=True),
    Column("comment", Text, nullable=False, default=""),
    Column("before", Json, nullable=True),
    Column("after", Json, nullable=True),
)

evaluation_counts = Table(
    "evaluation_counts",
    metadata,
    _id(),
    _owner("environments"),
    _text("flag_key"),
    Column("variant", String(200), nullable=True),
    #: The summary period the SDK reported, in Unix seconds.
    Column("period_start", Float, nullable=False),
    Column("period_end", Float, nullable=False),
    Column("count", Integer, nullable=False),
    _time("received_at"),
    Index(None, "environment_id", "flag_key", "period_start"),
    #: The dashboard's insights (a flag's recent periods) and last evaluations (migration 0003).
    Index(None, "environment_id", "flag_key", "period_end"),
)

custom_events = Table(
    "custom_events",
    metadata,
    _id(),
    _owner("environments"),
    #: "track" or "identify".
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=True),
    Column("context_key", String(500), nullable=True),
    Column("context", Json, nullable=True),
    Column("value", Float, nullable=True),
    Column("data", Json, nullable=True),
    Column("at", Float, nullable=False),
    _time("received_at"),
    #: Experiment analysis: a metric's events of a context after its exposure (migration 0005).
    Index(None, "environment_id", "name", "context_key", "at"),
    #: The events page and retention, newest first (migration 0005).
    Index(None, "environment_id", "at"),
)

# ------------------------------------------------------------------ experimentation

#: What an experiment measures, per project: a ``track`` event read one way.
metrics = Table(
    "metrics",
    metadata,
    _id(),
    _owner("projects"),
    _text("key"),
    _text("name"),
    Column("description", Text, nullable=False, default=""),
    #: The ``track`` event name the metric reads.
    _text("event"),
    #: "conversion", "count", "sum" or "mean" (of ``value``, per context).
    Column("kind", String(20), nullable=False),
    Column("higher_is_better", Boolean, nullable=False, default=True),
    #: Winsorization: a context's value above this counts as this.
    Column("cap", Float, nullable=True),
    _version(),
    _now(),
    _time("updated_at"),
    UniqueConstraint("project_id", "key"),
)

#: An experiment on one flag in one environment; its traffic is the flag's rollout
#: marked ``experiment``.
experiments = Table(
    "experiments",
    metadata,
    _id(),
    _owner("environments"),
    _text("key"),
    _text("name"),
    _text("flag_key"),
    Column("hypothesis", Text, nullable=False, default=""),
    #: The variation the others are compared with.
    _text("control"),
    #: Metric keys: one primary, then secondary and guardrail lists.
    _text("primary_metric"),
    Column("secondary_metrics", Json, nullable=False),
    Column("guardrail_metrics", Json, nullable=False),
    #: How results are computed: method, sequential, confidence level, correction.
    Column("analysis", Json, nullable=False),
    #: "draft", "running", "stopped" or "shipped".
    Column("status", String(20), nullable=False),
    #: The rollout when the experiment started (variation weights), for the SRM check.
    Column("traffic", Json, nullable=True),
    _time("started_at", nullable=True),
    _time("stopped_at", nullable=True),
    Column("shipped_variation", String(200), nullable=True),
    _version(),
    _now(),
    _time("updated_at"),
    UniqueConstraint("environment_id", "key"),
    Index(None, "environment_id", "flag_key", "status"),
)

#: Each context's first exposure to each variation of a running experiment: a context
#: with two rows was served two variations, and is counted apart, not mixed in.
experiment_exposures = Table(
    "experiment_exposures",
    metadata,
    Column(
        "experiment_id",
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context_key", String(500), primary_key=True),
    Column("variant", String(200), primary_key=True),
    #: When the SDK served it, in Unix seconds (as events' ``at``).
    Column("first_at", Float, nullable=False),
)

#: The contexts SDKs identified or exposed, one row each, updated: LaunchDarkly's "Users".
contexts = Table(
    "contexts",
    metadata,
    _id(),
    _owner("environments"),
    Column("key", String(500), nullable=False),
    Column("attributes", Json, nullable=False),
    #: Counted, never listed.
    Column("anonymous", Boolean, nullable=False, default=False),
    _time("first_seen"),
    _time("last_seen"),
    UniqueConstraint("environment_id", "key"),
    Index(None, "environment_id", "last_seen"),
)
