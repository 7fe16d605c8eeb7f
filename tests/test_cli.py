"""The ``vexil`` command: validate, eval and schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vexil.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "flags.yaml"
BAD = """
flags:
  new-checkout:
    variations: {on: true, off: false}
    default: of
    rules:
      - clauses: [{attribute: email, op: startswith, values: ["@vexil.dev"]}]
        serve: on
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "valid (5 flags, 2 segments)" in capsys.readouterr().out


def test_validate_lists_every_error_with_its_path_on_stderr(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(bad_file)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "flags.new-checkout.default: unknown variation 'of' (did you mean 'off'?)",
        "flags.new-checkout.rules[0].clauses[0].op: unknown operator 'startswith'"
        " (did you mean 'starts_with'?)",
    ]


def test_validate_reports_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no-such-file.yaml"]) == 1
    assert "no-such-file.yaml" in capsys.readouterr().err


def test_eval_prints_value_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    context = '{"key": "u-1", "email": "ana@vexil.dev"}'
    assert main(["eval", str(EXAMPLE), "new-checkout", "--context", context]) == 0
    value, summary = capsys.readouterr().out.splitlines()
    assert value == "true"
    assert summary == "variant: on · reason: TARGETING_MATCH · rule: staff"


def test_eval_explain_shows_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    context = '{"key": "u-5", "address": {"country": "CA"}, "plan": "free"}'
    assert main(["eval", str(EXAMPLE), "new-checkout", "-c", context, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "[ ] rule 'canada-pro': plan in 'pro', 'enterprise' (plan is 'free')" in out
    assert "[x] rollout (on 5%, off 95%) by 'key': bucket" in out


def test_eval_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", str(EXAMPLE), "checkout-button-color", "-c", '{"key": "u-1"}', "--json"]
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)
    # u-1 is not staff nor in Canada: new-checkout's 5% rollout decides the prerequisite.
    assert body["reason"] in {"SPLIT", "PREREQUISITE_FAILED"}
    assert body["value"] in {"#1f6feb", "#2da44e", "#fb8500"}


def test_eval_reads_a_context_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = tmp_path / "ctx.json"
    ctx.write_text('{"key": "u-2", "searches_per_day": 80}', encoding="utf-8")
    assert main(["eval", str(EXAMPLE), "search-results-per-page", "-c", f"@{ctx}"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "50"


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_eval_rejects_a_bad_context(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(EXAMPLE), "new-checkout", "-c", bad]) == 2
    assert "--context" in capsys.readouterr().err


def test_eval_of_an_unknown_flag_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(EXAMPLE), "no-such-flag"]) == 1
    assert capsys.readouterr().err.strip() == "no-such-flag: FLAG_NOT_FOUND: no flag 'no-such-flag'"


def test_eval_of_a_bad_document_lists_its_errors(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(bad_file), "new-checkout"]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Vexil flag document"


def test_the_installed_command_runs() -> None:
    exe = shutil.which("vexil", path=str(Path(sys.executable).parent))
    assert exe is not None, "the vexil console script is not installed"
    out = subprocess.run(
        [exe, "validate", str(EXAMPLE)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout
