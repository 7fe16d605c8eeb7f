"""Prometheus metrics of one server process (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = self._counter(
            "vexil_http_requests", "HTTP requests answered", ["method", "route", "status"]
        )
        self.open_streams = self._gauge("vexil_open_streams", "SDK streams open now")
        self.streams_per_key = self._gauge(
            "vexil_streams_per_key_max",
            "The most SDK streams one key holds open now (against max_streams_per_key)",
        )
        self.streams_refused = self._counter(
            "vexil_streams_refused",
            "SDK streams refused (429) because their key held max_streams_per_key already",
        )
        self.streams_ended = self._counter(
            "vexil_streams_ended_by_server",
            "SDK streams the server ended early: send_timeout (the client took nothing for"
            " stream_send_timeout seconds; dropped), key (its key expired or was revoked)",
            ["reason"],
            listed=("send_timeout", "key"),
        )
        self.events = self._counter(
            "vexil_events_ingested", "SDK events ingested, by kind", ["kind"]
        )
        self.evaluations = self._counter(
            "vexil_evaluations_reported", "Evaluations reported in SDK summaries"
        )
        self.auth_refused = self._counter(
            "vexil_auth_refused",
            "Password checks refused before hashing: client or user (over the failure"
            " limit of the address or the user name), busy (the password gate is full)",
            ["reason"],
            listed=("client", "user", "busy"),
        )
        self.password_checks = self._counter(
            "vexil_password_checks",
            "Password checks run (argon2 verifications, the refused ones not included)",
        )
        self.propagation = Histogram(
            "vexil_change_propagation_seconds",
            "From a change's commit to its delivery on this server's streams",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

    def _counter(
        self, name: str, doc: str, labels: Sequence[str] = (), *, listed: Sequence[str] = ()
    ) -> Counter:
        """A counter of this registry; the ``listed`` label values show at zero from the start
        (one label only), so that a scrape sees them before the first increment."""
        counter = Counter(name, doc, labels, registry=self.registry)
        for value in listed:
            counter.labels(value)
        return counter

    def _gauge(self, name: str, doc: str) -> Gauge:
        return Gauge(name, doc, registry=self.registry)
