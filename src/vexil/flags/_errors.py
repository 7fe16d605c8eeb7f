"""Errors raised while reading flag documents.

Exception tree (all of Vexil's is drawn in :mod:`vexil._exceptions`)::

    VexilError, ValueError
      └── ValidationError     a document (or one flag or segment) was rejected;
                              ``.problems`` lists every problem, each with its path

Evaluation never raises: it reports failures in ``EvaluationDetail.error``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vexil._exceptions import VexilError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document, at a path such as ``flags.x.rules[2].clauses[0].op``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationError(VexilError, ValueError):
    """A document was rejected as a whole; nothing of it was applied."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self._summary())

    def _summary(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the flag document"
        return head + ":\n" + "\n".join(f"  {p}" for p in self.problems)
