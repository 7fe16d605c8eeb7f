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
        self.propagation = Histogram(
            "vexil_change_propagation_seconds",
            "From a change's commit to its delivery on this server's streams",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
