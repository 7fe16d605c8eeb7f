"""Regular expressions: hostile patterns through the engine, beside Python's ``re``.

Run with ``make bench-regex`` (or ``python bench/regex.py``). Each hostile pattern is
the only clause of a flag (``{attribute: name, op: matches, values: [PATTERN]}``),
evaluated with ``Ruleset.evaluate`` against a text built to make a backtracking engine
try every way of matching it, of 30, 1,000 and 100,000 characters. Each figure is the
median of several repeats of a timed loop, in microseconds per evaluation.

``re.search`` of the same pattern and text (what the engine ran before RE2) is timed in
a child process that is killed after ``--re-timeout`` seconds, so that no figure can hang
the run; once a text is too long for it, the longer ones are not tried.

Then the hot path: the cost of ``matches`` with ordinary patterns, over the 10,000
contexts of ``workloads.py``, beside W2 (whose ``ends_with`` clauses W2-regex writes as
``matches``), before and after: the same rulesets built once more with the engine's
previous ``re``-based test, timed in turns with the current ones.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workloads
from vexil import Ruleset
from vexil.flags import Operator, _operators

SIZES = (30, 1_000, 100_000)


def _failing_run(n: int) -> str:
    return "a" * (n - 1) + "!"


def _few_as(n: int) -> str:
    return "a" * 19 + "b" * (n - 19)


def _xs(n: int) -> str:
    return "x" * n


def _random_ab(n: int) -> str:
    return "".join(random.Random(n).choice("ab") for _ in range(n))


#: (pattern, how its hostile text of n characters is built, what the text is).
HOSTILE: list[tuple[str, Callable[[int], str], str]] = [
    (r"^(a+)+$", _failing_run, "a...a!"),
    (r"(a|aa)+$", _failing_run, "a...a!"),
    (r"(.*a){20}", _few_as, "19 a, then b...b"),
    (r"(x+x+)+y", _xs, "x...x"),
    (r"^(\w+\s?)*$", _failing_run, "a...a!"),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", _failing_run, "a...a!"),
]

#: RE2's own worst case: the DFA cannot keep its states, so the NFA runs, whose cost per
#: character grows with the pattern (here about 1,000 instructions, of at most 5,000).
RE2_WORST: tuple[str, Callable[[int], str], str] = (
    r"[ab]*a[ab]{1000}c",
    _random_ab,
    "random a and b",
)


def median_us(call: Callable[[], object], repeats: int, min_seconds: float = 0.02) -> float:
    """Median microseconds per ``call``, over ``repeats`` loops of about ``min_seconds`` each."""
    number = 1
    while True:  # timeit's autorange: grow the loop until it is long enough to time
        start = time.perf_counter()
        for _ in range(number):
            call()
        if time.perf_counter() - start >= min_seconds or number >= 1 << 20:
            break
        number *= 4
    times = []
    for _ in range(repeats):
        gc.disable()
        start = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - start) / number)
        gc.enable()
    return statistics.median(times) * 1e6


def one_clause(pattern: str) -> Ruleset:
    return Ruleset.from_data(
        {
            "flags": {
                "f": {
                    "variations": {"on": True, "off": False},
                    "rules": [
                        {
                            "clauses": [
                                {"attribute": "name", "op": "matches", "values": [pattern]}
                            ],
                            "serve": "on",
                        }
                    ],
                    "default": "off",
                }
            }
        }
    )


def engine_us(pattern: str, text: str, repeats: int) -> tuple[float, bool]:
    ruleset = one_clause(pattern)
    evaluate, context = ruleset.evaluate, {"key": "u", "name": text}
    detail = evaluate("f", context)
    assert detail.error is None, detail
    return median_us(lambda: evaluate("f", context), repeats), bool(detail.value)


RE_CHILD = """
import json, re, statistics, sys, time
job = json.load(sys.stdin)
search, text = re.compile(job["pattern"]).search, job["text"]
times = []
for _ in range(job["repeats"]):
    start = time.perf_counter()
    found = search(text) is not None
    times.append(time.perf_counter() - start)
    if sum(times) > job["budget"]:
        break
