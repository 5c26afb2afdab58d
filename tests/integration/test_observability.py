"""Medic watched like any service, against the real dev server: the Temporal SDK's metrics and
``medic_build_info`` on the worker's /metrics once a workflow ran, and one trace from the webhook
through the incident's workflow to its activities (an in-memory span exporter)."""

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.runner import run_until_stopped
from tests.integration.test_webhook_to_incident import fresh_payload
from tests.support.stack import free_port, medic_stack, wait_until

pytestmark = pytest.mark.integration

# Core's names, as the Helm chart's PrometheusRule uses them (no _total suffix, durations in ms).
SDK_METRICS = (
    "temporal_request",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_workflow_task_execution_latency_bucket",
    "temporal_activity_execution_latency_bucket",
)


async def _incident_ran(http: httpx.AsyncClient) -> str:
    answer = await http.post("/webhooks/alertmanager", json=fresh_payload())
    assert answer.status_code == 200, answer.text
    incident_id: str = answer.json()["incidents"][0]

    async def opened() -> bool:
        detail = await http.get(f"/incidents/{incident_id}")
        return detail.status_code == 200 and detail.json()["alert_count"] == 3

    await wait_until(opened, timeout=60, what="the incident to take its alerts")
    return incident_id


async def test_the_worker_metrics_show_the_sdk_and_the_build() -> None:
    async with medic_stack() as stack, stack.http() as http:
        await _incident_ran(http)
        # `medic worker` on its own: its /metrics on MEDIC_WORKER_METRICS_PORT. (Another task queue: one
        # process's runtime takes one worker per queue. The SDK's metrics are the runtime's, for both.)
        settings = stack.settings.model_copy(
            update={"worker_metrics_port": free_port(), "task_queue": "medic-test-alone"}
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_until_stopped(settings, stack.client, api=False, worker=True, stop=stop)
        )
        url = f"http://{settings.api_host}:{settings.worker_metrics_port}/metrics"
        try:
            async with httpx.AsyncClient(timeout=10) as scraper:

                async def scraped() -> bool:
                    try:
                        return (await scraper.get(url)).status_code == 200
                    except httpx.HTTPError:
                        return False

                await wait_until(scraped, timeout=30, what="the worker's /metrics")
                text = (await scraper.get(url)).text
        finally:
            stop.set()
            await asyncio.wait_for(worker, timeout=30)
        for name in SDK_METRICS:
            assert f"\n{name}{{" in text, f"{name} missing from the worker's /metrics"
        assert "temporal_request_total" not in text, "Core's counter names, as the chart's rules use them"
        assert re.search(r'^medic_build_info\{.*version="[^"]+".*\} 1\.0$', text, re.MULTILINE), text
        # In one process (`medic dev`) the API's /metrics shows the same.
        api_text = (await http.get("/metrics")).text
        assert "temporal_workflow_task_execution_latency_bucket{" in api_text
        assert "medic_incidents_opened_total" in api_text


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on the process's tracer provider (set once per process by OpenTelemetry)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()


async def test_one_trace_from_the_webhook_to_the_notification(spans: InMemorySpanExporter) -> None:
    # Tracing is on once an endpoint is configured; the provider set up above receives the spans.
    async with medic_stack(otel_endpoint="http://127.0.0.1:9/unused") as stack, stack.http() as http:
        await _incident_ran(http)

        def named(prefix: str) -> list[ReadableSpan]:
            return [s for s in spans.get_finished_spans() if s.name.startswith(prefix)]

        async def notified() -> bool:
            return bool(named("RunActivity:notify.chat_post"))

        await wait_until(notified, timeout=60, what="the notification's span")
    (request,) = named("POST /webhooks/alertmanager")
    assert request.context is not None
    trace_id = request.context.trace_id
    in_trace = [
        s for s in spans.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id
    ]
    names = {s.name for s in in_trace}
    assert any(
        n.startswith(("StartWorkflow:IncidentWorkflow", "SignalWithStartWorkflow:IncidentWorkflow"))
        for n in names
    ), names
    assert "RunWorkflow:IncidentWorkflow" in names, names
    assert "RunActivity:notify.chat_post" in names, names
