"""Prometheus metrics of one app, in the app's own registry (several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
_RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4, 8)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("luxtts_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.queue_depth = Gauge("luxtts_queue_depth", "speech requests admitted and waiting for their first chunk",
                                 registry=r)
        self.in_flight = Gauge("luxtts_in_flight", "speech requests admitted and not finished", registry=r)
        self.ttfa = Histogram("luxtts_time_to_first_audio_seconds", "admission to first audio chunk ready",
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("luxtts_request_latency_seconds", "admission to last audio chunk ready",
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.audio_seconds = Counter("luxtts_audio_seconds", "seconds of audio generated", registry=r)
        self.compute_seconds = Counter("luxtts_compute_seconds", "seconds the model worked on requests", registry=r)
        self.rtf = Histogram("luxtts_rtf", "per request: compute seconds / audio seconds", buckets=_RTF_BUCKETS,
                             registry=r)
        self.chunks = Counter("luxtts_chunks", "text chunks generated", registry=r)
        self.batch_size = Histogram("luxtts_batch_size", "text chunks (of different requests) per model call",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.chunks_cancelled = Counter("luxtts_chunks_cancelled", "text chunks dropped before generation "
                                        "because their client went away", registry=r)
        self.cancelled = Counter("luxtts_requests_cancelled", "speech requests cancelled by a client disconnect",
                                 registry=r)
        self.rejected = Counter("luxtts_requests_rejected", "speech requests refused with 429 (queue full)",
                                registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
