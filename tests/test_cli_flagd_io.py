"""``vexil import flagd`` and ``vexil export flagd`` against a running server's database.

The commands write through the same service as the admin API, so a running server
(and the SDKs streaming from it) see an import as they see any other change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from _services import VexilServer, run_vexil, sdk_key, wait_for
from vexil import Client
from vexil.flags import Ruleset

# A server and several `vexil` processes per test.
pytestmark = pytest.mark.slow

API = "/api/v1"
DOCUMENT: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "new-checkout": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {
                "if": [
                    {"ends_with": [{"var": "email"}, "@vexil.dev"]},
                    "on",
                    {"fractional": [["on", 10], ["off", 90]]},
                ]
            },
        },
        "page-size": {
            "variants": {"small": 10, "large": 50},
            "defaultVariant": "small",
            "targeting": {"if": [{">=": [{"var": "searches"}, 20]}, "large"]},
        },
    },
}

YAML_DOCUMENT = """\
flags:
  banner:
    state: ENABLED
    variants: {red: "#f00", green: "#0f0"}
    defaultVariant: red
    targeting:
      if:
        - {in: [{var: plan}, [pro, team]]}
        - green
"""


def where(server: VexilServer, project: str, env: str = "development") -> list[str]:
    return ["--project", project, "--env", env, "--database", server.database_url]


def flag_keys(admin: httpx.Client, project: str) -> set[str]:
    return {f["key"] for f in admin.get(f"{API}/projects/{project}/flags").json()["items"]}


def test_an_import_reaches_the_server_and_its_sdks(
    server: VexilServer, admin: httpx.Client, project: str, tmp_path: Path
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(DOCUMENT))
    with Client(sdk_key(admin, project), url=server.base_url, send_events=False) as client:
        assert client.variation("page-size", {"key": "u-1", "searches": 30}, 0) == 0
        done = run_vexil(
            "import",
            "flagd",
            str(path),
            *where(server, project),
            "--comment",
            "PAY-1",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["created: new-checkout, page-size"]
        assert done.stderr.splitlines() == [
            "warning: flags.new-checkout.targeting.if[2].fractional: becomes a percentage "
            "rollout with the same split, but Vexil places contexts with its own hashing: "
            "people are assigned anew",
            "warning: flags.page-size.targeting.if[0].>=: compares with a number or a boolean: "
            'flagd converts text to a number here ("17" < 18, "1" == true), Vexil compares '
            "values of one type, so a context holding such a number as text no longer matches",
        ]
        # The server notices the change in its database and streams it.
        wait_for(
            lambda: client.variation("page-size", {"key": "u-1", "searches": 30}, 0) == 50,
            what="the imported flag",
        )
        assert client.variation("new-checkout", {"key": "u-1", "email": "a@vexil.dev"}) is True

    entries = admin.get(f"{API}/audit", params={"project": project}).json()["items"]
    created = [e for e in entries if e["action"] == "flag.create"]
    assert {(e["key"], e["actor"], e["comment"]) for e in created} == {
        ("new-checkout", "cli", "PAY-1"),
        ("page-size", "cli", "PAY-1"),
    }

    again = run_vexil("import", "flagd", str(path), *where(server, project), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["unchanged: new-checkout, page-size"]


def test_yaml_files_a_dry_run_and_skipping_existing_flags(
    server: VexilServer, admin: httpx.Client, project: str, tmp_path: Path
) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(YAML_DOCUMENT)
    dry = run_vexil(
        "import", "flagd", str(path), *where(server, project), "--dry-run", cwd=tmp_path
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["created: banner", "dry run: nothing was changed"]
    assert flag_keys(admin, project) == set()

    done = run_vexil("import", "flagd", str(path), *where(server, project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    targeting = admin.get(f"{API}/projects/{project}/environments/development/flags/banner").json()
    assert targeting["rules"][0]["clauses"] == [
        {"attribute": "plan", "op": "in", "values": ["pro", "team"]}
    ]

    path.write_text(YAML_DOCUMENT.replace("defaultVariant: red", "defaultVariant: green"))
    skip = run_vexil(
        "import", "flagd", str(path), *where(server, project), "--existing", "skip", cwd=tmp_path
    )
    assert skip.returncode == 0, skip.stderr
    assert skip.stdout.splitlines() == ["skipped: banner"]
    update = run_vexil("import", "flagd", str(path), *where(server, project), cwd=tmp_path)
    assert update.stdout.splitlines() == ["updated: banner"]


def test_refusals_are_one_line_per_problem_with_its_path(
    server: VexilServer, admin: httpx.Client, project: str, tmp_path: Path
) -> None:
    bad = {
        "flags": {
            "a": {"variants": {"x": 1}, "targeting": {"cat": [{"var": "p"}]}},
            "b": {"variants": {"x": 1}, "targeting": {"if": [{"if": [{"var": "q"}, 1, 0]}, "x"]}},
            "c": {"variants": {"x": 1}, "defaultVariant": "y"},
        }
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    done = run_vexil("import", "flagd", str(path), *where(server, project), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines == [
        "flags.c.defaultVariant: unknown variant 'y' (variants: x)",
        "flags.a.targeting.cat: 'cat' computes the variant from the context, which Vexil cannot",
        "flags.b.targeting.if[0].if: an 'if' inside a condition has no Vexil form",
    ]
    # The API refuses the same document with the same problems.
    response = admin.post(
        f"{API}/projects/{project}/environments/development/import/flagd", json=bad
    )
    assert response.status_code == 422
    problems = response.json()["error"]["problems"]
    assert [f"{p['field']}: {p['message']}" for p in problems] == lines
    assert flag_keys(admin, project) == set()

    missing = run_vexil("import", "flagd", str(path), *where(server, "no-such"), cwd=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (2, "--project: no project 'no-such'")
    env = run_vexil("import", "flagd", str(path), *where(server, project, "qa"), cwd=tmp_path)
    assert (env.returncode, env.stderr.strip()) == (2, "--env: no environment 'qa'")
    path.write_text("{not json")
    broken = run_vexil("import", "flagd", str(path), *where(server, project), cwd=tmp_path)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"{path}: not valid JSON")
    absent = run_vexil(
        "import", "flagd", str(tmp_path / "nope.json"), *where(server, project), cwd=tmp_path
    )
    assert absent.returncode == 1
    assert "nope.json" in absent.stderr


def test_export_writes_the_document_the_api_answers(
    server: VexilServer, admin: httpx.Client, project: str, tmp_path: Path
) -> None:
    flags_url = f"{API}/projects/{project}/flags"
    for key in ("plain", "gated"):
        body = {"key": key, "variations": {"on": True, "off": False}}
        assert admin.post(flags_url, json=body).status_code == 201
    gated = {"on": True, "prerequisites": [{"flag": "plain", "variation": "on"}], "default": "on"}
    url = f"{API}/projects/{project}/environments/development/flags/gated"
    assert admin.put(url, json=gated).status_code == 200

    refused = run_vexil("export", "flagd", *where(server, project), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "flags.gated.prerequisites: flagd has no prerequisites (plain=on)"
    ]

    out = tmp_path / "out.json"
    done = run_vexil(
        "export",
        "flagd",
        *where(server, project),
        "--skip-unsupported",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "skipped gated: flags.gated.prerequisites: flagd has no prerequisites (plain=on)",
        "warning: flags.plain.on: the flag is off: exported as serving 'off' to everyone "
        "(flagd has no off variation; a DISABLED flag would give applications their own "
        "default)",
        f"wrote 1 flag to {out}",
    ]
    written = json.loads(out.read_text())
    answered = admin.get(
        f"{API}/projects/{project}/environments/development/export/flagd",
        params={"skip_unsupported": "true"},
    ).json()
    assert written == answered
    assert Ruleset.from_flagd(written).evaluate("plain", {}).value is False

    printed = run_vexil(
        "export", "flagd", *where(server, project), "--skip-unsupported", cwd=tmp_path
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == answered
