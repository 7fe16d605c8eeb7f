"""Reading documents from YAML and JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vexil.flags import Reason, Ruleset, ValidationError, VariationType

YAML_DOCUMENT = """\
version: 1
segments:
  staff:
    rules:
      - clauses:
          - {attribute: email, op: ends_with, values: ["@vexil.dev"]}
flags:
  new-checkout:
    variations:
      on: true
      off: false
    on: true
    off_variation: off
    rules:
      - id: staff
        clauses:
          - {op: segment, values: [staff]}
        serve: on
    default: off
"""

JSON_DOCUMENT = json.dumps(
    {
        "version": 1,
        "segments": {
            "staff": {
                "rules": [
                    {
                        "clauses": [
                            {"attribute": "email", "op": "ends_with", "values": ["@vexil.dev"]}
                        ]
                    }
                ]
            }
        },
        "flags": {
            "new-checkout": {
                "variations": {"on": True, "off": False},
                "on": True,
                "off_variation": "off",
                "rules": [
                    {
                        "id": "staff",
                        "clauses": [{"op": "segment", "values": ["staff"]}],
                        "serve": "on",
                    }
                ],
                "default": "off",
            }
        },
    },
    indent=2,
)


def problem_messages(text: str | bytes, fmt: str | None = None) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Ruleset.from_text(text, format=fmt)
    return [str(p) for p in caught.value.problems]


# ---------------------------------------------------------- YAML 1.2 booleans


def test_on_and_off_are_a_field_and_a_variation_name_not_booleans() -> None:
    ruleset = Ruleset.from_text(YAML_DOCUMENT)
    flag = ruleset.flags["new-checkout"]
    assert flag.on is True
    assert flag.variations == {"on": True, "off": False}
    assert flag.off_variation == "off"
    assert flag.default == "off"
    assert flag.rules[0].serve == "on"
    assert ruleset.evaluate("new-checkout", {"email": "a@vexil.dev"}).value is True


def test_yes_and_no_stay_strings() -> None:
    text = """
flags:
  consent:
    variations:
      yes: yes
      no: no
      On: On
    default: no
"""
    flag = Ruleset.from_text(text).flags["consent"]
    assert flag.type is VariationType.STRING
    assert flag.variations == {"yes": "yes", "no": "no", "On": "On"}
    assert flag.default == "no"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml_1_1_boolean_words_are_not_accepted_as_booleans(word: str) -> None:
    text = f"flags:\n  f:\n    variations: {{a: true}}\n    on: {word}\n"
    assert problem_messages(text) == ["flags.f.on: must be true or false, not a string"]


@pytest.mark.parametrize(("word", "value"), [("true", True), ("True", True), ("FALSE", False)])
def test_yaml_1_2_booleans_are_booleans(word: str, value: bool) -> None:
    text = f"flags:\n  f:\n    variations: {{a: true}}\n    on: {word}\n    temporary: {word}\n"
    flag = Ruleset.from_text(text).flags["f"]
    assert (flag.on, flag.temporary) == (value, value)


def test_unquoted_dates_stay_strings() -> None:
    text = """
flags:
  sale:
    variations: {ends: 2027-01-06, starts: 2026-12-01T00:00:00Z}
    rules:
      - clauses: [{attribute: now, op: after, values: [2026-12-01]}]
        serve: ends
    default: starts
