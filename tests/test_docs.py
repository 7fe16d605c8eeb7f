"""The documentation keeps up with the code: these fail when something is undocumented."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

import vexil
from vexil import Client, ClientStatus, ErrorKind, Reason
from vexil.cli import build_parser
from vexil.flags import Operator, VariationType, json_schema
from vexil.sdk._modes import Mode
from vexil.testing import TestClient

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
    assert isinstance(commands, dict)
    for name, sub in commands.items():
        assert f"vexil {name}" in doc, f"`vexil {name}` is not in docs/cli.md"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in doc, f"`vexil {name} {flag}` is not in docs/cli.md"


def mentions(doc: str, name: str) -> bool:
    """``name`` in code, alone or on something: `name`, `name(...)`, `client.name`, `await name`."""
    return re.search(rf"`(?:await )?(?:[\w.]+\.)?{re.escape(name)}\b", doc) is not None


def public_members(cls: type, *, inherited_from: type | None = None) -> list[str]:
    names = {name for name in dir(cls) if not name.startswith("_")}
    if inherited_from is not None:
        names -= set(dir(inherited_from))
    return sorted(names)


CLIENT_OPTIONS = [
    name
    for name, param in inspect.signature(Client.__init__).parameters.items()
    if name != "self" and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)
]
MODES = list(typing.get_args(Mode))


def test_the_sdk_surface_is_not_empty() -> None:
    """Guards the parametrized tests below against silently testing nothing."""
    assert {"sdk_key", "url", "mode", "init_timeout"} <= set(CLIENT_OPTIONS)
    assert {"variation", "close", "is_initialized"} <= set(public_members(Client))
    assert len(MODES) >= 6
    assert all(getattr(vexil, mode.__name__) is mode for mode in MODES)


def section(doc: str, heading: str) -> str:
    """The text under the first heading that starts with ``heading``, up to the next one."""
    match = re.search(rf"^#+ {re.escape(heading)}.*?$(.*?)(?=^#{{1,3}} |\Z)", doc, re.S | re.M)
    assert match is not None, f"docs/sdk.md has no section headed {heading}"
    return match.group(1)


@pytest.mark.parametrize("option", CLIENT_OPTIONS)
def test_every_client_option_is_in_the_sdk_guide(option: str) -> None:
    options = section(text("sdk.md"), "Creating a client")
    assert re.search(rf"^\| `{option}` \|", options, re.MULTILINE), (
        f"`Client({option}=...)` has no row in the options table of docs/sdk.md"
    )


@pytest.mark.parametrize("member", public_members(Client))
def test_every_client_method_and_property_is_in_the_sdk_guide(member: str) -> None:
    assert mentions(text("sdk.md"), member), f"`Client.{member}` is not in docs/sdk.md"


@pytest.mark.parametrize("member", public_members(TestClient, inherited_from=Client))
def test_every_test_client_member_is_in_the_sdk_guide(member: str) -> None:
    assert mentions(text("sdk.md"), member), f"`TestClient.{member}` is not in docs/sdk.md"


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.__name__)
def test_every_mode_and_its_fields_are_in_the_sdk_guide(mode: type) -> None:
    doc = text("sdk.md")
    assert f"`{mode.__name__}()`" in doc, f"`{mode.__name__}` is not in the modes table"
    fields_text = section(doc, f"`{mode.__name__}`")
    assert dataclasses.is_dataclass(mode)
    missing = [
        field.name
        for field in dataclasses.fields(mode)
        if not re.search(rf"`{field.name}`|\b{field.name}=", fields_text)
    ]
    assert missing == [], f"fields of {mode.__name__} missing from its section of docs/sdk.md"


@pytest.mark.parametrize("status", list(ClientStatus), ids=str)
def test_every_client_status_is_in_the_sdk_guide(status: ClientStatus) -> None:
    table = section(text("sdk.md"), "Readiness")
    row = rf"^\| `{re.escape(status.value)}` \| `{status.name}` \|"
    assert re.search(row, table, re.MULTILINE), f"{status!r} has no row in the status table"


@pytest.mark.parametrize("name", sorted(set(vexil.__all__) - {"__version__"}))
def test_every_name_the_facade_exports_is_in_the_docs(name: str) -> None:
    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOCS.rglob("*.md"))
    assert re.search(rf"\b{name}\b", docs), f"vexil.{name} is in no page of docs/"


def test_the_sdk_guide_is_linked_from_the_readme() -> None:
    assert "(docs/sdk.md)" in (DOCS.parent / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```", 2)[1]
    assert "make serve" in block
    assert "make test" in block


def test_the_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (DOCS.parent / "CHANGELOG.md").read_text(encoding="utf-8")


def server_settings() -> list[str]:
    from vexil.server._settings import Settings

    return [f.name for f in dataclasses.fields(Settings)]


@pytest.mark.parametrize("name", server_settings())
def test_every_server_setting_is_in_the_settings_table(name: str) -> None:
    table = section(text("server.md"), "Settings")
    row = re.search(rf"^\| {name} \| `VEXIL_{name.upper()}` \| [^|]+ \| [^|]+ \|$", table, re.M)
    assert row, f"{name} (VEXIL_{name.upper()}) is missing from the settings table of server.md"


def test_every_limit_is_in_the_security_and_limits_section() -> None:
    limits = section(text("server.md"), "Security and limits")
    wanted = [
        "max_body_bytes",
        "max_event_bytes",
        "password_checks",
        "password_queue",
        "auth_rate_per_client",
        "auth_rate_per_user",
        "max_streams_per_key",
        "stream_buffer_bytes",
        "stream_send_timeout",
        "header_timeout",
        "keep_alive_timeout",
        "max_connections",
        "trusted_proxies",
        "hsts_seconds",
    ]
    assert [n for n in wanted if f"`{n}`" not in limits] == []
