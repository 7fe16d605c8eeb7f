"""An OpenFeature provider that evaluates with Vexil, in this process: ``VexilProvider``.

::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from vexil.integrations.openfeature import VexilProvider

    api.set_provider_and_wait(VexilProvider("vx-srv-...", url="http://127.0.0.1:8800"))
    flags = api.get_client()
    flags.get_boolean_value("new-checkout", False, EvaluationContext("u-123", {"plan": "pro"}))

Every resolve is an in-memory evaluation by a Vexil ``Client``, never a request. The
evaluation context becomes a Vexil context: ``targeting_key`` is its ``key``, and the
other attributes are copied as they are. Resolutions carry the value, the variant,
the reason (Vexil's reasons are OpenFeature's; ``PREREQUISITE_FAILED`` is a
provider-specific reason), the error code and message, and as flag metadata the
flag's own ``metadata`` plus ``vexil.rule_id``, ``vexil.in_experiment``,
``vexil.prerequisite`` and ``vexil.revision`` when they are known.

**Who owns the client.** Given a ``Client``, the provider uses it and leaves it
open at ``shutdown``: the application may use it elsewhere. Given a key and options
instead, the provider creates its client and closes it at ``shutdown``.

**Events.** OpenFeature sends ``PROVIDER_READY`` when ``initialize`` returns, which
is when the client holds flags, and ``PROVIDER_ERROR`` when it raises: when no flags
came within ``init_timeout`` seconds (``PROVIDER_NOT_READY``; ``PROVIDER_READY``
follows once they arrive), or when the server refused the SDK key
(``PROVIDER_FATAL``). Afterwards, the provider sends ``PROVIDER_STALE`` while a
streaming client is disconnected and serves the flags it last received,
``PROVIDER_READY`` when it is current again, ``PROVIDER_ERROR`` if the key is
refused later, and ``PROVIDER_CONFIGURATION_CHANGED`` with ``flags_changed`` for
every flag whose evaluation may have changed.

While a test uses the pytest plugin's ``vexil_flags`` fixture, the provider evaluates
and tracks through that fixture's ``TestClient`` instead of its own client.

Needs the ``openfeature`` extra: ``pip install 'vexil[openfeature]'`` (``openfeature-sdk``
0.8 or later; ``track`` is called by the versions that have OpenFeature's tracking API).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from vexil.integrations._base import current_client, needs_extra

try:
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails
    from openfeature.flag_evaluation import Reason as OpenFeatureReason
    from openfeature.provider import AbstractProvider
    from openfeature.provider.metadata import Metadata
except ImportError as error:  # pragma: no cover - depends on the environment
    raise needs_extra("VexilProvider", "openfeature") from error

from vexil.flags import ErrorKind, EvaluationDetail, Reason
from vexil.sdk._client import Client
from vexil.sdk._errors import ConfigurationError
from vexil.sdk._state import FlagChange
from vexil.sdk._status import ClientStatus

if TYPE_CHECKING:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagValueType
    from openfeature.hook import Hook
    from openfeature.track import TrackingEventDetails

    from vexil.sdk._modes import Mode
    from vexil.sdk._stores import Store
    from vexil.sdk._transport import HttpOptions

__all__ = ["VexilProvider"]

log = logging.getLogger("vexil.sdk")

#: The provider's name in OpenFeature's metadata and events.
_PROVIDER_NAME: Final = "Vexil"

#: Prefix of the metadata Vexil adds to a flag's own (the same as on the OFREP endpoint).
_META_PREFIX: Final = "vexil."

#: Client statuses in which the flags held may lag behind the server: the stream is down.
_STALE_STATUSES: Final = frozenset({ClientStatus.INTERRUPTED, ClientStatus.FALLBACK})

# What the provider last told OpenFeature about the client.
_READY, _STALE, _FATAL, _NOT_READY = "ready", "stale", "fatal", "not-ready"

_FlagMetadata: TypeAlias = dict[str, bool | int | float | str]
_ObjectValue: TypeAlias = Sequence["FlagValueType"] | Mapping[str, "FlagValueType"]


def _reason(reason: Reason) -> str:
    """OpenFeature's reason of the same name, or the name itself (PREREQUISITE_FAILED)."""
    try:
        return OpenFeatureReason(reason.value)
    except ValueError:
        return reason.value


