"""Prometheus metrics of one server process (its own registry, not the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vexil_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.open_streams = Gauge(
            "vexil_open_streams", "SDK streams open now", registry=self.registry
        )
        self.streams_per_key = Gauge(
            "vexil_streams_per_key_max",
            "The most SDK streams one key holds open now (against max_streams_per_key)",
            registry=self.registry,
        )
        self.streams_refused = Counter(
            "vexil_streams_refused",
            "SDK streams refused (429) because their key held max_streams_per_key already",
            registry=self.registry,
        )
        self.streams_ended = Counter(
            "vexil_streams_ended_by_server",
            "SDK streams the server ended early: send_timeout (the client took nothing for"
            " stream_send_timeout seconds; dropped), key (its key expired or was revoked)",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("send_timeout", "key"):
            self.streams_ended.labels(reason)  # listed at zero, before the first
        self.events = Counter(
            "vexil_events_ingested",
            "SDK events ingested, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.evaluations = Counter(
            "vexil_evaluations_reported",
            "Evaluations reported in SDK summaries",
            registry=self.registry,
        )
        self.auth_refused = Counter(
            "vexil_auth_refused",
            "Password checks refused before hashing: client or user (over the failure"
            " limit of the address or the user name), busy (the password gate is full)",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("client", "user", "busy"):
            self.auth_refused.labels(reason)  # listed at zero, before the first refusal
        self.password_checks = Counter(
            "vexil_password_checks",
            "Password checks run (argon2 verifications, the refused ones not included)",
            registry=self.registry,
        )
        self.propagation = Histogram(
            "vexil_change_propagation_seconds",
            "From a change's commit to its delivery on this server's streams",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
