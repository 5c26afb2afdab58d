"""Medic watched like any service: the Temporal SDK's own metrics and OpenTelemetry traces.

**SDK metrics.** The Temporal core keeps its metrics (task latencies, poll failures, slots) in its own
runtime, not in ``prometheus_client``. One runtime per process (:func:`sdk_runtime`) serves them on a
loopback port, and :class:`SdkMetrics` re-exposes that page through Medic's registry, so the worker's
``/metrics`` (and the API's, in one process) shows ``temporal_*`` beside ``medic_*`` under Core's own
names (``temporal_workflow_task_execution_failed``, ``temporal_long_request_failure``, durations in
milliseconds), the names the Helm chart's alert rules use.

**Traces.** With an OTLP endpoint configured (``MEDIC_OTEL_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), the client carries
Temporal's ``TracingInterceptor`` (the worker inherits it from the client), under the server span
FastAPI opens for each request with the same tracer provider: one trace runs from the webhook through
the workflow to its activities. Off otherwise, and the OpenTelemetry SDK and exporter (the ``otel``
extra) are imported only then."""

import logging
import os
import re
import socket
import urllib.request
from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.client import Client, Interceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from service.settings import Settings

__all__ = [
    "CORE_LOGGER",
    "SdkMetrics",
    "core_logging",
    "sdk_metrics_url",
    "sdk_runtime",
    "tracing_enabled",
    "tracing_interceptors",
]

log = logging.getLogger(__name__)

_runtime: tuple[Runtime, str] | None = None
CORE_LOGGER = "temporalio.core"


def core_logging(core_level: str = "WARN") -> LoggingConfig:
    """The Temporal core's own lines (a poll that fails, a connection lost), handed to Python's logger
    :data:`CORE_LOGGER` rather than written by the core to stderr as plain text: they come out in
    Medic's format (one JSON object a line with MEDIC_LOG_JSON), redacted like every other line. Core
    names each line's origin in the logger's name (``temporalio.core-sdk_core::<target>``)."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level=core_level, other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )


_COUNTER_TYPE = re.compile(r"^(# TYPE \S+ )counter$", re.MULTILINE)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sdk_runtime() -> Runtime:
    """The process's Temporal runtime, its metrics served on a loopback port (made once)."""
    global _runtime  # noqa: PLW0603 - one core runtime per process, as Temporal intends
    if _runtime is None:
        for attempt in range(3):  # the free port may be taken between finding and binding it
            address = f"127.0.0.1:{_free_loopback_port()}"
            try:
                runtime = Runtime(
                    telemetry=TelemetryConfig(
                        logging=core_logging(), metrics=PrometheusConfig(bind_address=address)
                    )
                )
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            _runtime = (runtime, f"http://{address}/metrics")
            break
    assert _runtime is not None
    return _runtime[0]


def sdk_metrics_url(client: Client) -> str | None:
    """Where the client's runtime serves its metrics, when it is the one :func:`sdk_runtime` made."""
    if _runtime is not None and client.service_client.config.runtime is _runtime[0]:
        return _runtime[1]
    return None


class SdkMetrics(Collector):
    """The core's metrics page, read at each scrape and handed on as metric families.

    Core's counters have no ``_total`` suffix, which ``prometheus_client`` would add to a counter's
    samples: they are handed on untyped, under the names Core gives them."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self._url, self._timeout = url, timeout

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout) as answer:  # noqa: S310 - loopback
                text = answer.read().decode()
        except OSError as err:
            log.warning("Temporal SDK metrics unavailable at %s: %s", self._url, err)
            return
        # Read as counters, they would be renamed ``*_total``: read untyped, they keep Core's names.
        yield from text_string_to_metric_families(_COUNTER_TYPE.sub(r"\1untyped", text))


# ---- traces ------------------------------------------------------------------------------------


def tracing_enabled(settings: Settings) -> bool:
    return bool(
        settings.otel_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _ensure_tracer_provider(settings: Settings) -> None:
    """An SDK tracer provider exporting over OTLP/HTTP, unless the process set one up already."""
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    endpoint = settings.otel_endpoint
    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    provider = TracerProvider(resource=Resource.create({"service.name": "medic"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    log.info("tracing: spans exported over OTLP to %s", endpoint or "the OTEL_EXPORTER_OTLP_* endpoint")


def tracing_interceptors(settings: Settings) -> list[Interceptor]:
    """Temporal's tracing interceptor when tracing is configured; none otherwise."""
    if not tracing_enabled(settings):
        return []
    try:
        _ensure_tracer_provider(settings)
        from temporalio.contrib.opentelemetry import TracingInterceptor  # noqa: PLC0415
    except ImportError as err:
        log.warning(
            "tracing is configured but OpenTelemetry is not installed (pip install 'medic[otel]'): %s", err
        )
        return []
    return [TracingInterceptor()]
