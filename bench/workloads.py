"""The benchmark workloads W1, W2 and W3, as Vexil flag documents plus contexts.

Every SDK under comparison evaluates the *same* flags: the peer adapters in
``bench/peers/`` translate these documents into each SDK's own format, so the
rules, values and rollout weights cannot drift apart between engines.
"""

from __future__ import annotations

import random
from typing import Any

COUNTRIES = ["US", "CA", "GB", "DE", "FR", "MX", "BR", "JP", "IN", "AU"]
PLANS = ["free", "free", "free", "free", "pro", "pro", "enterprise"]
DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "acme.io",
    "proton.me",
    "vexil.dev",
    "example.org",
]
VERSIONS = ["2.9.1", "3.0.0", "3.1.4", "3.2.0", "3.4.1", "4.0.0-beta.1", "4.0.0"]


def w1_flag() -> dict[str, Any]:
    """A boolean flag that is on, with no targets and no rules."""
    return {
        "variations": {"on": True, "off": False},
        "on": True,
        "off_variation": "off",
        "default": "on",
    }


def w2_flag(n: int = 0) -> dict[str, Any]:
    """A string flag: 5 rules of 2 clauses each, then a 50/50 rollout by key.

    ``n`` varies the literals so that each W2-like flag of W3 has its own rules.
    """
    c = COUNTRIES
    return {
        "variations": {"control": "control", "treatment": "treatment", "special": "special"},
        "on": True,
        "off_variation": "control",
        "rules": [
            {
                "id": "latam-enterprise",
                "clauses": [
                    {
                        "attribute": "country",
                        "op": "in",
                        "values": [c[(n + 1) % 10], c[(n + 5) % 10], c[(n + 6) % 10]],
                    },
                    {"attribute": "plan", "op": "in", "values": ["enterprise"]},
                ],
                "serve": "special",
            },
            {
                "id": "staff-beta",
                "clauses": [
                    {"attribute": "email", "op": "ends_with", "values": ["@vexil.dev"]},
                    {"attribute": "beta", "op": "in", "values": [True]},
                ],
                "serve": "treatment",
            },
            {
                "id": "pro-recent-app",
                "clauses": [
                    {"attribute": "plan", "op": "in", "values": ["pro"]},
                    {
                        "attribute": "app_version",
                        "op": "semver_gte",
                        "values": [f"3.{2 + n % 3}.0"],
                    },
                ],
                "serve": "treatment",
            },
            {
                "id": "eu-beta",
                "clauses": [
                    {
                        "attribute": "country",
                        "op": "in",
                        "values": [c[(n + 3) % 10], c[(n + 4) % 10]],
                    },
                    {"attribute": "beta", "op": "in", "values": [True]},
                ],
                "serve": "special",
            },
            {
                "id": "example-free",
                "clauses": [
                    {"attribute": "email", "op": "ends_with", "values": ["@example.org"]},
                    {"attribute": "plan", "op": "in", "values": ["free"]},
                ],
                "serve": "control",
            },
        ],
        "default": {
            "rollout": [
                {"variation": "control", "weight": 50},
                {"variation": "treatment", "weight": 50},
            ]
        },
    }


def document(flags: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"version": 1, "flags": flags, "segments": {}}


def w1_document() -> dict[str, Any]:
    return document({"w1": w1_flag()})


def w2_document() -> dict[str, Any]:
    return document({"w2": w2_flag()})


def w3_document() -> dict[str, Any]:
    flags = {f"w1-{i:02d}": w1_flag() for i in range(50)}
    flags.update({f"w2-{i:02d}": w2_flag(i) for i in range(50)})
    return document(flags)


def big_document(count: int = 10_000) -> dict[str, Any]:
    """``count`` W2-like flags, for the load-and-compile benchmark."""
    return document({f"flag-{i:05d}": w2_flag(i) for i in range(count)})


def contexts(count: int = 10_000, seed: int = 2026) -> list[dict[str, Any]]:
    """``count`` distinct contexts; about 30% of them match one of W2's rules."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        out.append(
            {
                "key": f"user-{i:06d}",
                "country": rng.choice(COUNTRIES),
                "plan": rng.choice(PLANS),
                "email": f"person{i}@{rng.choice(DOMAINS)}",
                "app_version": rng.choice(VERSIONS),
                "beta": rng.random() < 0.15,
            }
        )
    return out
