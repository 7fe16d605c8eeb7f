"""The dashboard's one reader of numbers from forms and query strings (``web._forms``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vexil.server._errors import BadRequest
from vexil.server.web._forms import (
    MAX_ID,
    MAX_NUMBER_CHARS,
    clamped_number,
    decimal_number,
    json_number,
    version_field,
    whole_number,
)

#: Text ``int()`` or ``str.isdigit()`` take for a number, which a form must not.
NOT_ASCII_NUMBERS = ["²", "٣", "١٢", "\U0001d7d7", "Ⅻ", "½", "1_000", "0x10", "+1", "-1", "1.0"]


@pytest.mark.parametrize("text", [*NOT_ASCII_NUMBERS, "", " ", "x", "\x00", "1\x00", "\ud800"])
def test_only_ascii_digits_are_whole_numbers(text: str) -> None:
    assert whole_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"), [("0", 0), ("7", 7), (" 42 ", 42), ("007", 7), (str(MAX_ID), MAX_ID)]
)
def test_whole_numbers_in_range(text: str, expected: int) -> None:
    assert whole_number(text) == expected


@pytest.mark.parametrize("text", [str(MAX_ID + 1), "100000000000000000000", "9" * 5000])
def test_numbers_past_what_the_tables_hold_are_none(text: str) -> None:
    assert whole_number(text) is None


def test_a_range_of_positions_bounds_a_whole_number() -> None:
    assert whole_number("2", high=2) == 2
    assert whole_number("3", high=2) is None
    assert whole_number("0", high=-1) is None  # a position in an empty list
    assert whole_number("0", low=1) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 1), ("²", 1), ("-3", 1), ("0", 1), ("5", 5), ("100000000000000000000", 10**6)],
)
def test_page_numbers_are_clamped_or_the_default(text: str, expected: int) -> None:
    assert clamped_number(text, low=1, high=10**6, default=1) == expected


def test_a_form_without_a_version_needs_none_unless_it_must_have_one() -> None:
    assert version_field("") is None
    assert version_field("12") == 12
    with pytest.raises(BadRequest) as refused:
        version_field("", required=True)
    assert refused.value.field == "version"


@pytest.mark.parametrize("text", ["²", "٣", "0", "-1", str(MAX_ID + 1), "1e3"])
def test_a_version_that_is_not_one_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        version_field(text)
    assert refused.value.field == "version"
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25", Decimal(25)),
        ("12.5", Decimal("12.5")),
        ("-3", Decimal(-3)),
        ("0.001", Decimal("0.001")),
    ],
)
def test_decimal_numbers(text: str, expected: Decimal) -> None:
    assert decimal_number(text) == expected


@pytest.mark.parametrize(
    "text",
    ["1e999999999", "Infinity", "NaN", "٣", "1_0", "", ".5", "5.", "1" * 21, "0." + "1" * 21],
)
def test_decimal_numbers_are_plain_and_bounded(text: str) -> None:
    assert decimal_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", 42), ("-7", -7), ("1.5", 1.5), ("2e3", 2000.0), ("0", 0), ("9" * 60, int("9" * 60))],
)
def test_json_numbers(text: str, expected: float) -> None:
    number = json_number(text)
    assert number == expected
    assert type(number) is type(expected)


@pytest.mark.parametrize(
    "text", ["1e999", "-1e999", "NaN", "٣", "01", "+1", "1.", "9" * (MAX_NUMBER_CHARS + 1), ""]
)
def test_what_is_not_a_json_number_stays_text(text: str) -> None:
    assert json_number(text) is None


@given(st.text())
def test_no_text_makes_a_reader_fail(text: str) -> None:
    whole = whole_number(text)
    assert whole is None or 0 <= whole <= MAX_ID
    assert 1 <= clamped_number(text, low=1, high=10, default=3) <= 10
    decimal = decimal_number(text)
    assert decimal is None or decimal.is_finite()
    number = json_number(text)
    assert number is None or isinstance(number, int | float)


@given(st.integers(0, MAX_ID))
def test_every_whole_number_reads_back(number: int) -> None:
    assert whole_number(str(number)) == number
