"""An incident's two local activities (runbook matching, notification planning) finishing in either
order, close together or apart, always leave a history that replays (the cause of the recorded
"[TMPRL1100] Nondeterminism error" in tests/fixtures/evidence; see workflows/local.py)."""

import asyncio
import json
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.notify import NotifyActivities, PlanRequest
from activities.remediate import MatchRequest, MatchResult, RemediationActivities
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.routing import NotificationPlan, RoutingPolicy
from remediations.actions import default_registry
from remediations.guardrails import GuardrailFacts, GuardrailSettings
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeCluster, FakeMetrics, FakePager, FakeTracker
from tests.support.shop import ctx
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow
from workflows.local import LocalActivityGate

EVIDENCE = Path(__file__).resolve().parents[1] / "fixtures" / "evidence"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ROUNDS = 3
JITTER = 0.008
ALERTS = 300
_JITTER = random.Random(7)  # noqa: S311 (timing only)
SERVICES = ["payments", "checkout", "api-gateway", "orders-db", "web-frontend", "auth"]


class _Facts:
    async def gather(self, request: object) -> GuardrailFacts:
        return GuardrailFacts()


class _JitteryNotify(NotifyActivities):
    @activity.defn(name="notify.plan")
    def plan(self, request: PlanRequest) -> NotificationPlan:
        time.sleep(_JITTER.uniform(0.001, JITTER))
        return super().plan(request)


class _JitteryRemediate(RemediationActivities):
    @activity.defn(name="remediate.match")
    def match(self, request: MatchRequest) -> MatchResult:
        return super().match(request)


def _batch(service: str) -> AlertBatch:
    # Enough alerts that the workflow takes a few milliseconds per activation: results land meanwhile.
    alerts = [
        Alert(
            fingerprint=f"{service}-down-{n}",
            status=AlertStatus.FIRING,
            starts_at=T0,
            service=service,
            labels={"alertname": "HighErrorRate", "service": service, "pod": f"p{n}", "severity": "critical"},
        )
        for n in range(ALERTS)
    ]
    return AlertBatch(alerts=alerts, received_at=T0, contexts=[ctx(service)])


async def test_incident_histories_replay_whatever_order_local_activities_finish(
    env: WorkflowEnvironment,
) -> None:
    notify = _JitteryNotify(
        chat=FakeChat(), pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
    )
    remediate = _JitteryRemediate(
        cluster=FakeCluster(replicas=2),
        metrics=FakeMetrics(),
        runbooks=list,
        registry=default_registry(),
        facts=_Facts(),
        guardrails=lambda: GuardrailSettings(mode="dry-run"),
    )
    queue = f"race-{uuid.uuid4()}"
    ids: list[str] = []
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[*notify.all(), *remediate.all()],
        activity_executor=ThreadPoolExecutor(4),
    ):

        async def start(incident_id: str, service: str) -> None:
            await env.client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(incident_id=incident_id, service=ctx(service), remediate=True),
                id=incident_id,
                task_queue=queue,
                start_signal=ALERTS_SIGNAL,
                start_signal_args=[_batch(service)],
            )

        for round_ in range(ROUNDS):
            started = [(f"incident-{s}-{round_}-{uuid.uuid4().hex[:6]}", s) for s in SERVICES]
            ids += [incident_id for incident_id, _ in started]
            # All at once: a busy worker is where results pile up between activations.
            await asyncio.gather(*(start(incident_id, service) for incident_id, service in started))
            await asyncio.sleep(0.5)
            for incident_id, _ in started:
                await env.client.get_workflow_handle(incident_id).terminate("only the start matters here")
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    failures = []
    for incident_id in ids:
        history = await env.client.get_workflow_handle(incident_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures.append(f"{incident_id}: {result.replay_failure}")
    assert not failures, failures


# (file, workflow id, its local activity markers, why it does not replay)
_EVIDENCE = [
    (
        # recorded before the gate: two local activities in flight at once, their results in one
        # activation on the first run and apart on replay
        "incident-payments-nondeterministic-history.json",
        "incident-payments",
        2,  # match and plan, no serial-local-activities patch marker
        "Signal external WF machine does not handle this event",
    ),
    (
        # recorded under load by an integration test (about one run in 15 alone, with a CPU burner
        # beside it) with the gate: the notifier's plan and the remediation child's start resolved in
        # two workflow tasks on the first run and in one activation on replay, so the notifier posted
        # before the main loop published. The gate removes two local activities at once, not a local
        # activity's result against another resolution: not fixed yet (taking the decisions as
        # activities queued them behind slow sends; docs/architecture.md)
        "incident-checkout-plan-vs-child-history.json",
        "incident-checkout",
        2,  # match, then plan, one at a time
        "Activity machine does not handle this event",
    ),
]


@pytest.mark.parametrize(("name", "workflow_id", "markers", "why"), _EVIDENCE, ids=[e[1] for e in _EVIDENCE])
async def test_the_recorded_evidence_still_fails_for_its_reason(
    name: str, workflow_id: str, markers: int, why: str
) -> None:
    """A history whose first run had the race cannot replay on any code; each must fail for exactly
    its reason. The day one replays, the SDK has changed the delivery and this test says so."""
    raw = json.loads((EVIDENCE / name).read_text())
    kinds = [e.get("markerRecordedEventAttributes", {}).get("markerName") for e in raw["events"]]
    assert kinds.count("core_local_activity") == markers
    history = WorkflowHistory.from_json(workflow_id, raw)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert why in str(result.replay_failure)


class _Concurrency:
    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()


_seen = _Concurrency()


@activity.defn(name="test.counted")
def _counted(pause: float) -> None:
    with _seen.lock:
        _seen.now += 1
        _seen.most = max(_seen.most, _seen.now)
    time.sleep(pause)
    with _seen.lock:
        _seen.now -= 1


@workflow.defn(name="TwoLoopsOfLocalActivities", sandboxed=False)
class _TwoLoops:
    @workflow.run
    async def run(self) -> None:
        gate = LocalActivityGate()

        async def loop(pause: float) -> None:
            for _ in range(3):
                await gate.run(
                    lambda: workflow.execute_local_activity(
                        _counted, pause, start_to_close_timeout=timedelta(seconds=5)
                    )
                )

        await asyncio.gather(loop(0.02), loop(0.01))


async def test_the_gate_lets_one_local_activity_run_at_a_time(env: WorkflowEnvironment) -> None:
    queue = f"gate-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[_TwoLoops],
        activities=[_counted],
        activity_executor=ThreadPoolExecutor(4),
    ):
        handle = await env.client.start_workflow(_TwoLoops.run, id=queue, task_queue=queue)
        await handle.result()
        history = await handle.fetch_history()
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    names = [e.marker_recorded_event_attributes.marker_name for e in markers]
    assert names.count("core_local_activity") == 6
    assert _seen.most == 1
