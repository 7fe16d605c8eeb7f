"""The public API is what the facades export, and nothing else by accident.

Three checks, after httpx's ``test_exported_members.py``: every public name a facade
holds is in its ``__all__`` (a name made public and forgotten fails), every ``__all__``
entry exists, and the exports match ``tests/data/public-api.txt`` (a name removed or
renamed by accident fails; a name added on purpose goes into that file too).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from typing import TypeVar

import pytest

import vexil

ROOT = Path(__file__).parent.parent
SNAPSHOT = Path(__file__).parent / "data" / "public-api.txt"

#: Modules that only gather what private modules define.
FACADES = ["vexil", "vexil.flags", "vexil.testing", "vexil.integrations"]
#: Modules of the integrations: they implement what they export, so a public name is one
#: they define themselves (an import from elsewhere is theirs to use, not to export).
INTEGRATIONS = [
    "vexil.integrations.django",
    "vexil.integrations.fastapi",
    "vexil.integrations.flask",
    "vexil.integrations.openfeature",
    "vexil.integrations.pytest_plugin",
    "vexil.integrations.redis",
]


def public(name: str, value: object) -> bool:
    """Whether a module-level name is API: loggers and type variables are plumbing."""
    plumbing = (types.ModuleType, logging.Logger, TypeVar)
    if name.startswith("_") or name == "annotations" or isinstance(value, plumbing):
        return False
    return not name.startswith("pytest_")  # hooks are pytest's to call


def defined_in(module: types.ModuleType) -> set[str]:
    """The names a module's own top-level statements bind, imports left out."""
    names: set[str] = set()
    statements = list(ast.parse(inspect.getsource(module)).body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.Try | ast.If):
            statements.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def exposed(module: types.ModuleType) -> set[str]:
    names = set(vars(module))
    if module.__name__ not in FACADES:
        names &= defined_in(module)
    return {name for name in names if public(name, getattr(module, name))}


@pytest.fixture(params=FACADES + INTEGRATIONS)
def module(request: pytest.FixtureRequest) -> types.ModuleType:
    return importlib.import_module(request.param)


def test_every_public_name_is_exported(module: types.ModuleType) -> None:
    forgotten = exposed(module) - set(module.__all__)
    assert not forgotten, f"public in {module.__name__} but not in __all__ (or make it _private)"


def test_every_exported_name_exists_and_comes_from_vexil(module: types.ModuleType) -> None:
    own = defined_in(module)  # a type alias defined here has the __module__ of its origin
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.{name} is exported but missing"
        origin = getattr(getattr(module, name), "__module__", module.__name__)
        assert origin.startswith("vexil") or name in own, f"{module.__name__}.{name}: {origin}"


def test_the_exports_are_the_snapshot() -> None:
    """A name that disappears breaks users' imports: only ever on purpose."""
    exported = {
        f"{name}.{member}"
        for name in FACADES + INTEGRATIONS
        for member in importlib.import_module(name).__all__
    }
    pinned = {line for line in SNAPSHOT.read_text().splitlines() if line and line[0] != "#"}
    assert sorted(pinned - exported) == [], "removed from the public API"
    assert sorted(exported - pinned) == [], f"new in the public API: add to {SNAPSHOT.name}"


def test_the_snapshot_holds_the_core_of_the_sdk() -> None:
    """Guards the snapshot test against a file emptied along with the facades."""
    pinned = set(SNAPSHOT.read_text().splitlines())
    assert {"vexil.Client", "vexil.VexilError", "vexil.flags.Ruleset"} <= pinned


#: Exceptions that never reach a user: each is caught inside Vexil and turned into
#: something else, so none needs to be a VexilError.
CONTROL_FLOW = {
    # a flagd flag refused by ``vexil flagd convert``: reported as a problem of the file
    "vexil.flags._flagd_convert._Refused",
    # a stream's event over the size limit, and a stream gone silent: the stream is dropped
    # and the flags fetched again
    "vexil.sdk._sse.EventTooLarge",
    "vexil.sdk._sse.StreamStalled",
    # a response body over the limit: logged, the flags held are kept
    "vexil.sdk._transport.BodyTooLarge",
    # an OFREP request body it refuses: answered with 400 and an OFREP error code
    "vexil.server._ofrep.RequestError",
    # a page that needs a session: answered with a redirect to the sign-in page
    "vexil.server.web._common.SignInRequired",
}


def vexil_modules() -> list[types.ModuleType]:
    """Every module of the package (the migrations run under Alembic, and __main__ runs)."""
    names = [info.name for info in pkgutil.walk_packages(vexil.__path__, "vexil.")]
    skipped = ("vexil.__main__", "vexil.server._migrations")
    return [importlib.import_module(n) for n in names if not n.startswith(skipped)]


def test_every_exception_a_user_can_get_is_a_vexil_error() -> None:
    found, outside = [], []
    for module in vexil_modules():
        for value in list(vars(module).values()):
            # type(value), not isinstance: Django's lazy settings would configure themselves.
            if not issubclass(type(value), type) or value.__module__ != module.__name__:
                continue
            if issubclass(value, BaseException):
                name = f"{module.__name__}.{value.__qualname__}"
                found.append(name)
                if name not in CONTROL_FLOW and not issubclass(value, vexil.VexilError):
                    outside.append(name)
    assert len(found) > len(CONTROL_FLOW) + 5, "the walk found too few exceptions"
    assert set(found) >= CONTROL_FLOW, "an allowed exception is gone: drop it from the list"
    assert outside == [], "raised to users, so a VexilError (vexil/_exceptions.py draws the tree)"


def test_the_version_is_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert vexil.__version__ == project["version"]


def test_the_sdk_imports_neither_the_server_nor_its_dependencies() -> None:
    """Dependencies point one way: the SDK's install stays light."""
    code = (
        "import sys, vexil, vexil.testing; "
        "heavy = [m for m in ('vexil.server', 'fastapi', 'sqlalchemy', 'starlette', 'redis')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reasons_and_error_kinds_use_openfeature_wire_names() -> None:
    assert {r.value for r in vexil.Reason} >= {
        "STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR",
    }  # fmt: skip
    assert {e.value for e in vexil.ErrorKind} == {
        "FLAG_NOT_FOUND", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "INVALID_CONTEXT",
        "PARSE_ERROR", "PROVIDER_NOT_READY", "GENERAL",
    }  # fmt: skip


def test_client_status_is_a_string_enum() -> None:
    """``client.status`` compared with, and formatted as, the strings it always was."""
    client = vexil.Client(mode="offline")
    try:
        assert isinstance(client.status, vexil.ClientStatus)
        assert client.status == "idle"
        assert f"{client.status}" == "idle"
        assert str(client.status) == "idle"  # as logging shows it
        assert {str(status) for status in vexil.ClientStatus} >= {"streaming", "polling-fallback"}
    finally:
        client.close()
