"""docs/api.md keeps up with the admin API: these fail when something is undocumented."""

from __future__ import annotations

from pathlib import Path

import pytest

from vexil.server import _errors
from vexil.server._app import HTTP_CODES, create_app
from vexil.server._settings import Settings

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def admin_operations() -> list[str]:
    schema = create_app(Settings()).openapi()
    return [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    ]


@pytest.mark.parametrize("operation", admin_operations())
def test_every_admin_endpoint_is_in_the_table(operation: str) -> None:
    assert f"| `{operation}` |" in DOC


def error_codes() -> set[str]:
    api_errors = {
        cls.code
        for cls in vars(_errors).values()
        if isinstance(cls, type) and issubclass(cls, _errors.ApiError)
    }
    return api_errors | set(HTTP_CODES.values())


@pytest.mark.parametrize("code", sorted(error_codes()))
def test_every_error_code_is_documented(code: str) -> None:
    assert f"`{code}`" in DOC


def test_the_live_documentation_is_pointed_to() -> None:
    assert "/api/docs" in DOC
    assert "/api/openapi.json" in DOC
