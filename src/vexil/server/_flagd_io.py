"""Importing a flagd document into an environment, and exporting one as a flagd document.

The admin API (``POST .../import/flagd``, ``GET .../export/flagd``) and the commands
``vexil import flagd`` and ``vexil export flagd`` call these same functions, so they
behave alike. The conversion itself is the engine's (``vexil.flags._flagd_convert``).

An import is one transaction, like every other write: the flags of the document are
created, or updated (their shared fields and their targeting in this environment),
each change is checked by the engine in every environment it touches, versioned,
audited and then published to SDK streams. Any problem, in the document or in what
the change would break (another environment's targeting naming a variation the
document drops), refuses the whole import with every problem listed, and nothing
changes. Flags absent from the document are left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, select, update
from typing_extensions import TypedDict

from vexil.flags import Ruleset, ValidationError, parse_flag
from vexil.flags._dump import dump_flag
from vexil.flags._errors import Problem
from vexil.flags._flagd_convert import Imported, flagd_to_vexil, vexil_to_flagd
from vexil.flags._parse import SHARED_FIELDS, TARGETING_FIELDS

from ._clock import now
from ._errors import BadRequest, Unprocessable
from ._flags import (
    _normalized,
    _targeting_row,
    _targeting_rows,
    flag_json,
    insert_flag,
    targeting_json,
    write_shared,
)
from ._projects import (
    check_version,
    environment_row,
    initial_targeting,
    project_environments,
    project_row,
)
from ._rows import Row
from ._store import Store, Tx, environment_document, flag_document
from ._tables import flags, targeting

__all__ = ["EXISTING", "FlagdExport", "FlagdImport", "export_flagd", "import_flagd"]

Existing = Literal["update", "skip"]
#: What an import does with flags that exist already: update them, or leave them be.
EXISTING: tuple[Existing, ...] = ("update", "skip")
#: The comment of the audit entries of an import, unless one is given.
DEFAULT_COMMENT = "imported from a flagd document"


# ------------------------------------------------------------------ import


@dataclass
class _Change:
    """What an import does to one flag."""

    key: str
    row: Row | None  # the flag's row, None for a new flag
    shared: dict[str, Any]  # its shared fields after the import
    body: dict[str, Any]  # its targeting in the environment after the import
    shared_changed: bool = True
    targeting_changed: bool = True


@dataclass
class _Plan:
    prow: Row
    erow: Row
    envs: list[Row]
    changes: list[_Change] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def touched(self) -> list[Row]:
        """The environments whose flag documents change, in id order."""
        everywhere = any(c.row is None or c.shared_changed for c in self.changes)
        if everywhere:
            return self.envs
        if any(c.targeting_changed for c in self.changes):
            return [self.erow]
        return []


class FlagdWarning(TypedDict):
    """Something of the document the conversion left out or changed."""

    field: str
    message: str


class FlagdImport(TypedDict):
    """What an import did (or, with ``dry_run``, would do), flag by flag."""

    project: str
    environment: str
    dry_run: bool
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    #: Flags that exist already, left alone (``existing="skip"``).
    skipped: list[str]
    warnings: list[FlagdWarning]
    #: The environment's revision after the import, for If-Match.
    revision: int


def import_flagd(
    store: Store,
    actor: str,
    project: str,
    env: str,
    document: Any,
    *,
    dry_run: bool = False,
    existing: str = "update",
    if_revision: int | None = None,
    comment: str = "",
) -> FlagdImport:
    """Import a decoded flagd document into environment ``env`` of ``project``.

    Returns which flags were ``created``, ``updated``, ``unchanged`` and ``skipped``
    (existing flags, with ``existing="skip"``), the conversion's ``warnings`` and the
    environment's ``revision`` after the import. ``dry_run`` checks everything and
    changes nothing. ``if_revision`` refuses the import (409) if the environment has
    changed since that revision (the ``ETag`` of an export). Raises ``Unprocessable``
    listing every problem.
    """
    if existing not in EXISTING:
        raise BadRequest(
            f"existing must be one of {', '.join(EXISTING)}, not {existing!r}", field="existing"
        )
    with store.read() as conn:  # a wrong project or environment first: 404
        environment_row(conn, project_row(conn, project).id, env)
    try:
        imported = flagd_to_vexil(document)  # outside the transaction: it holds locks
    except ValidationError as exc:
        raise Unprocessable.of(exc) from None
    if dry_run:
        with store.read() as conn:
            plan = _plan(conn, None, project, env, imported, existing, if_revision)
            return _report(plan, imported, dry_run=True, revision=plan.erow.revision)
    with store.write() as tx:
        plan = _plan(tx.conn, tx, project, env, imported, existing, if_revision)
        _apply(tx, plan, actor, comment or DEFAULT_COMMENT)
        revision = tx.revisions.get(plan.erow.id, plan.erow.revision)
    return _report(plan, imported, dry_run=False, revision=revision)


def _plan(
    conn: Connection,
    tx: Tx | None,
    project: str,
    env: str,
    imported: Imported,
    existing: str,
    if_revision: int | None,
) -> _Plan:
    """What the import would do, checked by the engine in every environment it touches.

    In a write transaction (``tx``), what is read is locked first: the project (one
    creator of a key at a time), then the flags, then the environments, the order
    every other writer takes them in.
    """
    prow = project_row(conn, project, lock=tx is not None)
    erow = environment_row(conn, prow.id, env)
    plan = _Plan(prow, erow, project_environments(conn, prow.id))
    for key, converted in imported.flags.items():
        query = select(flags).where(flags.c.project_id == prow.id, flags.c.key == key)
        row = conn.execute(query.with_for_update() if tx is not None else query).first()
        if row is not None and existing == "skip":
            plan.skipped.append(key)
            continue
        given = {k: converted[k] for k in SHARED_FIELDS if k in converted}
        body = {k: converted[k] for k in TARGETING_FIELDS if k in converted}
        if row is None:
            plan.changes.append(_Change(key, None, _normalized(key, given), body))
            continue
        current = {name: row._mapping[name] for name in SHARED_FIELDS}
        shared = _normalized(key, {**current, **given})
        old_body = _targeting_row(conn, row.id, erow.id).body
        change = _Change(
            key,
            row,
            shared,
            body,
            shared_changed=_canonical(shared) != _canonical(current),
            targeting_changed=_targeting_of(key, shared, body)
            != _targeting_of(key, shared, old_body),
        )
        if change.shared_changed or change.targeting_changed:
            plan.changes.append(change)
        else:
            plan.unchanged.append(key)
    if tx is not None:
        for env_row in plan.touched():
            tx.ruleset(env_row.id)  # locks the environment, and loads its current ruleset
    erow = environment_row(conn, prow.id, env)  # read again, now that it is locked
    plan.erow = erow
    check_version(erow.revision, if_revision)
    _check(conn, plan)
    return plan


def _canonical(value: Any) -> str:
    """JSON that tells ``true`` from ``1`` (Python's ``==`` does not)."""
    return json.dumps(value, sort_keys=True)


def _targeting_of(key: str, shared: dict[str, Any], body: dict[str, Any]) -> str:
    """A flag's targeting, normalised (defaults filled in), for comparisons."""
    try:
        dumped = dump_flag(parse_flag(key, flag_document(shared, body)))
    except ValidationError:
        return _canonical(body)  # no longer valid with the new variations: it changes
    return _canonical({k: v for k, v in dumped.items() if k in TARGETING_FIELDS})


def _check(conn: Connection, plan: _Plan) -> None:
    """Every environment the import touches, as it would be, checked by the engine;
    422 with every problem (and its environment) if any."""
    problems: list[dict[str, Any]] = []
    for env_row in plan.touched():
        document = environment_document(conn, env_row.id)
        for change in plan.changes:
            if env_row.id == plan.erow.id:
                body = change.body
            elif change.row is None:
                body = initial_targeting(change.shared["variations"])
            else:
                body = _targeting_row(conn, change.row.id, env_row.id).body
            document["flags"][change.key] = flag_document(change.shared, body)
        try:
            Ruleset.from_data(document)
        except ValidationError as exc:
            problems.extend(
                {"field": p.path, "message": p.message, "environment": env_row.key}
                for p in exc.problems
            )
    if problems:
        first = problems[0]
        raise Unprocessable(
            f"{first['field']}: {first['message']} (in environment {first['environment']!r})",
            field=first["field"],
            problems=problems,
        )


def _apply(tx: Tx, plan: _Plan, actor: str, comment: str) -> None:
    """The writes of a checked plan, each recorded for streams and audited."""
    conn, prow, erow = tx.conn, plan.prow, plan.erow
    t = now()
    for change in plan.changes:
        key = change.key
        if change.row is None:
            initial = initial_targeting(change.shared["variations"])
            bodies = {e.id: change.body if e.id == erow.id else initial for e in plan.envs}
            flag_id = insert_flag(tx, prow.id, key, change.shared, bodies)
            after = flag_json(_flag(conn, flag_id), _targeting_rows(conn, flag_id))
            tx.audit(actor, "flag.create", key, project_id=prow.id, after=after, comment=comment)
            continue
        row = change.row
        if change.shared_changed:
            write_shared(tx, actor, row, change.shared, comment)
        if change.targeting_changed:
            current = _targeting_row(conn, row.id, erow.id)
            conn.execute(
                update(targeting)
                .where(targeting.c.id == current.id)
                .values(body=change.body, version=current.version + 1, updated_at=t)
            )
            if not change.shared_changed:  # else recorded above, with every environment
                tx.record(erow.id, "flag", key)
            tx.audit(
                actor,
                "targeting.update",
                key,
                env=erow,
                before=targeting_json(current),
                after=targeting_json(_targeting_row(conn, row.id, erow.id)),
                comment=comment,
            )
    for env_row in plan.touched():
        # The rulesets SDKs get after the commit, built from what was written.
        built = Ruleset.from_data(environment_document(conn, env_row.id))
        tx.validated(env_row.id, lambda _current, built=built: built)


def _flag(conn: Connection, flag_id: int) -> Row:
    return conn.execute(select(flags).where(flags.c.id == flag_id)).one()


def _report(plan: _Plan, imported: Imported, *, dry_run: bool, revision: int) -> FlagdImport:
    return FlagdImport(
        project=plan.prow.key,
        environment=plan.erow.key,
        dry_run=dry_run,
        created=[c.key for c in plan.changes if c.row is None],
        updated=[c.key for c in plan.changes if c.row is not None],
        unchanged=plan.unchanged,
        skipped=plan.skipped,
        warnings=[FlagdWarning(field=w.path, message=w.message) for w in imported.warnings],
        revision=revision,
    )


# ------------------------------------------------------------------ export


@dataclass(frozen=True)
class FlagdExport:
    """An environment as a flagd document, with the flags left out and why."""

    document: dict[str, Any]
    skipped: dict[str, tuple[Problem, ...]]
    warnings: tuple[Problem, ...]
    #: The environment's revision when it was read (at most as new as the document).
    revision: int
    filename: str


def export_flagd(
    store: Store, project: str, env: str, *, skip_unsupported: bool = False
) -> FlagdExport:
    """Environment ``env`` of ``project`` as a flagd document.

    Raises ``Unprocessable`` listing every flag (and field) flagd cannot express,
    unless ``skip_unsupported``, which leaves those flags out and lists them.
    """
    with store.read() as conn:
        prow = project_row(conn, project)
        erow = environment_row(conn, prow.id, env)
        # The revision is read before the document: an ETag never claims a newer state.
        document = environment_document(conn, erow.id)
    try:
        exported = vexil_to_flagd(document, skip_unsupported=skip_unsupported)
    except ValidationError as exc:
        raise Unprocessable.of(exc) from None
    return FlagdExport(
        exported.document,
        exported.skipped,
        exported.warnings,
        erow.revision,
        f"{prow.key}-{erow.key}.flagd.json",
    )
