"""Prometheus metrics, on a registry owned by the app (no module globals, so tests get fresh counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "partner_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "partner_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.webhook_items = Counter(
            "partner_webhook_items_total",
            "Webhook items stored, by platform and kind",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.webhook_duplicates = Counter(
            "partner_webhook_duplicates_total",
            "Webhook items already stored (replays)",
            ["platform"],
            registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "partner_webhook_rejected_total",
            "Webhooks refused, by reason",
            ["platform", "reason"],
            registry=self.registry,
        )
        self.events = Counter(
            "partner_events_total",
            "TikTok events by outcome (queued, delivered, retried, dead, waiting_reauth)",
            ["outcome"],
            registry=self.registry,
        )
        self.events_unidentified = Counter(
            "partner_events_unidentified_total",
            "Events sent with neither a ttclid nor a hashed phone (the workspace allows it)",
            registry=self.registry,
        )
        self.event_lag = Histogram(
            "partner_event_delivery_lag_seconds",
            "From the fact to TikTok's acknowledgement",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400),
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "partner_outbox_events", "Outbox events by status", ["status"], registry=self.registry
        )
        self.reauthorization_needed = Gauge(
            "partner_workspaces_needing_reauthorization",
            "Workspaces whose TikTok token was revoked",
            registry=self.registry,
        )
        self.keyword_reloads = Counter(
            "partner_keyword_reloads_total",
            "Keyword set reloads by result",
            ["result"],
            registry=self.registry,
        )