def _error_code(kind: ErrorKind) -> ErrorCode:
    try:
        return ErrorCode(kind.value)
    except ValueError:  # pragma: no cover - every ErrorKind is an OpenFeature code today
        return ErrorCode.GENERAL


_REASONS: Final = {reason: _reason(reason) for reason in Reason}
_ERROR_CODES: Final = {kind: _error_code(kind) for kind in ErrorKind}

# ------------------------------------------------------------------ types
# Each resolve checks what the flag served against what OpenFeature asked for, and
# converts it. The engine already refuses a default of another type than the flag's
# (TYPE_MISMATCH); these checks add what its single "number" type cannot tell apart.

_MISMATCH: Final = object()


def _as_bool(value: Any) -> Any:
    return value if value.__class__ is bool else _MISMATCH


def _as_str(value: Any) -> Any:
    return value if isinstance(value, str) else _MISMATCH


def _as_int(value: Any) -> Any:
    # A bool is an int to Python, not to OpenFeature; 10.0 stays a float, as in JSON.
    return value if isinstance(value, int) and value.__class__ is not bool else _MISMATCH


def _as_float(value: Any) -> Any:
    # OpenFeature's Python SDK wants a float: a number flag serving 10 gives 10.0.
    if isinstance(value, int | float) and value.__class__ is not bool:
        return float(value)
    return _MISMATCH


def _as_object(value: Any) -> Any:
    return value if isinstance(value, dict | list) else _MISMATCH


def _object_default(default: Any) -> Any:
    """The default as the engine's JSON types, so that it can check the flag's type."""
    if isinstance(default, dict | list) or default is None:
        return default
    if isinstance(default, Mapping):
        return dict(default)
    if isinstance(default, Sequence) and not isinstance(default, str | bytes):
        return list(default)
    return default


# ------------------------------------------------------ contexts and metadata


