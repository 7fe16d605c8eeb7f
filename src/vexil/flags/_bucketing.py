"""Stable bucketing: the recipe that places a context in a rollout.

The recipe (documented in ``docs/bucketing.md``, with test vectors in
``tests/data/bucketing-vectors.json`` for SDKs in other languages):

1. The *salt* is the rollout's ``seed`` if it has one, else the flag key.
2. The *bucket value* is the context attribute named by ``bucket_by`` (default
   ``key``): a non-empty string as it is, an integer in decimal. Anything else,
   or no value, cannot be bucketed.
3. The string hashed is ``salt + "." + value``, encoded as UTF-8 (an unpaired
   surrogate, which JSON can carry but UTF-8 cannot, counts as U+FFFD).
4. ``h`` is its MurmurHash3 (x86, 32-bit, seed 0) as an unsigned integer.
5. The bucket is ``(h * 100000) >> 32``: an integer in ``[0, 100000)``, so a
   bucket is 0.001 % wide, the resolution of rollout weights.
6. Slices are laid end to end in the order the rollout lists them; the context
   gets the first slice whose cumulative weight exceeds its bucket.

Growing a slice at the end of the earlier ones only moves the boundary: a context
once inside stays inside, so nobody flips back and forth as a rollout grows.
"""

from __future__ import annotations

from typing import Any

import mmh3

from ._model import WEIGHT_UNITS

hash32 = mmh3.hash


def bucket(salt: str, value: str) -> int:
    """The bucket, in ``[0, 100000)``, of ``value`` under ``salt``."""
    return (hash32(well_formed(f"{salt}.{value}"), 0, False) * WEIGHT_UNITS) >> 32


def well_formed(text: str) -> str:
    """``text`` with each unpaired surrogate replaced by U+FFFD.

    ``mmh3`` encodes a str as UTF-8 itself and crashes the whole process on a
    surrogate, which JSON's ``"\\ud800"`` puts in a Python string. Go's and
    JavaScript's UTF-8 encoders write U+FFFD for one, and so does this.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def bucket_value(value: Any) -> str | None:
    """The string that stands for a context attribute in bucketing, or ``None``.

    A non-empty string (a str subclass such as a StrEnum by its string value) or an
    integer in decimal; booleans, floats and anything else cannot be bucketed.
    """
    if isinstance(value, str):
        return well_formed(str.__str__(value)) or None
    if isinstance(value, int) and value.__class__ is not bool:
        return str(int(value))
    return None
