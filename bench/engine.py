"""Engine benchmark: W1, W2, W3, and loading a 10,000-flag ruleset.

Run with ``make bench`` (or ``python bench/engine.py``). Every engine evaluates
the same flags (``workloads.py``) for the same 10,000 contexts, built before
timing; each figure is the best of several rounds, in microseconds per
evaluation (W1, W2) or per pass over all 100 flags (W3). Results go to standard
output as a Markdown table, to paste into ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import workloads
from vexil import Ruleset

PEERS = ("launchdarkly", "growthbook", "flagd", "unleash")


def best_of(run: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` runs, in seconds, with the collector paused."""
    times = []
    for _ in range(rounds):
        gc.disable()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        gc.enable()
    return min(times)


def per_eval(evaluate: Callable[[Any], Any], contexts: list[Any], rounds: int) -> float:
    def run() -> None:
        for ctx in contexts:
            evaluate(ctx)

    return best_of(run, rounds) / len(contexts) * 1e6


def per_pass(all_flags: Callable[[Any], Any], contexts: list[Any], rounds: int) -> float:
    def run() -> None:
        for ctx in contexts:
            all_flags(ctx)

    return best_of(run, rounds) / len(contexts) * 1e6


class Vexil:
    NAME = "Vexil"

    def __init__(self, document: dict[str, Any]) -> None:
        self.ruleset = Ruleset.from_data(document)

    def prepare(self, context: dict[str, Any]) -> dict[str, Any]:
        return context

    def evaluator(self, key: str) -> Callable[[Any], Any]:
        evaluate = self.ruleset.evaluate
        return lambda ctx: evaluate(key, ctx)

    def all_flags(self, context: dict[str, Any]) -> Any:
        return self.ruleset.evaluate_all(context)

    def close(self) -> None:
        pass


def measure(
    engine: Callable[[dict[str, Any]], Any], contexts: list[dict[str, Any]], rounds: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, document, key in (
        ("W1", workloads.w1_document(), "w1"),
        ("W2", workloads.w2_document(), "w2"),
    ):
        peer = engine(document)
        prepared = [peer.prepare(c) for c in contexts]
        out[name] = per_eval(peer.evaluator(key), prepared, rounds)
        peer.close()
    peer = engine(workloads.w3_document())
    prepared = [peer.prepare(c) for c in contexts[:1000]]
    out["W3"] = per_pass(peer.all_flags, prepared, max(3, rounds // 2))
    peer.close()
    return out


def dict_baseline(contexts: list[dict[str, Any]], rounds: int) -> float:
    """A dict lookup plus a function call: the floor any evaluation is measured against."""
    table = {"w1": True}
    lookup = table.get
    return per_eval(lambda ctx: lookup("w1"), contexts, rounds)


LOAD_SCRIPT = """
import json, sys, time, psutil
from vexil import Ruleset
text = open(sys.argv[1]).read()
before = psutil.Process().memory_info().rss
start = time.perf_counter()
ruleset = Ruleset.from_text(text, format="json")
seconds = time.perf_counter() - start
rss = psutil.Process().memory_info().rss
key = "flag-05000"
flag = ruleset.to_data()["flags"][key]
flag["on"] = False
start = time.perf_counter()
for _ in range(20):
    changed = ruleset.with_flag(key, flag)
replace_ms = (time.perf_counter() - start) / 20 * 1000
assert changed.evaluate(key, {"key": "u"}).reason == "DISABLED"
print(json.dumps({"flags": len(ruleset), "seconds": seconds, "rss_mb": rss / 2**20,
                  "growth_mb": (rss - before) / 2**20, "replace_ms": replace_ms}))
"""


def measure_load(tmp: Path) -> dict[str, float]:
    """Load and compile 10,000 W2-like flags from JSON, in a fresh process."""
    path = tmp / "big-ruleset.json"
    path.write_text(json.dumps(workloads.big_document(10_000)), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    result["file_mb"] = path.stat().st_size / 2**20
    return result


def load_peer(name: str) -> Any:
    try:
        return importlib.import_module(f"peers.{name}")
    except ImportError as exc:
        print(f"  (skipping {name}: {exc})", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, or 'none'")
    args = parser.parse_args()
    contexts = workloads.contexts()

    rows: list[tuple[str, dict[str, float]]] = [("Vexil", measure(Vexil, contexts, args.rounds))]
    for name in [] if args.peers == "none" else args.peers.split(","):
        module = load_peer(name)
        if module is not None:
            print(f"  measuring {module.NAME} ...", file=sys.stderr)
            rows.append((module.NAME, measure(module.load, contexts, max(3, args.rounds // 2))))

    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    load = measure_load(tmp)
    base = dict_baseline(contexts, args.rounds)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"Baseline, a dict lookup plus a function call: {base:.3f} us\n")
    vexil = rows[0][1]
    print("| engine | W1 (us/eval) | W2 (us/eval) | W3 (us/100 flags) | W1 / W2 / W3 vs Vexil |")
    print("|---|---:|---:|---:|---|")
    for name, r in rows:
        ratio = " / ".join(f"{r[w] / vexil[w]:.1f}x" for w in ("W1", "W2", "W3"))
        print(f"| {name} | {r['W1']:.3f} | {r['W2']:.3f} | {r['W3']:.1f} | {ratio} |")
    print(
        f"\nLoad: {load['flags']:.0f} W2-like flags ({load['file_mb']:.1f} MB of JSON) parsed, "
        f"validated and compiled in {load['seconds']:.2f} s; process RSS {load['rss_mb']:.0f} MB "
        f"(+{load['growth_mb']:.0f} MB for the ruleset). "
        f"Replacing one flag: {load['replace_ms']:.3f} ms."
    )


if __name__ == "__main__":
    main()
