"""Bucketing: the documented recipe, its published test vectors, and its properties."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vexil.flags import Reason, Ruleset, bucket

VECTORS = json.loads(
    (Path(__file__).parent.parent / "data" / "bucketing-vectors.json").read_text(encoding="utf-8")
)

keys = st.text(min_size=1, max_size=40)
salts = st.text(min_size=1, max_size=40)


def rollout_flag(weights: list[tuple[str, float]], seed: str | None = None) -> dict[str, Any]:
    default: dict[str, Any] = {"rollout": [{"variation": v, "weight": w} for v, w in weights]}
    if seed is not None:
        default["seed"] = seed
    return {"variations": {v: v for v, _ in weights}, "default": default}


def test_there_are_at_least_fifty_vectors() -> None:
    assert len(VECTORS["buckets"]) + len(VECTORS["rollout"]["assignments"]) >= 50


@pytest.mark.parametrize("vector", VECTORS["buckets"], ids=lambda v: v["hashed"][:40])
def test_each_vector_lands_in_its_bucket(vector: dict[str, Any]) -> None:
    assert vector["hashed"] == f"{vector['salt']}.{vector['value']}"
    assert bucket(vector["salt"], vector["value"]) == vector["bucket"]
    assert vector["bucket"] == (vector["murmur3_x86_32"] * 100_000) >> 32


@pytest.mark.parametrize("case", VECTORS["rollout"]["assignments"], ids=lambda c: str(c["key"]))
def test_rollout_vectors_are_served_by_the_engine(case: dict[str, Any]) -> None:
    weights = [(w["variation"], w["weight"]) for w in VECTORS["rollout"]["weights"]]
    doc = {"flags": {case["flag"]: rollout_flag(weights, seed=case["seed"])}}
    detail = Ruleset.from_data(doc).evaluate(case["flag"], {"key": case["key"]})
    assert (detail.variant, detail.reason) == (case["variation"], Reason.SPLIT)


def test_without_a_seed_the_flag_key_salts_the_hash() -> None:
    doc = {"flags": {"f": rollout_flag([("a", 50), ("b", 50)])}}
    ruleset = Ruleset.from_data(doc)
    for i in range(200):
        expected = "a" if bucket("f", f"u-{i}") < 50_000 else "b"
        assert ruleset.evaluate("f", {"key": f"u-{i}"}).variant == expected


@given(salt=salts, key=keys)
def test_the_same_input_always_lands_in_the_same_bucket(salt: str, key: str) -> None:
    first = bucket(salt, key)
    assert 0 <= first < 100_000
    assert all(bucket(salt, key) == first for _ in range(3))


def test_buckets_are_the_same_in_a_fresh_process() -> None:
    rng = random.Random(7)
    pairs = [(f"flag-{rng.randrange(10**6)}", f"user-{rng.randrange(10**9)}") for _ in range(500)]
    script = (
        "import json, sys\n"
        "from vexil.flags import bucket\n"
        "pairs = json.load(sys.stdin)\n"
        "print(json.dumps([bucket(s, k) for s, k in pairs]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == [bucket(s, k) for s, k in pairs]


@settings(max_examples=10, deadline=None)
@given(salt=salts, seed=st.integers(0, 2**32))
def test_a_10_90_split_lands_within_one_percent(salt: str, seed: int) -> None:
    rng = random.Random(seed)
    n = 100_000
    inside = sum(bucket(salt, f"{rng.getrandbits(64):x}") < 10_000 for _ in range(n))
    assert abs(inside / n - 0.10) <= 0.01


@settings(max_examples=25, deadline=None)
@given(flag_key=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), start=st.integers(0, 99))
def test_growing_a_rollout_keeps_everyone_who_was_in(flag_key: str, start: int) -> None:
    population = [f"user-{i}" for i in range(5_000)]

    def served(percent: float) -> set[str]:
        doc = {"flags": {flag_key: rollout_flag([("in", percent), ("out", 100 - percent)])}}
        ruleset = Ruleset.from_data(doc)
        return {k for k in population if ruleset.evaluate(flag_key, {"key": k}).variant == "in"}

    smaller, larger = served(start), served(start + 1)
    assert smaller <= larger
    assert served(10) <= served(20)


def test_unpaired_surrogates_bucket_as_the_replacement_character() -> None:
    # JSON's "\ud800" makes such a string; hashing it raw crashes the process (in mmh3),
    # so this runs in a child process, where a crash is a failure rather than the end.
    script = """
import json
from vexil.flags import Ruleset
flags = Ruleset.from_data({"flags": {"f": {
    "variations": {"a": 1, "b": 2},
    "default": {"rollout": [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}]},
}}})
for key in (json.loads('"\\\\ud800"'), "x" + json.loads('"\\\\udfff"') + "y"):
    lone = flags.evaluate("f", {"key": key}, 0)
    replaced = flags.evaluate("f", {"key": key.encode("utf-16", "surrogatepass")
                                     .decode("utf-16", "replace")}, 0)
    explained = flags.explain("f", {"key": key}).detail
    print(lone.value == replaced.value == explained.value, lone.reason.name)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")[:2]
    assert [line.split()[:2] for line in lines] == [["True", "SPLIT"], ["True", "SPLIT"]]
    assert bucket("f", "\ud800") == bucket("f", "\ufffd")
