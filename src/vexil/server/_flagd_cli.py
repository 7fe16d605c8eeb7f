"""The commands ``vexil import flagd`` and ``vexil export flagd``.

They call the service the admin API calls (``_flagd_io``) on the database the options
name, so that a running server, and the SDKs streaming from it, see an import as
any other change. Errors go to standard error, one per line with its path (or the
option it is about); the exit status is 0, 1 for a refused document, 2 for a project
or environment that does not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from vexil.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vexil.flags import ValidationError
from vexil.flags._loader import load_data

from ._errors import ApiError
from ._flagd_io import EXISTING, export_flagd, import_flagd
from ._json import json_text
from ._store import Store

__all__ = ["register_commands"]

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

    flagd = _format(
        commands,
        "import",
        "import flags into an environment",
        "import a flagd flag-definition file",
        "Import a flagd flag-definition file (JSON or YAML) into an environment: "
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

    out = _format(
        commands,
        "export",
        "export an environment's flags",
        "export as a flagd flag-definition file",
        "Write an environment's flags as a flagd flag-definition file (JSON).",
    )
    where(out)
    out.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not standard output")
    out.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="leave out (and list) the flags flagd cannot express, instead of failing",
    )
    out.set_defaults(run=lambda args: _export_command(args, open_store))


def _format(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    verb: str,
    verb_help: str,
    flagd_help: str,
    description: str,
) -> argparse.ArgumentParser:
    """The parser of ``vexil VERB flagd``."""
    parser = commands.add_parser(verb, help=verb_help, description=f"{verb.title()} flags.")
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    return formats.add_parser("flagd", help=flagd_help, description=description)
