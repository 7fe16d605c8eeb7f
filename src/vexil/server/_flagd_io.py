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

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from vexil.flags import Ruleset, ValidationError, parse_flag
from vexil.flags._dump import dump_flag
from vexil.flags._errors import Problem
from vexil.flags._flagd_convert import Imported, flagd_to_vexil, vexil_to_flagd
from vexil.flags._loader import load_data

from ._errors import ApiError, BadRequest, Unprocessable
from ._flags import _normalized, _targeting_row, _targeting_rows, flag_json, targeting_json
from ._json import json_text
from ._projects import check_version, environment_row, initial_targeting, project_row
from ._store import (
    SHARED_FIELDS,
    TARGETING_FIELDS,
    Store,
    Tx,
    environment_document,
    flag_document,
    new_id,
    now,
    unprocessable,
)
from ._tables import environments, flags, targeting

__all__ = ["EXISTING", "FlagdExport", "export_flagd", "import_flagd", "register_commands"]

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
    row: Any  # the flag's row, None for a new flag
    shared: dict[str, Any]  # its shared fields after the import
    body: dict[str, Any]  # its targeting in the environment after the import
    shared_changed: bool = True
    targeting_changed: bool = True


@dataclass
class _Plan:
    prow: Any
    erow: Any
    envs: list[Any]
    changes: list[_Change] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def touched(self) -> list[Any]:
        """The environments whose flag documents change, in id order."""
        everywhere = any(c.row is None or c.shared_changed for c in self.changes)
        if everywhere:
            return self.envs
        if any(c.targeting_changed for c in self.changes):
            return [self.erow]
        return []


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
) -> dict[str, Any]:
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
        raise unprocessable(exc) from None
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
    envs = list(
        conn.execute(
            select(environments)
            .where(environments.c.project_id == prow.id)
            .order_by(environments.c.id)
        )
    )
    plan = _Plan(prow, erow, envs)
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
            flag_id = new_id(
                conn.execute(
                    insert(flags).values(
                        project_id=prow.id,
                        key=key,
                        version=1,
                        created_at=t,
                        updated_at=t,
                        **change.shared,
                    )
                )
            )
            for env_row in plan.envs:
                body = (
                    change.body
                    if env_row.id == erow.id
                    else initial_targeting(change.shared["variations"])
                )
                conn.execute(
                    insert(targeting).values(
                        flag_id=flag_id,
                        environment_id=env_row.id,
                        body=body,
                        version=1,
                        updated_at=t,
                    )
                )
                tx.record(env_row.id, "flag", key)
            after = flag_json(_flag(conn, flag_id), _targeting_rows(conn, flag_id))
            tx.audit(
                actor, "flag.create", "flag", key, project_id=prow.id, after=after, comment=comment
            )
            continue
        row = change.row
        if change.shared_changed:
            before = flag_json(row, _targeting_rows(conn, row.id))
            conn.execute(
                update(flags)
                .where(flags.c.id == row.id)
                .values(version=row.version + 1, updated_at=t, **change.shared)
            )
            for env_row in plan.envs:
                tx.record(env_row.id, "flag", key)
            after = flag_json(_flag(conn, row.id), _targeting_rows(conn, row.id))
            tx.audit(
                actor,
                "flag.update",
                "flag",
                key,
                project_id=prow.id,
                before=before,
                after=after,
                comment=comment,
            )
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
                "targeting",
                key,
                project_id=prow.id,
                env_id=erow.id,
                before=targeting_json(current),
                after=targeting_json(_targeting_row(conn, row.id, erow.id)),
                comment=comment,
            )
    for env_row in plan.touched():
        # The rulesets SDKs get after the commit, built from what was written.
        built = Ruleset.from_data(environment_document(conn, env_row.id))
        tx.validated(env_row.id, lambda _current, built=built: built)


def _flag(conn: Connection, flag_id: int) -> Any:
    return conn.execute(select(flags).where(flags.c.id == flag_id)).one()


def _report(plan: _Plan, imported: Imported, *, dry_run: bool, revision: int) -> dict[str, Any]:
    return {
        "project": plan.prow.key,
        "environment": plan.erow.key,
        "dry_run": dry_run,
        "created": [c.key for c in plan.changes if c.row is None],
        "updated": [c.key for c in plan.changes if c.row is not None],
        "unchanged": plan.unchanged,
        "skipped": plan.skipped,
        "warnings": [{"field": w.path, "message": w.message} for w in imported.warnings],
        "revision": revision,
    }


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
        raise unprocessable(exc) from None
    return FlagdExport(
        exported.document,
        exported.skipped,
        exported.warnings,
        erow.revision,
        f"{prow.key}-{erow.key}.flagd.json",
    )


