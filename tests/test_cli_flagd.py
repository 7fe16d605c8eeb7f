"""The ``vexil`` command on flagd flag-definition files: validate and eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vexil.cli import main

FLAGS: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "header-color": {
            "state": "ENABLED",
            "variants": {"red": "#f00", "blue": "#00f", "green": "#0f0"},
            "defaultVariant": "red",
            "targeting": {
                "if": [
                    {"$ref": "is_staff"},
                    "blue",
                    {"fractional": [["red", 50], ["green", 50]]},
                ]
            },
            "metadata": {"owner": "web"},
        },
        "dark-mode": {"state": "DISABLED", "variants": {"on": True, "off": False}},
    },
    "$evaluators": {"is_staff": {"ends_with": [{"var": "email"}, "@example.com"]}},
    "metadata": {"flagSetId": "shop"},
}


@pytest.fixture
def flagd_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.flagd.json"
    path.write_text(json.dumps(FLAGS), encoding="utf-8")
    return path


def write(tmp_path: Path, data: dict[str, Any], name: str = "other.flagd.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_validate_accepts_a_flagd_file(
    flagd_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(flagd_file)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{flagd_file}: valid (2 flags, flagd format)\n"
    assert err == ""


def test_validate_accepts_a_flagd_yaml_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flags.flagd.yaml"
    path.write_text(
        "flags:\n  beta:\n    state: ENABLED\n    variants: {on: true, off: false}\n"
        "    defaultVariant: off\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 0
    assert "valid (1 flag, flagd format)" in capsys.readouterr().out


def test_validate_lists_the_problems_of_a_malformed_flagd_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(json.dumps(FLAGS))
    data["flags"]["header-color"]["defaultVariant"] = "rde"
    data["flags"]["dark-mode"]["state"] = "OFF"
    assert main(["validate", str(write(tmp_path, data))]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "flags.header-color.defaultVariant: unknown variant 'rde' (did you mean 'red'?)",
        "flags.dark-mode.state: must be ENABLED or DISABLED, not 'OFF'",
    ]


def test_validate_fails_on_targeting_that_cannot_run_and_warns_of_unknown_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SDK loads such a file (that flag alone gives PARSE_ERROR); validate refuses it."""
    data = json.loads(json.dumps(FLAGS))
    data["flags"]["header-color"]["targeting"]["if"][0] = {"$ref": "is_staf"}
    data["flags"]["dark-mode"]["defaultVarient"] = "on"
    assert main(["validate", str(write(tmp_path, data))]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "warning: flags.dark-mode.defaultVarient: unknown field (did you mean 'defaultVariant'?)",
        "flags.header-color.targeting.if[0].$ref: unknown evaluator 'is_staf'"
        " (did you mean 'is_staff'?)",
    ]


def test_eval_prints_value_reason_and_metadata(
    flagd_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = '{"email": "ana@example.com"}'
    assert main(["eval", str(flagd_file), "header-color", "--context", context]) == 0
    value, summary = capsys.readouterr().out.splitlines()
    assert value == '"#00f"'
    assert summary == (
        'variant: blue · reason: TARGETING_MATCH · metadata: {"flagSetId": "shop", "owner": "web"}'
    )


def test_eval_json_splits_by_the_context_key(
    flagd_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variants = set()
    for user in ("u-1", "u-2", "u-3", "u-4", "u-5", "u-6"):
        code = main(["eval", str(flagd_file), "header-color", "-c", json.dumps({"key": user})])
        assert code == 0
        variants.add(capsys.readouterr().out.splitlines()[1].split(" · ")[0])
    assert variants == {"variant: red", "variant: green"}
    assert main(["eval", str(flagd_file), "header-color", "--json", "-c", '{"key": "u-1"}']) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["reason"] == "TARGETING_MATCH"
    assert body["metadata"] == {"flagSetId": "shop", "owner": "web"}


def test_eval_of_a_disabled_flag_and_of_a_broken_one(
    tmp_path: Path, flagd_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(flagd_file), "dark-mode"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "null",
        'variant: None · reason: DISABLED · metadata: {"flagSetId": "shop"}',
    ]
    data = json.loads(json.dumps(FLAGS))
    data["flags"]["header-color"]["targeting"] = {"iff": [True, "blue"]}
    assert main(["eval", str(write(tmp_path, data)), "header-color"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("header-color: PARSE_ERROR: flags.header-color.targeting.iff:")


def test_eval_explain_shows_the_targeting(
    flagd_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = '{"email": "bob@elsewhere.org", "key": "u-1"}'
    assert main(["eval", str(flagd_file), "header-color", "--explain", "-c", context]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("header-color -> ")
    assert "the flag is ENABLED" in lines[1]
    assert lines[2].startswith("  [x] the targeting returned ")


@pytest.mark.slow
def test_the_installed_command_reads_flagd_files(flagd_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vexil", "eval", str(flagd_file), "header-color",
         "-c", '{"email": "x@example.com"}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == '"#00f"'
