"""Table rows as the typed JSON the services answer (and the admin API sends).

Each answer is a ``TypedDict`` whose keys name columns (``from_row`` fills them, in
the declared order, times in ISO 8601), so that one declaration gives the service's
type, the API's schema and the JSON's key order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row as _Row

#: A row of a table (columns as attributes).
Row = _Row[Any]

T = TypeVar("T")


def from_row(shape: Callable[..., T], row: Row, **given: Any) -> T:
    """``shape`` (a TypedDict) of ``row``: each key its column or ``given``, times as text.

    Keys that are neither a column of the row nor given are left out, as
    ``NotRequired`` keys are.
    """
    columns = row._mapping
    values: dict[str, Any] = {}
    for name in vars(shape)["__annotations__"]:
        if name in given:
            values[name] = given[name]
        elif name in columns:
            value = columns[name]
            values[name] = value.isoformat() if isinstance(value, datetime) else value
    return shape(**values)
