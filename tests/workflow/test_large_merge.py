"""A large incident merging into another hands all of its alerts over. Its hand-over was one
workflow task issuing every part's signal at once, 400 alerts a part whatever their size: a symptom of
a 20,000-alert storm (thousands of alerts with their annotations) made a task completion larger than
gRPC's 4 MB ("GRPC Message too large", the task failing for good at every retry), so the incident
stood still and its alerts never reached the cause's incident; and 400 alerts with 32 KB annotations
(what the webhook accepts) made one part larger than Temporal's 2 MB per payload."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from service.temporal import register_search_attributes
from service.worker import WORKFLOWS
from tests.conftest import dev_server
from tests.support.shop import ctx
from tests.workflow.test_correlation import T0, batch, deliver
from workflows.incident import IncidentWorkflow, ViewRequest

ALERTS = 6000


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        async with Worker(environment.client, task_queue="medic", workflows=WORKFLOWS):
            yield environment


def _storm_part(first: int, count: int, annotation: int) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint=f"checkout-{i}",
            status=AlertStatus.FIRING,
            labels={"alertname": "CheckoutErrors", "service": "checkout", "pod": f"checkout-{i}"},
            annotations={"description": "d" * annotation},
            starts_at=T0,
            service="checkout",
        )
        for i in range(first, first + count)
    ]
    return AlertBatch(alerts=alerts, received_at=T0, contexts=[ctx("checkout")])


async def _total(env: WorkflowEnvironment, incident_id: str) -> int:
    """Its alert count; -1 while it cannot answer (a workflow task failed for the moment: one that
    continued as new while signals arrived, which Temporal has it take again)."""
    try:
        view = await env.client.get_workflow_handle(incident_id).query(
            IncidentWorkflow.view, ViewRequest(alerts=0, timeline=0)
        )
    except (RPCError, WorkflowQueryFailedError):  # ... or a worker too busy to answer in time
        return -1
    return view.alerts_total


@pytest.mark.parametrize(
    ("annotation", "per_signal"),
    [(1000, 300), (30_000, 12)],  # 7 MB in all; 2.2 MB in 400-alert parts of 12 MB
    ids=["thousands-of-alerts", "large-annotations"],
)
async def test_a_large_symptom_hands_every_alert_to_its_cause(
    env: WorkflowEnvironment, annotation: int, per_signal: int
) -> None:
    count = ALERTS if annotation < 10_000 else 400
    checkout = await deliver(env, "checkout", _storm_part(0, per_signal, annotation))
    for first in range(per_signal, count, per_signal):  # as the webhook splits a storm: signals under 512 KB
        await checkout.signal(
            IncidentWorkflow.alerts, _storm_part(first, min(per_signal, count - first), annotation)
        )
    for _ in range(600):
        if await _total(env, "incident-checkout") == count:
            break
        await asyncio.sleep(0.1)
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    for _ in range(600):  # the cause pulls the symptom in: every alert must arrive
        if await _total(env, db.id) == count + 1:
            break
        await asyncio.sleep(0.1)
    assert await _total(env, db.id) == count + 1
    assert (
        await checkout.query(IncidentWorkflow.view, ViewRequest(alerts=0, timeline=0))
    ).state.merged_into == db.id
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for handle in (checkout, db):  # the hand-over in groups replays (its patches asked the same way)
        await replayer.replay_workflow(await handle.fetch_history())


async def test_an_incident_of_a_thousand_anomalies_still_answers(env: WorkflowEnvironment) -> None:
    """1,000 anomaly signals of 12 ordinary labels (what one allowed request carries) made the view
    over Temporal's limit ("Blob data size exceeds limit"): GET /incidents/{id}, /medic show, the
    postmortem and the false-positive learning could not read the incident (a review, 2026-12-06).
    The answer holds the most recently seen anomalies it has room for, and says how many there are."""
    from datetime import timedelta  # noqa: PLC0415

    from medic.anomaly import AnomalySignal  # noqa: PLC0415
    from medic.incident import AnomalyBatch  # noqa: PLC0415
    from medic.keys import service_incident_id  # noqa: PLC0415
    from service.incidents import detail_from_view  # noqa: PLC0415
    from workflows.incident import ANOMALIES_SIGNAL, IncidentInput  # noqa: PLC0415

    def part(first: int) -> AnomalyBatch:
        signals = [
            AnomalySignal.model_validate(
                {
                    "source": "grafana-ml",
                    "service": "search",
                    "series": {
                        "pod": f"search-{i}",
                        **{f"label_{k}": f"value-{k}-{'x' * 60}" for k in range(11)},
                    },
                    "value": 2.4,
                    "expected": {"lower": 0.1, "upper": 0.5},
                    "score": 0.98,
                    "window": {
                        "start": (T0 + timedelta(seconds=i)).isoformat(),
                        "end": (T0 + timedelta(seconds=i)).isoformat(),
                    },
                    "summary": "s" * 400,
                }
            )
            for i in range(first, first + 250)
        ]
        return AnomalyBatch(
            signals=signals, received_at=T0 + timedelta(seconds=first), contexts=[ctx("search")]
        )

    incident_id = service_incident_id("search")
    handle = await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, service=ctx("search"), notify=False, remediate=False),
        id=incident_id,
        task_queue="medic",
        start_signal=ANOMALIES_SIGNAL,
        start_signal_args=[part(0)],
    )
    for first in (250, 500, 750):
        await handle.signal(IncidentWorkflow.anomalies, part(first))
    for _ in range(300):
        try:
            view = await handle.query(IncidentWorkflow.view, ViewRequest(alerts=2000, timeline=4000))
        except (RPCError, WorkflowQueryFailedError):
            view = None
        if view is not None and view.anomalies_total == 1000:
            break
        await asyncio.sleep(0.1)
    assert view is not None and view.anomalies_total == 1000
    shown = view.state.anomalies
    pods = {a.signal.series["pod"] for a in shown.values()}
    assert 0 < len(shown) < 1000 and {"search-0", "search-999"} <= pods  # the first signal, and the latest
    assert len(view.model_dump_json()) < 1_900_000
    assert detail_from_view(view).anomaly_count == 1000
    # the postmortem is written from this view: it counts what was left out
    from medic.postmortem import render_postmortem  # noqa: PLC0415

    assert "1000 anomaly signals" in render_postmortem(view.state, now=T0 + timedelta(hours=2))
