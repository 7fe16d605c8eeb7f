"""Answers of the API: declared by the services' types, sent as the services built them.

A route returns ``Answer[T]``: FastAPI takes ``T`` (a TypedDict) as the response
model, so the OpenAPI document describes the answer and each answer is checked
against that description (a mismatch is a bug, answered 500). The JSON sent is
still the value the service built, not a copy rebuilt from the model: its keys
keep their order (a segment's fields come in the order the database stores them)
and its values their types.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import ValidatorFunctionWrapHandler, WrapValidator

T = TypeVar("T")


def _as_built(value: Any, check: ValidatorFunctionWrapHandler) -> Any:
    check(value)
    return value


Answer = Annotated[T, WrapValidator(_as_built)]
