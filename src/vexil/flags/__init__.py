"""The flag engine: documents in, compiled rulesets out, evaluations never raising.

Pure: no I/O beyond reading a file you name, no threads, no clock, no logging.
The SDK, the server and the CLI all evaluate through this one engine.
"""

from ._bucketing import bucket
from ._detail import ErrorKind, EvaluationDetail, Reason
from ._errors import Problem, ValidationError
from ._explain import Explanation, Step
from ._loader import read_data as read_document
from ._model import (
    Clause,
    Document,
    Flag,
    Operator,
    Prerequisite,
    Rollout,
    Rule,
    Segment,
    SegmentRule,
    Slice,
    VariationType,
)
from ._parse import parse_document, parse_flag, parse_segment
from ._ruleset import Ruleset
from ._schema import json_schema

__all__ = [
    "Clause",
    "Document",
    "ErrorKind",
    "EvaluationDetail",
    "Explanation",
    "Flag",
    "Operator",
    "Prerequisite",
    "Problem",
    "Reason",
    "Rollout",
    "Rule",
    "Ruleset",
    "Segment",
    "SegmentRule",
    "Slice",
    "Step",
    "ValidationError",
    "VariationType",
    "bucket",
    "json_schema",
    "parse_document",
    "parse_flag",
    "parse_segment",
    "read_document",
]