# ------------------------------------------------------------ command line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The option that names what an error's field is about.
_OPTIONS = {"project": "--project", "environment": "--env"}

OpenStore = Callable[[argparse.Namespace], Store]


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _report_error(exc: ApiError) -> int:
    """An API error as lines on standard error, each with its path; the exit status."""
    problems = exc.extra.get("problems")
    if problems:
        for p in problems:
            where = f" (in environment {p['environment']!r})" if p.get("environment") else ""
            _err(f"{p['field']}: {p['message']}{where}" if p["field"] else p["message"])
        return EXIT_FAILED
    field_ = _OPTIONS.get(exc.field or "", exc.field)
    _err(f"{field_}: {exc.message}" if field_ else exc.message)
    return EXIT_USAGE if exc.status == 404 else EXIT_FAILED


def _import_command(args: argparse.Namespace, open_store: OpenStore) -> int:
    try:
        document = load_data(args.file)
    except ValidationError as exc:
        for problem in exc.problems:
            _err(f"{args.file}: {problem}")
        return EXIT_FAILED
    store = open_store(args)
    try:
        result = import_flagd(
            store,
            "cli",
            args.project,
            args.env,
            document,
            dry_run=args.dry_run,
            existing=args.existing,
            comment=args.comment,
        )
    except ApiError as exc:
        return _report_error(exc)
    finally:
        store.engine.dispose()
    for warning in result["warnings"]:
        _err(f"warning: {warning['field']}: {warning['message']}")
    for what in ("created", "updated", "unchanged", "skipped"):
        if result[what]:
            print(f"{what}: {', '.join(result[what])}")
    if args.dry_run:
        print("dry run: nothing was changed")
    return EXIT_OK


def _export_command(args: argparse.Namespace, open_store: OpenStore) -> int:
    store = open_store(args)
    try:
        result = export_flagd(store, args.project, args.env, skip_unsupported=args.skip_unsupported)
    except ApiError as exc:
        return _report_error(exc)
    finally:
        store.engine.dispose()
    for key, problems in result.skipped.items():
        for problem in problems:
            _err(f"skipped {key}: {problem}")
    for warning in result.warnings:
        _err(f"warning: {warning}")
    text = json_text(result.document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        count = len(result.document["flags"])
        _err(f"wrote {count} flag{'' if count == 1 else 's'} to {args.output}")
    return EXIT_OK


def register_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    database: Callable[[argparse.ArgumentParser], None],
    open_store: OpenStore,
) -> None:
    """``vexil import flagd`` and ``vexil export flagd``; ``database`` adds --database,
    ``open_store`` opens the store the options name (both from the server's commands)."""

    def where(p: argparse.ArgumentParser) -> None:
        p.add_argument("--project", required=True, help="the project's key")
        p.add_argument("--env", required=True, help="the environment's key")
        database(p)

    imports = commands.add_parser(
        "import", help="import flags into an environment", description="Import flags."
    )
    import_formats = imports.add_subparsers(dest="format", required=True, metavar="FORMAT")
    flagd = import_formats.add_parser(
        "flagd",
        help="import a flagd flag-definition file",
        description="Import a flagd flag-definition file (JSON or YAML) into an environment: "
        "its flags are created, or updated (shared fields and this environment's targeting).",
    )
    flagd.add_argument("file", type=Path, help="the flagd document")
    where(flagd)
    flagd.add_argument(
        "--dry-run", action="store_true", help="check everything and report, change nothing"
    )
    flagd.add_argument(
        "--existing",
        choices=EXISTING,
        default="update",
        help="flags that exist already: update them (default) or skip them",
    )
    flagd.add_argument("--comment", default="", help="the comment of the audit entries")
    flagd.set_defaults(run=lambda args: _import_command(args, open_store))

    exports = commands.add_parser(
        "export", help="export an environment's flags", description="Export flags."
    )
    export_formats = exports.add_subparsers(dest="format", required=True, metavar="FORMAT")
    out = export_formats.add_parser(
        "flagd",
        help="export as a flagd flag-definition file",
        description="Write an environment's flags as a flagd flag-definition file (JSON).",
    )
    where(out)
    out.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not standard output")
    out.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="leave out (and list) the flags flagd cannot express, instead of failing",
    )
    out.set_defaults(run=lambda args: _export_command(args, open_store))
