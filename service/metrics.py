"""Medic's own Prometheus metrics, on an explicit registry passed to whoever records."""

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ApiMetrics"]


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.webhook_requests = Counter(
            "medic_webhook_requests",
            "Webhook requests by route and HTTP status code.",
            ["route", "code"],
            registry=registry,
        )
        self.alerts_accepted = Counter(
            "medic_alerts_accepted",
            "Alerts and anomaly signals durably handed to Temporal, by source.",
            ["source"],
            registry=registry,
        )
        self.webhook_latency = Histogram(
            "medic_webhook_latency_seconds",
            "Time from request to answer for webhooks, including the Temporal hand-off.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.temporal_unavailable = Counter(
            "medic_temporal_unavailable",
            "Deliveries answered 503 because Temporal could not take them.",
            registry=registry,
        )
