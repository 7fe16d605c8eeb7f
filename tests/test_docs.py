"""The documentation keeps up with the code: these fail when something is undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vexil import ErrorKind, Reason
from vexil.cli import build_parser
from vexil.flags import Operator, VariationType, json_schema

DOCS = Path(__file__).parent.parent / "docs"


def text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("op", list(Operator))
def test_every_operator_is_in_the_format_reference(op: Operator) -> None:
    assert f"`{op.value}`" in text("flag-format.md")


def schema_fields(what: str) -> set[str]:
    defs = json_schema()["$defs"]
    if what == "rollout":
        return set(defs["serve"]["oneOf"][2]["properties"])
    return set(defs[what]["properties"])


@pytest.mark.parametrize("what", ["flag", "clause", "rollout", "segment"])
def test_every_document_field_is_in_the_format_reference(what: str) -> None:
    doc = text("flag-format.md")
    fields = schema_fields(what)
    assert len(fields) >= 3

    def documented(field: str) -> bool:
        name = re.escape(field)
        return re.search(rf"\b{name}:|`{name}`", doc) is not None

    missing = sorted(f for f in fields if not documented(f))
    assert missing == [], f"{what} fields missing from docs/flag-format.md"


@pytest.mark.parametrize("vtype", list(VariationType))
def test_every_variation_type_is_documented(vtype: VariationType) -> None:
    assert f"`{vtype.value}`" in text("flag-format.md")


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_is_in_the_concepts(reason: Reason) -> None:
    assert f"`{reason.value}`" in text("concepts.md")


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_is_in_the_concepts(kind: ErrorKind) -> None:
    assert f"`{kind.value}`" in text("concepts.md")


def test_every_cli_command_and_option_is_documented() -> None:
    doc = text("cli.md")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        assert f"vexil {name}" in doc, f"`vexil {name}` is not in docs/cli.md"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in doc, f"`vexil {name} {flag}` is not in docs/cli.md"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```", 2)[1]
    assert "make serve" in block
    assert "make test" in block


def test_the_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (DOCS.parent / "CHANGELOG.md").read_text(encoding="utf-8")
