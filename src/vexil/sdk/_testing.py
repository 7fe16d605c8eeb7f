"""``TestClient``: a ``Client`` for your tests, with no network and no threads.

::

    client = Client.for_testing({"new-checkout": True})
    assert checkout_page(client) == "new"
    client.set("new-checkout", False)               # values, or whole flags with rules
    assert [e.key for e in client.evaluations] == ["new-checkout"]

It evaluates with the real engine, so rules, rollouts and segments behave exactly
as in production; it records every evaluation, ``track`` and ``identify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vexil.flags import EvaluationDetail, Ruleset
from vexil.sdk._client import DEFAULT_URL, Client
from vexil.sdk._core import Core, CoreConfig
from vexil.sdk._errors import ConfigurationError
from vexil.sdk._modes import Offline


@dataclass(frozen=True)
class Evaluation:
    """One evaluation a ``TestClient`` saw."""

    key: str
    context: Mapping[str, Any]
    detail: EvaluationDetail[Any]

    @property
    def value(self) -> Any:
        return self.detail.value


@dataclass(frozen=True)
class Tracked:
    """One ``track`` or ``identify`` call a ``TestClient`` saw (``name`` is None for identify)."""

    name: str | None
    context: Mapping[str, Any]
    value: float | None = None
    data: Any = field(default=None)


class _RecordingCore(Core):
    def __init__(self) -> None:
        super().__init__(CoreConfig(sdk_key=None, url=DEFAULT_URL, mode=Offline()), inline=True)
        self.trace = True
        self.evaluations: list[Evaluation] = []

    def record(self, key: str, context: Any, detail: EvaluationDetail[Any]) -> None:
        copied = dict(context) if isinstance(context, Mapping) else context
        self.evaluations.append(Evaluation(key, copied, detail))


class TestClient(Client):
    """A client whose flags you set at run time, and which records what it was asked."""

    __slots__ = ("tracked",)
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, flags: Mapping[str, Any] | None = None) -> None:
        core = _RecordingCore()
        self._attach(core, shared=False)
        core.refs = 1
        core.start()
        self.tracked: list[Tracked] = []
        core.state.replace(Ruleset(), None)
        for key, value in (flags or {}).items():
            self.set(key, value)

    # -------------------------------------------------------------- setting

    def set(self, key: str, value: Any) -> None:
        """Serve ``value`` (a bool, string, number, or JSON object or array) to everyone."""
        self.set_flag(key, flag_for_value(key, value))

    def set_flag(self, key: str, definition: Mapping[str, Any]) -> None:
        """Add or replace a whole flag, in the flag document's form (rules, rollouts...)."""
        state = self._core.state
        state.replace(state.ruleset.with_flag(key, dict(definition)), None)

    def set_segment(self, key: str, definition: Mapping[str, Any]) -> None:
        state = self._core.state
        state.replace(state.ruleset.with_segment(key, dict(definition)), None)

    def remove(self, key: str) -> None:
        """Remove flag ``key``: evaluations of it then get FLAG_NOT_FOUND and the default."""
        state = self._core.state
        state.replace(state.ruleset.without_flag(key), None)

    def load(self, document: Any) -> None:
        """Replace every flag and segment with a whole flag document."""
        self._core.state.replace(Ruleset.from_data(document), None)

    # ------------------------------------------------------------ recording

    @property
    def evaluations(self) -> list[Evaluation]:
        """Every evaluation so far, in order (``all_flags`` and ``explain`` are not counted)."""
        core = self._core
        assert isinstance(core, _RecordingCore)
        return core.evaluations

    def evaluated(self, key: str) -> list[Evaluation]:
        """The evaluations of flag ``key``."""
        return [e for e in self.evaluations if e.key == key]

    def track(
        self, name: str, context: Mapping[str, Any], *, value: float | None = None, data: Any = None
    ) -> None:
        self.tracked.append(Tracked(name, dict(context), value, data))

    def identify(self, context: Mapping[str, Any]) -> None:
        self.tracked.append(Tracked(None, dict(context)))

    def clear(self) -> None:
        """Forget the evaluations and events recorded so far."""
        self.evaluations.clear()
        self.tracked.clear()


def flag_for_value(key: str, value: Any) -> dict[str, Any]:
    """The flag document that serves ``value`` to everyone."""
    if isinstance(value, bool):
        return {
            "type": "boolean",
            "variations": {"on": True, "off": False},
            "default": "on" if value else "off",
        }
    if isinstance(value, str):
        kind = "string"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, dict | list):
        kind = "json"
    else:
        raise ConfigurationError(
            f"{key}: a test flag's value must be a bool, string, number, dict or list,"
            f" not {type(value).__name__}"
        )
    return {"type": kind, "variations": {"value": value}, "default": "value"}