"""
    ruleset = Ruleset.from_text(text)
    flag = ruleset.flags["sale"]
    assert flag.variations == {"ends": "2027-01-06", "starts": "2026-12-01T00:00:00Z"}
    assert flag.rules[0].clauses[0].values == ("2026-12-01",)
    assert ruleset.evaluate("sale", {"now": "2026-12-02"}).value == "2027-01-06"
    json.dumps(ruleset.to_data())


def test_yaml_numbers_are_numbers() -> None:
    text = "flags:\n  f:\n    variations: {a: 1, b: 2.5, c: -3}\n"
    assert Ruleset.from_text(text).flags["f"].variations == {"a": 1, "b": 2.5, "c": -3}


# ------------------------------------------------------------ YAML and JSON


def test_the_same_document_in_yaml_and_json_reads_the_same() -> None:
    from_yaml = Ruleset.from_text(YAML_DOCUMENT)
    from_json = Ruleset.from_text(JSON_DOCUMENT)
    assert from_yaml.document == from_json.document


@pytest.mark.parametrize("fmt", ["json", "yaml", None])
def test_json_text_reads_with_either_format_or_a_guess(fmt: str | None) -> None:
    assert list(Ruleset.from_text(JSON_DOCUMENT, format=fmt)) == ["new-checkout"]


def test_bytes_are_read_as_utf8_with_or_without_a_bom() -> None:
    text = 'flags:\n  f:\n    variations: {a: "caf\u00e9"}\n'
    for data in (text.encode(), b"\xef\xbb\xbf" + text.encode()):
        assert Ruleset.from_text(data).flags["f"].variations == {"a": "caf\u00e9"}


def test_bytes_that_are_not_utf8_are_rejected() -> None:
    messages = problem_messages(b'flags: {f: {variations: {a: "\xff"}}}')
    assert len(messages) == 1
    assert messages[0].startswith("not UTF-8 text")


def test_an_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown format 'toml'"):
        Ruleset.from_text("flags = {}", format="toml")


@pytest.mark.parametrize(
    ("text", "fmt", "start"),
    [
        ('{"flags": {', None, "not valid JSON"),
        ("{'flags': {}}", "json", "not valid JSON"),
        ("flags: [unclosed", None, "not valid YAML"),
        ("flags:\n  f: {a: 1\n", "yaml", "not valid YAML"),
        ("flags: !!python/object:os.system {}", None, "not valid YAML"),
    ],
)
def test_text_that_does_not_parse_is_a_validation_error(
    text: str, fmt: str | None, start: str
) -> None:
    messages = problem_messages(text, fmt)
    assert len(messages) == 1
    assert messages[0].startswith(start)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "   \n"])
def test_an_empty_text_is_rejected_rather_than_read_as_no_flags(text: str) -> None:
    assert problem_messages(text) == ["must be a mapping, not null"]


def test_a_text_that_is_not_a_mapping_is_rejected() -> None:
    assert problem_messages("- a\n- b\n") == ["must be a mapping, not a list"]


def test_a_yaml_mapping_with_an_unhashable_key_is_rejected() -> None:
    messages = problem_messages("flags:\n  ? [a, b]\n  : {}\n", "yaml")
    assert messages == ["line 2: unhashable key ['a', 'b']"]


# ---------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "flags:\n  f:\n    variations: {a: true}\n  f:\n    variations: {b: true}\n",
            "line 4: duplicate key 'f'",
        ),
        (
            "flags:\n  f:\n    variations:\n      a: true\n      a: false\n",
            "line 5: duplicate key 'a'",
        ),
        ("flags: {}\nflags: {}\n", "line 2: duplicate key 'flags'"),
        ("flags:\n  f: {variations: {a: 1}, on: true, on: false}\n", "line 2: duplicate key 'on'"),
    ],
)
def test_a_duplicate_key_in_yaml_is_rejected(text: str, message: str) -> None:
    assert problem_messages(text) == [message]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"flags": {"f": {"variations": {"a": true}}, "f": {"variations": {"b": true}}}}',
            "duplicate key 'f'",
        ),
        ('{"flags": {"f": {"variations": {"a": true, "a": false}}}}', "duplicate key 'a'"),
        ('{"version": 1, "version": 1}', "duplicate key 'version'"),
    ],
)
def test_a_duplicate_key_in_json_is_rejected(text: str, message: str) -> None:
    assert problem_messages(text) == [message]
    assert problem_messages(text, "json") == [message]


def test_yaml_merge_keys_may_be_overridden_without_being_duplicates() -> None:
    text = """
flags:
  a: &base
    variations: {on: true, off: false}
    default: on
  b:
    <<: *base
    default: off
"""
    ruleset = Ruleset.from_text(text)
    assert ruleset.evaluate("a", {}).value is True
    assert ruleset.evaluate("b", {}).value is False
    assert ruleset.flags["b"].variations == ruleset.flags["a"].variations
    assert problem_messages(text + "    default: on\n") == ["line 9: duplicate key 'default'"]


# -------------------------------------------------------------------- files


def test_from_file_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(YAML_DOCUMENT, encoding="utf-8")
    assert Ruleset.from_file(path).document == Ruleset.from_text(YAML_DOCUMENT).document
    assert list(Ruleset.from_file(str(path))) == ["new-checkout"]


def test_from_file_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "flags.JSON"
    path.write_text(JSON_DOCUMENT, encoding="utf-8")
    assert Ruleset.from_file(path).evaluate("new-checkout", {}).reason is Reason.DEFAULT


def test_a_json_file_is_read_as_json_only(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(YAML_DOCUMENT, encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid JSON"):
        Ruleset.from_file(path)


def test_a_file_with_problems_is_rejected_with_their_paths(tmp_path: Path) -> None:
    path = tmp_path / "flags.yml"
    path.write_text(YAML_DOCUMENT.replace("op: segment", "op: in_segment"), encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        Ruleset.from_file(path)
    assert [str(p) for p in caught.value.problems] == [
        "flags.new-checkout.rules[0].clauses[0].op:"
        " unknown operator 'in_segment' (did you mean 'segment'?)"
    ]


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Ruleset.from_file(tmp_path / "missing.yaml")
