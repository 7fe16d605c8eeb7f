"""``Client``: evaluate flags locally, kept in sync with a Vexil server.

::

    client = Client("vx-srv-...", url="http://127.0.0.1:8800")
    if client.variation("new-checkout", {"key": "u-123", "plan": "pro"}, False):
        ...

Evaluation reads an immutable ruleset and counts the result: no lock, no I/O, no
exception into the caller. Everything that talks to the network runs on the core's
background threads. Every other method first makes sure those threads run in this
process (``Core.here``: a fork that ran no hook left them behind); evaluations do
not, a ``getpid`` costing as much as a simple evaluation.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from vexil.flags import ErrorKind, EvaluationDetail, Explanation
from vexil.flags._detail import error_detail
from vexil.sdk._core import Core, CoreConfig, acquire, release
from vexil.sdk._errors import ConfigurationError
from vexil.sdk._modes import Daemon, Mode, Offline, parse_mode
from vexil.sdk._state import FlagChange
from vexil.sdk._status import ClientStatus
from vexil.sdk._stores import Store
from vexil.sdk._transport import HttpOptions

if TYPE_CHECKING:
    from vexil.sdk._testing import TestClient

log = logging.getLogger("vexil.sdk")

DEFAULT_URL = "http://127.0.0.1:8800"


class Client:
    """A handle on flags evaluated in this process. See ``docs/sdk.md``."""

    __slots__ = ("_closed", "_core", "_counters", "_shared", "_state")

    def __init__(
        self,
        sdk_key: str | None = None,
        *,
        url: str | None = None,
        mode: Mode | str = "streaming",
        init_timeout: float = 5.0,
        store: Store | None = None,
        send_events: bool = True,
        flush_interval: float = 10.0,
        events_capacity: int = 10_000,
        http: HttpOptions | None = None,
    ) -> None:
        parsed = parse_mode(mode)
        config = CoreConfig(
            sdk_key=_check_key(sdk_key or os.environ.get("VEXIL_SDK_KEY"), parsed),
            url=_check_url(url or os.environ.get("VEXIL_URL") or DEFAULT_URL),
            mode=parsed,
            store=_check_store(store, parsed),
            send_events=bool(send_events),
            flush_interval=_seconds("flush_interval", flush_interval),
            events_capacity=_capacity(events_capacity),
            http=http if http is not None else HttpOptions(),
        )
        _seconds("init_timeout", init_timeout, allow_zero=True)
        if config.sdk_key is None:
            core, fresh = Core(config), True
            core.refs = 1
        else:
            core, fresh = acquire(config)
        self._attach(core, shared=config.sdk_key is not None)
        if fresh:
            core.start()
        core.here().wait_for_start(init_timeout)

    def _attach(self, core: Core, *, shared: bool) -> None:
        # The state and the counts table stay the same objects for the core's life
        # (a fork included), so evaluations can read them without going through it.
        self._core, self._state, self._counters = core, core.state, core.counters.table
        self._shared, self._closed = shared, False

    @classmethod
    def _from_core(cls, core: Core) -> Self:
        client = cls.__new__(cls)
        client._attach(core, shared=False)
        core.refs = 1
        core.start()
        return client

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, watch: bool = False, watch_interval: float = 1.0
    ) -> Client:
        """Flags from a flag document on disk, with no server; ``watch`` reloads on change.

        A file that does not load raises ``ConfigurationError``; later edits that do
        not load are logged and the last good flags stay.
        """
        file = Path(path)
        if not file.is_file():
            raise ConfigurationError(f"path: no flag file at {str(file)!r}")
        config = CoreConfig(
            sdk_key=None,
            url=DEFAULT_URL,
            mode=Offline(),
            file=file,
            watch=watch,
            watch_interval=_seconds("watch_interval", watch_interval),
        )
        client = cls._from_core(Core(config))
        if not client.is_initialized:
            client.close()
            raise ConfigurationError(f"path: {str(file)!r} is not a valid flag document (see log)")
        return client

    @classmethod
    def for_testing(cls, flags: Mapping[str, Any] | None = None) -> TestClient:
        """A client for tests: no network, no threads; see ``vexil.testing.TestClient``."""
        from vexil.sdk._testing import TestClient

        return TestClient(flags)

    # ------------------------------------------------------------ evaluating

    def variation(
        self, key: str, context: Mapping[str, Any], default: Any = None, *, track: bool = True
    ) -> Any:
        """The value of flag ``key`` for ``context``; ``default`` on any error. Never raises."""
        # The body of variation_detail, repeated rather than called, and the common case
        # of Ruleset.evaluate inlined: on the hot path a Python call costs a third of a
        # simple flag's evaluation. Anything unusual goes through Ruleset.evaluate.
        core = self._core
        try:
            ruleset = self._state.ruleset
            compiled = ruleset.compiled_flags.get(key)
            if (
                compiled is None
                or context.__class__ is not dict
                or (default is not None and not compiled.accepts(default))
            ):
                detail = ruleset.evaluate(key, context, default)
            else:
                try:
                    detail = compiled.evaluate(context, ruleset)
                except Exception:  # the engine turns it into an error detail
                    detail = ruleset.evaluate(key, context, default)
                if detail.value is None and default is not None:
                    detail = replace(detail, value=default)
            if track:
                try:
                    next(self._counters[key][detail.variant])
                except KeyError:
                    next(core.counters.new(key, detail.variant))
            if core.trace:
                core.record(key, context, detail)
            return detail.value
        except Exception:  # an unhashable key, say: the engine's own checks come later
            return default

    def variation_detail(
        self, key: str, context: Mapping[str, Any], default: Any = None, *, track: bool = True
    ) -> EvaluationDetail[Any]:
        """The value with its variant, reason, rule and error. Never raises."""
        core = self._core
        try:
            detail = self._state.ruleset.evaluate(key, context, default)
            if track:
                try:
                    next(self._counters[key][detail.variant])
                except KeyError:
                    next(core.counters.new(key, detail.variant))
            if core.trace:
                core.record(key, context, detail)
            return detail
        except Exception as exc:  # as above
            return error_detail(ErrorKind.GENERAL, f"evaluating {key!r} failed: {exc!r}", default)

    if TYPE_CHECKING:

        def bool_variation(
            self, key: str, context: Mapping[str, Any], default: bool, *, track: bool = True
        ) -> bool:
            """A boolean flag's value; a flag of another type gives ``default`` (TYPE_MISMATCH)."""

        def string_variation(
            self, key: str, context: Mapping[str, Any], default: str, *, track: bool = True
        ) -> str: ...

        def number_variation(
            self, key: str, context: Mapping[str, Any], default: float, *, track: bool = True
        ) -> float: ...

        def json_variation(
            self,
            key: str,
            context: Mapping[str, Any],
            default: dict[str, Any] | list[Any],
            *,
            track: bool = True,
        ) -> Any: ...

    else:
        # The engine refuses a default of another type than the flag's (TYPE_MISMATCH),
        # so the typed forms are ``variation`` itself, at no extra cost; their
        # signatures tell type checkers what comes back.
        bool_variation = string_variation = number_variation = json_variation = variation

    def all_flags(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Every flag's value for ``context`` (not counted in the summaries)."""
        try:
            details = self._core.here().state.ruleset.evaluate_all(context)
        except Exception:  # pragma: no cover
            return {}
        return {key: detail.value for key, detail in details.items()}

    def all_flags_state(
        self, context: Mapping[str, Any], *, client_side_only: bool = False
    ) -> dict[str, Any]:
        """Every flag's detail as JSON, for example to bootstrap a browser application.

        ``{"flags": {key: {"value": ..., "variant": ..., "reason": ...}}, "revision": 42,
        "ready": true}``; ``client_side_only`` keeps the flags marked ``client_side``.
        """
        state = self._core.here().state
        ruleset = state.ruleset
        try:
            details = ruleset.evaluate_all(context)
        except Exception:  # pragma: no cover
            details = {}
        flags = ruleset.document.flags
        return {
            "flags": {
                key: detail.to_dict()
                for key, detail in details.items()
                if not client_side_only or flags[key].client_side
            },
            "revision": state.revision,
            "ready": state.is_ready,
        }

    def explain(self, key: str, context: Mapping[str, Any]) -> Explanation:
        """Every check made to evaluate ``key`` for ``context`` (for debugging; not counted)."""
        try:
            return self._core.here().state.ruleset.explain(key, context)
        except Exception as exc:  # an unhashable key, say: explain as an error
            return Explanation(str(key), error_detail(ErrorKind.GENERAL, repr(exc)))

    # ---------------------------------------------------------------- events

    def track(
        self,
        name: str,
        context: Mapping[str, Any],
        *,
        value: float | None = None,
        data: Any = None,
    ) -> None:
        """Record that ``context`` did ``name`` (with a metric ``value`` for experiments)."""
        events = self._core.here().events
        if events is not None and not self._closed:
            try:
                events.track(name, context, value, data)
            except Exception:  # pragma: no cover
                log.exception("track failed")

    def identify(self, context: Mapping[str, Any]) -> None:
        """Record a context, so that the dashboard knows of it."""
        events = self._core.here().events
        if events is not None and not self._closed:
            try:
                events.identify(context)
            except Exception:  # pragma: no cover
                log.exception("identify failed")

    def flush(self) -> None:
        """Send the events gathered so far, now (waits for the request)."""
        events = self._core.here().events
        if events is not None and not self._closed:
            events.flush()

    # ----------------------------------------------------------- the flags held

    @property
    def is_initialized(self) -> bool:
        """True once the client holds flags (from the server, a store or a file)."""
        return self._core.here().state.is_ready

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait until the client holds flags; False if ``timeout`` passed first."""
        return self._core.here().state.ready.wait(timeout)

    async def wait_until_ready_async(self, timeout: float | None = None) -> bool:
        """``wait_until_ready`` for asyncio code: waits without blocking the event loop."""
        return await asyncio.to_thread(self.wait_until_ready, timeout)

    @property
    def status(self) -> ClientStatus:
        """What the data source is doing: a ``ClientStatus``, a ``str`` such as "streaming"."""
        return self._core.here().source.status

    @property
    def revision(self) -> int | None:
        """The server's revision of the flags held, when known."""
        return self._core.here().state.revision

    def refresh(self) -> bool:
        """Fetch the flags now (any mode; the way to update in ``Manual`` mode).

        Waits for the request; True if the flags are current afterwards.
        """
        try:
            return self._core.here().source.refresh()
        except Exception:  # pragma: no cover
            log.exception("refresh failed")
            return False

    def on_change(
        self, callback: Callable[[FlagChange], Any], flag_key: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(FlagChange)`` when a flag (``flag_key``, or any) may evaluate anew.

        Callbacks run on a background thread, one at a time. Returns a function that
        removes the callback.
        """
        entry = (callback, flag_key)
        listeners = self._core.here().listeners
        listeners.append(entry)

        def remove() -> None:
            if entry in listeners:
                listeners.remove(entry)

        return remove

    def secure_mode_hash(self, context: Mapping[str, Any]) -> str:
        """HMAC-SHA256 of the context's key, for client-side secure mode.

        Keyed with the SHA-256 (hex) of the server SDK key: the server stores keys
        only as that digest, and checks the hash with it (``X-Vexil-Secure-Hash``).
        """
        if not isinstance(context, Mapping) or context.get("key") in (None, ""):
            raise TypeError("secure_mode_hash needs a context mapping with a key")
        secret = hashlib.sha256((self._core.config.sdk_key or "").encode()).hexdigest()
        message = str(context["key"]).encode()
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    # --------------------------------------------------------------- closing

    def close(self, timeout: float = 2.0) -> None:
        """Send the last events and stop; safe to call twice, bounded by ``timeout``."""
        if self._closed:
            return
        self._closed = True
        if self._shared:
            release(self._core, timeout)
        else:
            self._core.close(timeout)

    async def aclose(self, timeout: float = 2.0) -> None:
        await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        config = self._core.config
        where = config.file or (config.url if config.sdk_key else "offline")
        return f"<Client {type(config.mode).__name__.lower()} {where} {self.status}>"


# ------------------------------------------------------------- validation


def _check_key(key: str | None, mode: Mode) -> str | None:
    if key is None or key == "":
        if isinstance(mode, Offline):
            return None
        raise ConfigurationError(
            "sdk_key: a server SDK key (vx-srv-...) is needed; pass it or set VEXIL_SDK_KEY"
        )
    if not isinstance(key, str):
        raise ConfigurationError(f"sdk_key must be a string, not {type(key).__name__}")
    if key.startswith("vx-cli-"):
        raise ConfigurationError(
            "sdk_key: this is a client key (vx-cli-...), meant for browsers and OFREP;"
            " a server SDK evaluates locally and needs a server key (vx-srv-...)"
        )
    if not key.startswith("vx-srv-") or len(key) < 12 or not key.isascii() or " " in key.strip():
        raise ConfigurationError("sdk_key: not a server SDK key (they look like vx-srv-...)")
    return key.strip()


def _check_url(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"url: {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"url: {url!r} must be an http:// or https:// address, like {DEFAULT_URL}"
        )
    return str(parsed).rstrip("/")


def _check_store(store: Store | None, mode: Mode) -> Store | None:
    if store is not None and not isinstance(store, Store):
        raise ConfigurationError(
            f"store: {store!r} has no save(namespace, data) and load(namespace) methods"
        )
    if isinstance(mode, Daemon) and store is None:
        raise ConfigurationError("store: daemon mode reads flags from a store; pass store=...")
    return store


def _seconds(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be positive, not {value!r}")
    return float(value)


def _capacity(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"events_capacity must be a positive integer, not {value!r}")
    return value
