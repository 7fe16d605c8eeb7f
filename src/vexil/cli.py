"""The ``vexil`` command: validate and evaluate flag documents, print the schema.

Errors go to standard error, one per line, each with its path; exit status 0
means success, 1 a rejected document or a failed evaluation, 2 a usage error.
``validate`` and ``eval`` read Vexil documents and flagd flag-definition files alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .flags import Ruleset, ValidationError, json_schema
from .flags._flagd import FlagdDocument

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `vexil` command (also used to check its docs)."""
    parser = argparse.ArgumentParser(
        prog="vexil", description="Feature flags and experimentation for Python."
    )
    parser.add_argument("--version", action="version", version=f"vexil {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check a flag document",
        description="Check a flag document (YAML or JSON, Vexil's format or flagd's).",
    )
    validate.add_argument("file", type=Path, help="the flag document")
    validate.set_defaults(run=_validate)

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a flag for a context",
        description="Evaluate one flag of a document for one context, as the SDK would.",
    )
    evaluate.add_argument("file", type=Path, help="the flag document")
    evaluate.add_argument("flag", help="the flag key")
    evaluate.add_argument(
        "--context",
        "-c",
        default="{}",
        help='the context as JSON, e.g. \'{"key": "u-1", "plan": "pro"}\', or @FILE to read it',
    )
    evaluate.add_argument("--explain", action="store_true", help="show every check made, and why")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.set_defaults(run=_eval)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of flag documents",
        description="Print the JSON Schema of flag documents, for editors.",
    )
    schema.set_defaults(run=_schema)
    _register_server(commands)
    return parser


def _register_server(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The server's commands, when the ``server`` extra is installed."""
    try:
        from .server._cli import register
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("vexil"):
            raise  # a bug, not a missing extra
        missing = exc.name

        def unavailable(args: argparse.Namespace) -> int:
            _err(f"{args.command}: needs the server extra ({missing} is missing): "
                 "pip install 'vexil[server]'")  # fmt: skip
            return EXIT_FAILED

        for name in ("serve", "db", "token", "import", "export"):
            commands.add_parser(name, help=f"({name}: needs the server extra)").set_defaults(
                run=unavailable
            )
        return
    register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ValidationError as exc:
        for problem in exc.problems:
            _err(str(problem))
        return EXIT_FAILED
    except OSError as exc:
        _err(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}")
        return EXIT_FAILED
    return code


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    ruleset = Ruleset.from_file(args.file)
    if isinstance(ruleset.document, FlagdDocument):
        return _validate_flagd(args.file, ruleset.document)
    counts = f"{_count(len(ruleset.flags), 'flag')}, {_count(len(ruleset.segments), 'segment')}"
    print(f"{args.file}: valid ({counts})")
    return EXIT_OK


def _validate_flagd(file: Path, doc: FlagdDocument) -> int:
    """A flagd document: targeting that cannot run is an error here, although the SDK
    loads such a file (as flagd does) and only that flag evaluates to PARSE_ERROR."""
    for warning in doc.warnings:
        _err(f"warning: {warning}")
    if doc.issues:
        for problem in doc.issues:
            _err(str(problem))
        return EXIT_FAILED
    print(f"{file}: valid ({_count(len(doc.flags), 'flag')}, flagd format)")
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _eval(args: argparse.Namespace) -> int:
    context = _read_context(args.context)
    if context is None:
        return EXIT_USAGE
    ruleset = Ruleset.from_file(args.file)
    explanation = ruleset.explain(args.flag, context) if args.explain else None
    detail = explanation.detail if explanation else ruleset.evaluate(args.flag, context)
    if detail.error is not None and not args.json:
        _err(f"{args.flag}: {detail.error}: {detail.error_message}")
        return EXIT_FAILED
    if args.json:
        body: dict[str, Any] = explanation.to_dict() if explanation else detail.to_dict()
        print(json.dumps(body, indent=2))
    elif explanation:
        print(explanation)
    else:
        print(json.dumps(detail.value))
        fields = [f"variant: {detail.variant}", f"reason: {detail.reason}"]
        fields += [f"rule: {detail.rule_id}"] if detail.rule_id else []
        fields += ["in experiment"] if detail.in_experiment else []
        fields += [f"metadata: {json.dumps(dict(detail.metadata))}"] if detail.metadata else []
        print(" · ".join(fields))
    if detail.error is not None:
        _err(f"{args.flag}: {detail.error}: {detail.error_message}")
        return EXIT_FAILED
    return EXIT_OK


def _read_context(text: str) -> dict[str, Any] | None:
    source = "--context"
    try:
        if text.startswith("@"):
            source = text[1:]
            text = Path(source).read_text(encoding="utf-8")
        context = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        _err(f"{source}: not a JSON context: {exc}")
        return None
    if not isinstance(context, dict):
        _err(f'{source}: the context must be a JSON object, such as {{"key": "u-1"}}')
        return None
    return context


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