print(json.dumps({"us": statistics.median(times) * 1e6, "found": found}))
"""


def re_us(pattern: str, text: str, repeats: int, timeout: float) -> float | None:
    """Median microseconds of ``re.search`` in a child process; None once past ``timeout``."""
    job = json.dumps({"pattern": pattern, "text": text, "repeats": repeats, "budget": timeout})
    try:
        out = subprocess.run(
            [sys.executable, "-c", RE_CHILD],
            input=job,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout + 1.0,  # the interpreter's start, on top of the search
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        return None
    result: dict[str, Any] = json.loads(out.stdout)
    return float(result["us"])


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 1e6:
        return f"{us / 1e6:,.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:,.1f} ms"
    return f"{us:,.1f} µs"


def hostile_rows(repeats: int, timeout: float) -> list[str]:
    rows = []
    for pattern, build, shape in [*HOSTILE, RE2_WORST]:
        re_gave_up = False
        for n in SIZES:
            text = build(n)
            assert len(text) == n
            vexil, found = engine_us(pattern, text, repeats)
            if re_gave_up:
                old = "not run"  # longer than a text it already gave up on
            else:
                us = re_us(pattern, text, repeats, timeout)
                re_gave_up = us is None
                old = f"> {timeout:g} s (stopped)" if us is None else fmt_us(us)
            verdict = "matches" if found else "no match"
            cell = pattern.replace("|", "\\|")  # a bar would end the Markdown cell
            rows.append(f"| `{cell}` | {shape} | {n:,} | {fmt_us(vexil)} | {old} | {verdict} |")
    return rows


# ------------------------------------------------------------------- hot path


def w2_regex_document(form: str) -> dict[str, Any]:
    """W2 with its two ``ends_with`` clauses written as ``matches`` (``form`` around the
    escaped suffix): the same rules, so the same answers."""
    flag = workloads.w2_flag()
    for rule in flag["rules"]:
        for clause in rule["clauses"]:
            if clause["op"] == "ends_with":
                suffix = re.escape(clause["values"][0])
                clause.update(op="matches", values=[form.format(suffix)])
    return workloads.document({"w2": flag})


def one_matches_document() -> dict[str, Any]:
    """One rule of one ``matches`` clause on an e-mail address (about 1 context in 3 matches)."""
    clause = {
        "attribute": "email",
        "op": "matches",
        "values": [r"^person\d+@(?:vexil\.dev|acme\.io|proton\.me)$"],
    }
    flag = {
        "variations": {"on": True, "off": False},
        "rules": [{"clauses": [clause], "serve": "on"}],
        "default": "off",
    }
    return workloads.document({"m": flag})


@contextmanager
def previous_engine() -> Iterator[None]:
    """Rulesets built inside compile ``matches`` as the engine did before RE2 (``re``).

    For the before/after figures only, in the same run and on the same machine; the
    hostile patterns never go through it.
    """

    def factory(values: tuple[Any, ...]) -> Callable[[Any], bool]:
        searches = tuple(re.compile(p).search for p in values)
        if len(searches) == 1:
            search = searches[0]
            return lambda v: isinstance(v, str) and search(v) is not None
        return lambda v: isinstance(v, str) and any(s(v) is not None for s in searches)

    saved = _operators._FACTORIES[Operator.MATCHES]
    _operators._FACTORIES[Operator.MATCHES] = factory
    try:
        yield
    finally:
        _operators._FACTORIES[Operator.MATCHES] = saved


def per_eval_us(ruleset: Ruleset, key: str, contexts: list[dict[str, Any]]) -> float:
    evaluate = ruleset.evaluate

    def run() -> None:
        for ctx in contexts:
            evaluate(key, ctx)

    return median_us(run, 1, min_seconds=0.0) / len(contexts)


def hot_path_rows(repeats: int) -> list[str]:
    contexts = workloads.contexts()
    documents = {
        "W2 (`ends_with`)": (workloads.w2_document(), "w2"),
        "W2-regex: W2 with `matches`, plain suffixes": (w2_regex_document("{}$"), "w2"),
        "W2-regex2: W2 with `matches`, `.+SUFFIX$`": (w2_regex_document(".+{}$"), "w2"),
        "one `matches` clause": (one_matches_document(), "m"),
    }
    rows = []
    reference = Ruleset.from_data(workloads.w2_document())
    for name, (document, key) in documents.items():
        after = Ruleset.from_data(document)
        with previous_engine():
            before = Ruleset.from_data(document)
        for ctx in contexts:
            want = after.evaluate(key, ctx).variant
            assert before.evaluate(key, ctx).variant == want
            if key == "w2":
                assert reference.evaluate(key, ctx).variant == want
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(repeats):  # in turns, so that a busy moment hits both
            times["before"].append(per_eval_us(before, key, contexts))
            times["after"].append(per_eval_us(after, key, contexts))
        was, now = (statistics.median(times[k]) for k in ("before", "after"))
        rows.append(f"| {name} | {was:.3f} | {now:.3f} | {now - was:+.3f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--hot-repeats", type=int, default=21)
    parser.add_argument("--re-timeout", type=float, default=1.0, help="seconds (default 1)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores\n")
    print("| pattern | text | characters | Vexil (RE2) | Python `re` (before) | result |")
    print("|---|---|---:|---:|---:|---|")
    for row in hostile_rows(args.repeats, args.re_timeout):
        print(row, flush=True)
    print("\n| hot path (µs/eval) | before (`re`) | after (RE2) | change |")
    print("|---|---:|---:|---:|")
    for row in hot_path_rows(args.hot_repeats):
        print(row, flush=True)


if __name__ == "__main__":
    main()
