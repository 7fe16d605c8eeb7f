"""OFREP's wire rules over the flag engine: reading a request, shaping an answer.

Kept apart from the routes so that everything the protocol decides (which body is
malformed, how a reason or an error is spelled, what a client key may see, what the
bulk ETag covers) sits in one place, free of HTTP plumbing. See ``docs/ofrep.md``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from vexil.flags import EvaluationDetail, Flag, Ruleset
from vexil.server._json import json_bytes, reject_constant

#: The error codes OFREP allows in a 400 answer; any other engine error is GENERAL.
FAILURE_CODES = frozenset({"PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"})

#: Prefix of the metadata Vexil adds to a flag's own, so that the two cannot collide.
META_PREFIX = "vexil."


class RequestError(Exception):
    """A request body OFREP answers with 400 and an error code."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details

    def body(self, key: str | None = None) -> dict[str, Any]:
        """``evaluationFailure`` for one flag, ``bulkEvaluationFailure`` without a key."""
        out: dict[str, Any] = {} if key is None else {"key": key}
        out.update(errorCode=self.code, errorDetails=self.details)
        return out


def read_context(body: bytes) -> dict[str, Any]:
    """The evaluation context a request body carries, as the client sent it.

    An empty body or one without ``context`` is an empty context: OpenFeature's
    providers leave ``context`` out when the application set none, and a flag
    that needs no context must still evaluate.
    """
    if not body.strip():
        return {}
    try:
        data = json.loads(body, parse_constant=reject_constant)
    except (ValueError, RecursionError):  # also UnicodeDecodeError, and absurd nesting
        raise RequestError("PARSE_ERROR", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("PARSE_ERROR", 'the body must be a JSON object: {"context": {...}}')
    if "context" not in data:
        return {}
    context = data["context"]
    if not isinstance(context, dict):
        raise RequestError("INVALID_CONTEXT", "context must be a JSON object")
    key = context.get("targetingKey")
    if key is not None and not isinstance(key, str):
        raise RequestError("INVALID_CONTEXT", "targetingKey must be a string")
    too_long = _long_string(context)
    if too_long is not None:
        raise RequestError(
            "INVALID_CONTEXT",
            f"{too_long}: a context's strings are limited to {MAX_CONTEXT_STRING:,} characters",
        )
    return context


#: The longest string an OFREP context may hold. Evaluation is linear in the text, but a
#: regular expression's slope grows with its pattern (``vexil.flags._regex``): bounding
#: the text a public client key can send bounds what one request can cost.
MAX_CONTEXT_STRING = 65_536


def _long_string(context: dict[str, Any]) -> str | None:
    """The path of the first string (value or key) over ``MAX_CONTEXT_STRING``; iterative."""
    stack: list[tuple[Any, str]] = [(context, "context")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_CONTEXT_STRING:
                return where
        elif isinstance(value, dict):
            for name, item in value.items():
                if len(name) > MAX_CONTEXT_STRING:
                    return where
                stack.append((item, f"{where}.{name}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return None


def engine_context(context: dict[str, Any]) -> dict[str, Any]:
    """Vexil's context for an OpenFeature one: ``targetingKey`` is the context ``key``.

    The other attributes, ``targetingKey`` included, stay as they are so that rules
    may name either.
    """
    key = context.get("targetingKey")
    return context if key is None else {**context, "key": key}


def bulk_etag(env_id: int, revision: int, kind: str, context: dict[str, Any]) -> str:
    """The ETag of a bulk answer: it changes with the ruleset, the key kind or the context.

    The answer is a function of exactly these, so a client polling with an unchanged
    context gets 304 until a change to the environment, without the server
    evaluating anything. The context is hashed in canonical JSON (sorted keys), so the
    order in which a client writes attributes does not matter.
    """
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a context may hold text that is not Unicode (see _json); hashed as is.
    digest = hashlib.sha256(
        f"{env_id}:{revision}:{kind}:{canonical}".encode("utf-8", "surrogatepass")
    )
    return f'"{digest.hexdigest()[:32]}"'


def etag_matches(etag: str, if_none_match: str | None) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak or strong, in a list)."""
    if not if_none_match:
        return False
    tags = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in tags


def visible(flag: Flag, kind: Literal["server", "client"]) -> bool:
    """Whether a key of ``kind`` may evaluate ``flag``: a client key, client-side ones only."""
    return kind == "server" or flag.client_side


def not_found(key: str) -> dict[str, Any]:
    """``flagNotFound``: the same for a missing flag and one a client key may not see,
    so that a public client key cannot probe which server-side flags exist."""
    return {"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": f"no flag {key!r}"}


def evaluate_one(
    ruleset: Ruleset, key: str, context: dict[str, Any], kind: Literal["server", "client"]
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of a single-flag evaluation."""
    flag = ruleset.flags.get(key)
    if flag is None or not visible(flag, kind):
        return 404, not_found(key)
    detail = ruleset.evaluate(key, engine_context(context))
    if detail.error is not None:
        return 400, failure(key, detail)
    return 200, success(key, flag, detail, ruleset, kind)


def evaluate_all(
    ruleset: Ruleset, context: dict[str, Any], kind: Literal["server", "client"]
) -> dict[str, Any]:
    """``bulkEvaluationSuccess``: every flag the key may see, in key order.

    A flag whose evaluation fails (a rollout without a targeting key) is an
    ``evaluationFailure`` item; the others still succeed.
    """
    ctx = engine_context(context)
    items: list[dict[str, Any]] = []
    flags = ruleset.flags
    for key in sorted(flags):
        flag = flags[key]
        if not visible(flag, kind):
            continue
        detail = ruleset.evaluate(key, ctx)
        items.append(
            failure(key, detail)
            if detail.error is not None
            else success(key, flag, detail, ruleset, kind)
        )
    return {"flags": items}


def success(
    key: str,
    flag: Flag,
    detail: EvaluationDetail[Any],
    ruleset: Ruleset,
    kind: Literal["server", "client"],
) -> dict[str, Any]:
    """``evaluationSuccess``. Without a value (off without an off variation, no default),
    ``value`` and ``variant`` are left out: OFREP's ``codeDefaultFlag``, which tells the
    provider to use the application's default, as Vexil's SDK does. Nothing in it names
    a flag the key of ``kind`` may not read."""
    out: dict[str, Any] = {"key": key, "reason": detail.reason.value}
    if detail.value is not None:
        out["value"] = detail.value
    if detail.variant is not None:
        out["variant"] = detail.variant
    out["metadata"] = metadata(flag, detail, ruleset, kind)
    return out


def metadata(
    flag: Flag, detail: EvaluationDetail[Any], ruleset: Ruleset, kind: Literal["server", "client"]
) -> dict[str, Any]:
    """The flag's metadata, plus what the engine knows of this evaluation.

    A client key may evaluate a client-side flag whose prerequisite is server-only;
    the answer then says that a prerequisite failed, never which one.
    """
    out: dict[str, Any] = dict(flag.metadata)
    if detail.rule_id is not None:
        out[META_PREFIX + "rule_id"] = detail.rule_id
    if detail.in_experiment:
        out[META_PREFIX + "in_experiment"] = True
    prerequisite = detail.prerequisite
    if prerequisite is not None:
        other = ruleset.flags.get(prerequisite)
        if other is not None and visible(other, kind):
            out[META_PREFIX + "prerequisite"] = prerequisite
    return out


def failure(key: str, detail: EvaluationDetail[Any]) -> dict[str, Any]:
    """``evaluationFailure`` for an evaluation the engine reported as failed."""
    code = detail.error.value if detail.error is not None else "GENERAL"
    details = detail.error_message or "the evaluation failed"
    if code == "TARGETING_KEY_MISSING":
        details += " (OFREP's targetingKey is the context's key)"
    return {
        "key": key,
        "errorCode": code if code in FAILURE_CODES else "GENERAL",
        "errorDetails": details,
    }


def to_json(payload: dict[str, Any]) -> bytes:
    """Compact JSON, written directly: FastAPI's encoder is needlessly slow for this."""
    return json_bytes(payload, separators=(",", ":"))