def _context_of(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """A Vexil context: the attributes, with ``targeting_key`` as ``key``.

    A copy: OpenFeature's context is never changed.
    """
    if evaluation_context is None:
        return {}
    context = dict(evaluation_context.attributes)
    if evaluation_context.targeting_key:
        context["key"] = evaluation_context.targeting_key
    return context


def _flag_metadata(client: Client, key: str) -> Mapping[str, bool | int | float | str]:
    # The SDK has no public accessor for a flag's definition, and this module is part
    # of the SDK's package: it reads the ruleset the client holds. A change applied
    # since the evaluation gives the newer metadata, which is harmless.
    try:
        flag = client._core.state.ruleset.flags.get(key)
    except Exception:  # pragma: no cover - a ruleset always has flags
        return {}
    return flag.metadata if flag is not None else {}


def _metadata(client: Client, key: str, detail: EvaluationDetail[Any]) -> _FlagMetadata:
    metadata: _FlagMetadata = dict(_flag_metadata(client, key))
    if detail.rule_id is not None:
        metadata[_META_PREFIX + "rule_id"] = detail.rule_id
    if detail.in_experiment:
        metadata[_META_PREFIX + "in_experiment"] = True
    if detail.prerequisite is not None:
        metadata[_META_PREFIX + "prerequisite"] = detail.prerequisite
    revision = client.revision
    if revision is not None:
        metadata[_META_PREFIX + "revision"] = revision
    return metadata


def _error_message(key: str, detail: EvaluationDetail[Any]) -> str | None:
    if detail.error is ErrorKind.FLAG_NOT_FOUND:
        return f"flag {key} not found"  # the wording OpenFeature's conformance scenarios use
    return detail.error_message


def _seconds(name: str, value: float, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be positive, not {value!r}")
    return float(value)


# --------------------------------------------------------------- provider


class VexilProvider(AbstractProvider):
    """An OpenFeature provider evaluating flags in this process with a Vexil ``Client``.

    Pass a ``Client`` (the provider never closes it), or the arguments of ``Client``
    (``sdk_key`` first, then ``url``, ``mode``, ``store``, ``send_events``,
    ``flush_interval``, ``events_capacity``, ``http``): the provider then creates
    the client at once, so a misconfiguration raises ``ConfigurationError`` here,
    and closes it at ``shutdown``.

    ``init_timeout`` is how long ``initialize`` waits for the client's flags;
    ``status_interval`` how often the provider looks at the client's status to send
    ``PROVIDER_READY``, ``PROVIDER_STALE`` and ``PROVIDER_ERROR`` events (on the
    ``vexil-openfeature`` thread, which runs from ``initialize`` to ``shutdown``).
    """

    def __init__(
        self,
        client: Client | str | None = None,
        *,
        url: str | None = None,
        mode: Mode | str | None = None,
        store: Store | None = None,
        send_events: bool | None = None,
        flush_interval: float | None = None,
        events_capacity: int | None = None,
        http: HttpOptions | None = None,
        init_timeout: float = 5.0,
        status_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.init_timeout = _seconds("init_timeout", init_timeout, allow_zero=True)
        self.status_interval = _seconds("status_interval", status_interval, allow_zero=False)
        options: dict[str, Any] = {
            name: value
            for name, value in (
                ("url", url),
                ("mode", mode),
                ("store", store),
                ("send_events", send_events),
                ("flush_interval", flush_interval),
                ("events_capacity", events_capacity),
                ("http", http),
            )
            if value is not None
        }
        self._factory: Callable[[], Client] | None
        if isinstance(client, Client):
            if options:
                raise ConfigurationError(
                    f"{next(iter(options))}: give the client's options to Client(...),"
                    " or a key and options to VexilProvider(...), not both"
                )
            self._client, self._factory = client, None
        elif client is None or isinstance(client, str):
            sdk_key = client

            def factory() -> Client:
                # The provider waits for the flags in initialize(), where OpenFeature
                # expects the wait, rather than in its constructor.
                return Client(sdk_key, init_timeout=0, **options)

            self._client, self._factory = factory(), factory
        else:
            raise ConfigurationError(
                f"client must be a vexil.Client or an SDK key, not {type(client).__name__}"
            )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._state = _NOT_READY
        self._shut = False

    @property
    def client(self) -> Client:
        """The provider's own Vexil client (not the ``vexil_flags`` fixture's)."""
        return self._client

    @property
    def owns_client(self) -> bool:
        """Whether ``shutdown`` closes the client: True when the provider created it."""
        return self._factory is not None

    def get_metadata(self) -> Metadata:
        return Metadata(name=_PROVIDER_NAME)

    def get_provider_hooks(self) -> list[Hook]:
        return []

    # ------------------------------------------------------------ lifecycle

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait up to ``init_timeout`` seconds for flags, then watch the client.

        Raises ``ProviderFatalError`` if the server refused the SDK key, and
        ``ProviderNotReadyError`` if no flags came in time (``PROVIDER_READY``
        follows when they do). The context is not used: Vexil evaluates each
        context as it comes.
        """
        with self._lock:
            if self._shut and self._factory is not None:
                self._client = self._factory()  # used again after shutdown
            self._shut = False
            self._stop.set()  # a watcher of an earlier initialize, if any
            self._stop = stop = threading.Event()
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._unsubscribe = self._client.on_change(self._changed)
        state = self._wait_for_flags(stop)
        # OpenFeature announces READY when this returns; the watcher reports STALE after.
        self._state = _READY if state == _STALE else state
        with self._lock:
            if stop.is_set():  # shut down meanwhile: not ready, and nothing to watch
                raise ProviderNotReadyError("the provider was shut down while it waited")
            self._watcher = threading.Thread(
                target=self._watch, args=(stop,), name="vexil-openfeature", daemon=True
            )
            self._watcher.start()
        if state == _FATAL:
            raise ProviderFatalError("the Vexil server refused the SDK key")
        if state == _NOT_READY:
            raise ProviderNotReadyError(
                f"no flags from Vexil within {self.init_timeout:g} s;"
                " PROVIDER_READY follows when they arrive"
            )

    def shutdown(self) -> None:
        """Stop watching the client, and close it if the provider created it."""
        with self._lock:
            if self._shut:
                return
            self._shut = True
            self._stop.set()
            watcher, self._watcher = self._watcher, None
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=2.0)
        if self._factory is not None:
            self._client.close()

    def _observe(self) -> str:
        client = current_client(self._client) or self._client
        status = client.status
        if status == ClientStatus.UNAUTHORIZED:
            return _FATAL
        if not client.is_initialized:
            return _NOT_READY
        return _STALE if status in _STALE_STATUSES else _READY

    def _wait_for_flags(self, stop: threading.Event) -> str:
        deadline = time.monotonic() + self.init_timeout
        while True:
            state = self._observe()
            remaining = deadline - time.monotonic()
            if state != _NOT_READY or stop.is_set() or remaining <= 0:
                return state
            # Short waits, so that a refused key or a shutdown ends the wait early.
            self._client.wait_until_ready(min(0.05, remaining))

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.status_interval):
            try:
                self._report(self._observe())
            except Exception:  # pragma: no cover - the watcher must outlive a bug
                log.exception("the OpenFeature provider failed to read the client's status")

    def _report(self, state: str) -> None:
        """Send the event for a change of the client's state since the last one."""
        if state == _NOT_READY or state == self._state:
            return  # no flags yet: initialize already said so
        self._state = state
        if state == _READY:
            self.emit_provider_ready(ProviderEventDetails(message="Vexil's flags are current"))
        elif state == _STALE:
            self.emit_provider_stale(
                ProviderEventDetails(
                    message="the Vexil client lost its connection and serves the last flags"
                )
            )
        else:
            self.emit_provider_error(
                ProviderEventDetails(
                    message="the Vexil server refused the SDK key",
                    error_code=ErrorCode.PROVIDER_FATAL,
                )
            )

    def _changed(self, change: FlagChange) -> None:
        details = ProviderEventDetails(flags_changed=[change.key])
        if change.revision is not None:
            details.metadata["revision"] = change.revision
        self.emit_provider_configuration_changed(details)

    # ------------------------------------------------------------- resolving

    def _resolve(
        self,
        key: str,
        default: Any,
        evaluation_context: EvaluationContext | None,
        convert: Callable[[Any], Any],
        type_name: str,
        engine_default: Any = None,
    ) -> FlagResolutionDetails[Any]:
        try:
            client = current_client(self._client) or self._client
            probe = default if engine_default is None else engine_default
            detail = client.variation_detail(key, _context_of(evaluation_context), probe)
            metadata = _metadata(client, key, detail)
            if detail.error is not None:
                return FlagResolutionDetails(
                    default,
                    error_code=_ERROR_CODES[detail.error],
                    error_message=_error_message(key, detail),
                    reason=OpenFeatureReason.ERROR,
                    flag_metadata=metadata,
                )
            if detail.value is None:  # nothing to serve, and no default to stand in
                return FlagResolutionDetails(
                    default, reason=_REASONS[detail.reason], flag_metadata=metadata
                )
            value = convert(detail.value)
            if value is _MISMATCH:
                return FlagResolutionDetails(
                    default,
                    error_code=ErrorCode.TYPE_MISMATCH,
                    error_message=f"flag {key!r} serves {detail.value!r}, not {type_name}",
                    reason=OpenFeatureReason.ERROR,
                    flag_metadata=metadata,
                )
            return FlagResolutionDetails(
                value,
                variant=detail.variant,
                reason=_REASONS[detail.reason],
                flag_metadata=metadata,
            )
        except Exception as exc:  # evaluation never raises into the application
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.GENERAL,
                error_message=f"evaluating {key!r} failed: {exc!r}",
                reason=OpenFeatureReason.ERROR,
            )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_bool, "a boolean")

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_str, "a string")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_int, "an integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_float, "a float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: _ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[_ObjectValue]:
        return self._resolve(
            flag_key,
            default_value,
            evaluation_context,
            _as_object,
            "an object or a list",
            _object_default(default_value),
        )

    # -------------------------------------------------------------- tracking

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """``client.track(name, context, value=details.value, data=details.attributes)``."""
        try:
            client = current_client(self._client) or self._client
            value, data = None, None
            if tracking_event_details is not None:
                value = tracking_event_details.value
                data = dict(tracking_event_details.attributes) or None
            context = _context_of(evaluation_context)
            client.track(tracking_event_name, context, value=value, data=data)
        except Exception:  # tracking never raises into the application
            log.exception("tracking %r through OpenFeature failed", tracking_event_name)

    def __repr__(self) -> str:
        owner = "owns" if self._factory is not None else "uses"
        return f"<VexilProvider {owner} {self._client!r}>"
