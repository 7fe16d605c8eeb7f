"""Shared fixtures for the flag engine tests: one rich document exercising most features."""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from _services import not_stalled as services_not_stalled
from vexil.flags import Ruleset

#: Segments included/excluded/rules, a segment of segments, targets, rules over many
#: operators (negated, dotted, list-valued), prerequisite chains, off flags, rollouts
#: in rules and defaults (seeded, experiment, custom bucket_by), and every variation type.
RICH_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "segments": {
        "staff": {
            "name": "Staff",
            "description": "Company addresses, plus a contractor.",
            "included": ["u-contractor"],
            "excluded": ["u-former"],
            "rules": [
                {
                    "id": "company-email",
                    "clauses": [{"attribute": "email", "op": "ends_with", "values": "@vexil.dev"}],
                }
            ],
        },
        "beta-testers": {
            "included": ["u-1", "u-2"],
            "rules": [{"clauses": [{"attribute": "beta", "op": "in", "values": [True]}]}],
        },
        "insiders": {
            "description": "Paying staff or beta testers.",
            "rules": [
                {
                    "clauses": [
                        {"op": "segment", "values": ["staff", "beta-testers"]},
                        {"attribute": "plan", "op": "in", "values": ["pro", "enterprise"]},
                    ]
                }
            ],
        },
        "europe": {
            "excluded": ["u-3"],
            "rules": [
                {"clauses": [{"attribute": "country", "op": "in", "values": ["DE", "FR", "NL"]}]},
                {
                    "id": "by-address",
                    "clauses": [
                        {"attribute": "address.country", "op": "in", "values": ["DE", "FR", "NL"]}
                    ],
                },
            ],
        },
    },
    "flags": {
        "kill-switch": {
            "temporary": False,
            "variations": {"on": True, "off": False},
            "on": False,
            "off_variation": "off",
            "default": "on",
        },
        "static-banner": {"variations": {"a": "A", "b": "B"}, "default": "a"},
        "legacy-off": {"variations": {"x": 1, "y": 2}, "on": False, "default": "x"},
        "new-checkout": {
            "name": "New checkout",
            "description": "Staff first, then Canadian pro customers, then 5% of everyone.",
            "tags": ["checkout", "web"],
            "metadata": {"owner": "payments", "jira": 1234, "reviewed": True, "ratio": 0.5},
            "variations": {"on": True, "off": False},
            "off_variation": "off",
            "targets": {"off": ["u-666"], "on": ["u-1"]},
            "rules": [
                {"id": "staff", "clauses": [{"op": "segment", "values": ["staff"]}], "serve": "on"},
                {
                    "id": "canada-pro",
                    "description": "Pro customers in Canada",
                    "clauses": [
                        {"attribute": "address.country", "op": "in", "values": ["CA"]},
                        {"attribute": "plan", "op": "in", "values": ["pro", "enterprise"]},
                    ],
                    "serve": {"variation": "on"},
                },
                {
                    "clauses": [
                        {"attribute": "app_version", "op": "semver_gte", "values": ["4.2.0"]},
                        {"attribute": "country", "op": "in", "values": ["US"], "negate": True},
                    ],
                    "serve": {
                        "rollout": [
                            {"variation": "on", "weight": 50},
                            {"variation": "off", "weight": 50},
                        ]
                    },
                },
            ],
            "default": {
                "rollout": [{"variation": "on", "weight": 5}, {"variation": "off", "weight": 95}]
            },
        },
        "checkout-color": {
            "variations": {"control": "#1f6feb", "green": "#2da44e", "orange": "#fb8500"},
            "off_variation": "control",
            "prerequisites": [{"flag": "new-checkout", "variation": "on"}],
            "default": {
                "rollout": [
                    {"variation": "control", "weight": 10.001},
                    {"variation": "green", "weight": 79.998},
                    {"variation": "orange", "weight": 10.001},
                ],
                "experiment": True,
                "seed": "color-2026",
            },
        },
        "page-size": {
            "temporary": False,
            "type": "number",
            "variations": {"small": 10, "default": 20, "large": 50, "huge": 99.5},
            "off_variation": "default",
            "rules": [
                {
                    "id": "old-apps",
                    "clauses": [
                        {"attribute": "app_version", "op": "semver_lt", "values": ["4.0.0"]},
                        {"attribute": "app_version", "op": "semver_gt", "values": ["1.0.0-rc.1"]},
                    ],
                    "serve": "small",
                },
                {
                    "id": "adults",
                    "clauses": [
                        {"attribute": "age", "op": "gte", "values": [18]},
                        {"attribute": "age", "op": "lt", "values": [65.5]},
                        {"attribute": "email", "op": "matches", "values": [r"^[a-z]+@"]},
                    ],
                    "serve": "large",
                },
                {
                    "id": "anonymous",
                    "clauses": [{"attribute": "email", "op": "exists", "negate": True}],
                    "serve": "huge",
                },
                {
                    "id": "seniors",
                    "clauses": [
                        {"attribute": "age", "op": "gt", "values": [64]},
                        {"attribute": "age", "op": "lte", "values": [120]},
                        {"attribute": "app_version", "op": "semver_lte", "values": ["v5"]},
                        {"attribute": "app_version", "op": "semver_eq", "values": ["4.2"]},
                    ],
                    "serve": "small",
                },
            ],
            "default": "default",
        },
        "pricing-banner": {
            "client_side": True,
            "variations": {
                "none": {},
                "winter-sale": {"title": "Winter sale", "discount": 20, "tiers": [1, 2]},
                "vip": [{"title": "VIP"}],
            },
            "off_variation": "none",
            "rules": [
                {
                    "id": "sale-window",
                    "clauses": [
                        {"attribute": "now", "op": "after", "values": ["2026-12-01T00:00:00Z"]},
                        {"attribute": "now", "op": "before", "values": [1799193600]},
                    ],
                    "serve": "winter-sale",
                },
                {
                    "id": "vip-mail",
                    "clauses": [
                        {"attribute": "email", "op": "contains", "values": ["vip", "boss"]},
                        {"attribute": "email", "op": "starts_with", "values": ["a", "b"]},
                    ],
                    "serve": "vip",
                },
            ],
            "default": "none",
        },
        "europe-beta": {
            "variations": {"yes": "enabled", "no": "disabled"},
            "prerequisites": [
                {"flag": "checkout-color", "variation": "green"},
                {"flag": "static-banner", "variation": "a"},
            ],
            "off_variation": "no",
            "rules": [
                {
                    "id": "europe-insiders",
                    "clauses": [
                        {"op": "segment", "values": ["europe"]},
                        {"attribute": "key", "op": "segment", "values": ["insiders"]},
                    ],
                    "serve": "yes",
                },
                {
                    "id": "not-europe",
                    "clauses": [{"op": "segment", "values": ["europe"], "negate": True}],
                    "serve": {
                        "rollout": [
                            {"variation": "yes", "weight": 10},
                            {"variation": "no", "weight": 90},
                        ],
                        "bucket_by": "org.id",
                        "seed": 42,
                    },
                },
            ],
            "default": "no",
        },
        "gated": {
            "variations": {"on": True, "off": False},
            "prerequisites": [{"flag": "kill-switch", "variation": "off"}],
            "off_variation": "off",
            "default": "on",
        },
        "no-default": {
            "variations": {"a": "A", "b": "B"},
            "rules": [{"clauses": [{"attribute": "email", "op": "exists"}], "serve": "a"}],
        },
    },
}


@pytest.fixture(scope="session")
def rich_ruleset() -> Ruleset:
    """The rich document, compiled (rulesets are immutable, so one is shared)."""
    return Ruleset.from_data(RICH_DOCUMENT)


@pytest.fixture
def rich_data() -> dict[str, Any]:
    """A private copy of the rich document, free to change."""
    return copy.deepcopy(RICH_DOCUMENT)


@pytest.fixture
def not_stalled() -> Callable[[float], AbstractContextManager[None]]:
    """``with not_stalled(2.0): ...`` fails the block once it has run for 2 seconds.

    A generous bound that tells "linear" from "stalled", not a speed figure (see
    ``_services.not_stalled``).
    """
    return services_not_stalled
