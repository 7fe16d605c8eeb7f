"""Adapters that run the benchmark's Vexil flag documents through other feature-flag SDKs.

Each module translates a Vexil document into one SDK's own flag format and evaluates
it locally, with no network, so that the same rules, values and rollout weights are
timed in every engine. Which users land in which slice of a rollout differs between
SDKs (each hashes its own way); everything else must agree.

Every module exposes the same small surface:

* ``NAME``: the SDK and its installed version, for reports.
* ``load(document) -> Peer``: builds a ready-to-use client from a Vexil document.
* ``Peer.prepare(context)``: turns a Vexil context into the SDK's own context object.
  The benchmark calls it before timing, because that conversion is not evaluation.
* ``Peer.evaluator(flag_key)``: the cheapest honest per-flag call a user would write.
* ``Peer.all_flags(prepared)``: the SDK's own "every flag for one context" API, or a
  loop over the per-flag calls when the SDK has none.
* ``Peer.close()``: stops the client and removes its temporary files.

An SDK that is not installed only fails when its module is imported, so the
benchmark can skip it and still compare the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Peer(Protocol):
    """What every adapter's ``load`` returns."""

    def prepare(self, context: dict[str, Any]) -> Any: ...

    def evaluator(self, flag_key: str) -> Callable[[Any], Any]: ...

    def all_flags(self, prepared_context: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...
