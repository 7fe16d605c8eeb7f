"""A flag's evaluations: per environment, per variant, over the last 24 hours and 7 days.

The numbers come from the summaries SDKs send (``evaluation_counts``: one row per flag,
variant and flush period of an SDK) and are added up by the database, one query per
flag page. The dashboard's flag page charts ``insights_for``'s dict, and
``/projects/{project}/flags/{key}/insights.json`` gives it as it is.

Buckets are UTC hours and UTC days. A summary row counts in the bucket holding its
``period_end``: SDKs flush every few seconds to a minute, far shorter than an hour, so
splitting a row across buckets would move almost nothing and would cost the simple
``GROUP BY`` on the index. Hours whose summaries end in the future (a fast clock) are
left out, as are the buckets' rows that end before the windows start.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, cast, func, select

from ._flags import flag_row
from ._projects import project_row
from ._store import Store
from ._tables import environments, evaluation_counts

HOUR, DAY = 3600, 86400
#: The name, in the insights, of evaluations that served the caller's default
#: (``variant: null`` in a summary). Variation keys cannot contain parentheses.
DEFAULT = "(default)"

#: (key, label, bucket name, bucket seconds, number of buckets)
PERIODS = (
    ("24h", "Last 24 hours", "hour", HOUR, 24),
    ("7d", "Last 7 days", "day", DAY, 7),
)


def insights_for(store: Store, project: str, key: str, *, now: float) -> dict[str, Any]:
    """A flag's evaluations per environment and variant, hourly (24 h) and daily (7 d).

    ``now`` (Unix seconds) is the moment the windows end in: the caller's clock, so
    that a test can say which hour it is. Raises ``NotFound`` for an unknown project
    or flag.
    """
    windows = {p[0]: _window(now, p[3], p[4]) for p in PERIODS}
    start = min(w[0] for w in windows.values())
    stop = windows["24h"][1]  # the end of this hour: later ends are a clock's error
    with store.read() as conn:
        prow = project_row(conn, project)
        variations = list(flag_row(conn, prow.id, key).variations or {})
        envs = conn.execute(
            select(
                environments.c.id,
                environments.c.key,
                environments.c.name,
                environments.c.production,
                _last_evaluated(key),
            )
            .where(environments.c.project_id == prow.id)
            .order_by(environments.c.id)
        ).all()
        hourly = _hourly(conn, [e.id for e in envs], key, start, stop)
    seen = {variant for by_env in hourly.values() for variant, _ in by_env}
    extra = sorted(v for v in seen if v not in variations and v != DEFAULT)
    variants = [*variations, *extra, *([DEFAULT] if DEFAULT in seen else [])]
    return {
        "project": project,
        "flag": key,
        "generated_at": _iso(now),
        "bucketed_by": "period_end",
        "variants": variants,
        "environments": [
            {
                "key": env.key,
                "name": env.name,
                "production": env.production,
                "last_evaluated": "never" if env.last is None else _iso(env.last),
                "periods": {
                    p[0]: _period(p, windows[p[0]], hourly.get(env.id, {}), variants)
                    for p in PERIODS
                },
            }
            for env in envs
        ],
    }


def _window(moment: float, width: int, count: int) -> tuple[float, float]:
    """``count`` buckets of ``width`` seconds, aligned on UTC, the last one holding now."""
    stop = (math.floor(moment / width) + 1) * width
    return float(stop - count * width), float(stop)


def _last_evaluated(key: str) -> Any:
    """Per environment row: the latest period_end, one descent of the index."""
    return (
        select(func.max(evaluation_counts.c.period_end))
        .where(
            evaluation_counts.c.environment_id == environments.c.id,
            evaluation_counts.c.flag_key == key,
        )
        .scalar_subquery()
        .label("last")
    )


def _hourly(
    conn: Connection, env_ids: list[int], key: str, start: float, stop: float
) -> dict[int, dict[tuple[str, int], int]]:
    """{environment id: {(variant, hour number since the epoch): evaluations}}.

    Aggregated by the database over the rows of the (environment_id, flag_key,
    period_end) index range; days are sums of hours (both are aligned on UTC).
    """
    if not env_ids:
        return {}
    ec = evaluation_counts
    if conn.dialect.name == "sqlite":
        # Truncation is the floor here: period_end >= start > 0.
        hour: Any = cast(ec.c.period_end / HOUR, Integer)
    else:
        hour = func.floor(ec.c.period_end / HOUR)
    hour = hour.label("hour")
    rows = conn.execute(
        select(ec.c.environment_id, ec.c.variant, hour, func.sum(ec.c.count))
        .where(
            ec.c.environment_id.in_(env_ids),
            ec.c.flag_key == key,
            ec.c.period_end >= start,
            ec.c.period_end < stop,
        )
        .group_by(ec.c.environment_id, ec.c.variant, hour)
    )
    out: dict[int, dict[tuple[str, int], int]] = {}
    for env_id, variant, number, count in rows:
        cell = (DEFAULT if variant is None else str(variant), int(number))
        by_env = out.setdefault(env_id, {})
        by_env[cell] = by_env.get(cell, 0) + int(count)
    return out


def _period(
    spec: tuple[str, str, str, int, int],
    window: tuple[float, float],
    hourly: dict[tuple[str, int], int],
    variants: list[str],
) -> dict[str, Any]:
    _, label, bucket, width, count = spec
    start, stop = window
    counts = [dict.fromkeys(variants, 0) for _ in range(count)]
    for (variant, number), n in hourly.items():
        at = number * HOUR
        if start <= at < stop:
            counts[int((at - start) // width)][variant] += n
    totals = {v: sum(c[v] for c in counts) for v in variants}
    return {
        "label": label,
        "bucket": bucket,
        "start": _iso(start),
        "end": _iso(stop),
        "buckets": [
            {"start": _iso(start + i * width), "counts": c, "total": sum(c.values())}
            for i, c in enumerate(counts)
        ],
        "totals": totals,
        "total": sum(totals.values()),
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
