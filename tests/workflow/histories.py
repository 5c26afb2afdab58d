"""Recorded workflow histories that every later version of the workflows must replay.

An incident can stay open for days, through deploys: a change to the commands a workflow issues
(without ``workflow.patched``) breaks every incident open at the time. ``test_replay`` replays the
histories in tests/fixtures/histories with today's code. Record them again only with a release that
asks for open incidents to be drained first:

    python -m tests.workflow.histories

Each release that changes the commands adds its recordings beside the older ones (named
``<workflow id>@<release>.json``); the older ones stay, since incidents they stand for may still be open.
"""

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.correlate import CorrelationActivities
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from activities.remediate import RemediationActivities
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, AnomalyBatch
from medic.routing import RoutingPolicy
from medic.runbook import load_runbook
from medic.topology import ServiceContext, with_nodes
from remediations.actions import default_registry
from remediations.guardrails import GuardrailFacts, GuardrailSettings
from service.devserver import find_binary
from service.held import held_delivery
from service.ingest import Batch
from service.settings import Settings
from service.worker import WORKFLOWS
from tests.support.fakes import (
    FakeChat,
    FakeCluster,
    FakeMetrics,
    FakeOpsgenie,
    FakeTeams,
    FakeTracker,
    queried_state,
)
from tests.support.findings import finding
from tests.support.shop import ctx, shop
from tests.support.timeskip import time_skipping
from workflows.incident import ALERTS_SIGNAL, ANOMALIES_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow

__all__ = ["HISTORIES", "record"]

HISTORIES = Path(__file__).resolve().parents[1] / "fixtures" / "histories"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RELEASE = "r11"  # r3: settle, serial local activities, merge close-out; r4: Teams cards, Opsgenie notes;
# r5: JIRA merge links, nodes absorbing their workloads, undo-unless-changed, pager per team;
# r6: MedicTitle, a service saying hello to its nodes, settling on Prometheus' answer, Slack as a card chat;
# r7: an incident continuing as new while it settles (both runs recorded: the settle end is carried);
# r8: a settling symptom taking its firing cause's alerts that Alertmanager holds (settle-takes-held-cause)
# r9: a merge landing while the symptom's JIRA issue is being created (merge-forwards-late-issue)
# r10: the two decisions as activities, matching in parts within 256 KB (decisions-as-activities)
# r11: incidents of findings only: a live one taking in its dependent's (anomalies-join), a stale one
#      taking in nothing (stale-anomalies-no-cause); recorded alone (``findings``), with r10 beside them
# r12: heartbeats (tests/workflow/heartbeat_history.py: a heartbeat's life, the incident its findings open)
# r13: an incident asking Alertmanager about delivered alerts (tests/workflow/recheck_history.py)
# r14: a remediation step another controller would undo, refused (tests/workflow/reconcilers_history.py)
# r15: 0.3.0's current reads, Opsgenie aliases per key and pages sent again, the hourly action budget, blocks
#      told, the operator's risk bar (tests/workflow/r15_history.py)
# r16: Jira issues reopened and following the priority, the Jira webhook's acks and resolves, plans for
#      their priority, a node settling for its services' incidents, Slack names
#      (tests/workflow/r16_history.py)
# r17: approvals told in Teams and Opsgenie, the postmortem in a merged incident's channels, incidents per
#      cluster with a plan's lock and budget per cluster (tests/workflow/r17_history.py)
RUNBOOK = load_runbook(
    """
name: restart-checkout
match: {alertname: [CheckoutSlow]}
steps:
  - action: restart
    risk: low
    target: {namespace: shop, name: checkout}
verify: {alerts_resolved: true, deadline_seconds: 300}
""",
    source="restart.yaml",
)


def _batch(
    service: str, name: str, status: AlertStatus = AlertStatus.FIRING, *, at: datetime = T0
) -> AlertBatch:
    alert = Alert(
        fingerprint=f"{service}-{name}",
        status=status,
        starts_at=at,
        service=service,
        labels={"alertname": name, "service": service, "namespace": "shop", "severity": "critical"},
    )
    return AlertBatch(alerts=[alert], received_at=at, contexts=[ctx(service)])


async def _open(
    client: Client, service: str, batch: AlertBatch, *, history_limit: int = 0
) -> WorkflowHandle[IncidentWorkflow, object]:
    incident_id = f"incident-{service}"
    # checkout's pods run on a node (r6: it says hello to the node's incident, which is not open), and
    # it asks Prometheus about its likely causes while it settles (orders-db: pending).
    context = with_nodes(ctx(service), ["node/ip-10-0-1-12"]) if service == "checkout" else ctx(service)
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=incident_id,
            service=context,
            quiet_period_seconds=60,
            settle_seconds=5,
            settle_max_seconds=30,
            history_limit=history_limit,
        ),
        id=incident_id,
        task_queue="histories",
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[batch],
    )


class _Prometheus:
    state = "pending"  # ALERTS has a series only while pending or firing

    def active_alerts(self) -> list[dict[str, str]]:
        if self.state not in ("pending", "firing"):
            return []
        return [{"alertname": "PostgresDown", "service": "orders-db", "alertstate": self.state}]


class _Alertmanager:
    """orders-db's alert, held for Medic's receiver (``GET /api/v2/alerts``), once it fires."""

    def __init__(self, prometheus: _Prometheus) -> None:
        self._prometheus = prometheus

    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        if self._prometheus.state != "firing":
            return []
        labels = {
            "alertname": "PostgresDown",
            "service": "orders-db",
            "namespace": "shop",
            "severity": "critical",
        }
        return [
            {
                "labels": labels,
                "annotations": {},
                "startsAt": T0.isoformat(),
                "endsAt": (T0 + timedelta(hours=1)).isoformat(),
                "updatedAt": T0.isoformat(),
                "fingerprint": "orders-db-PostgresDown",  # _batch's: the webhook's later delivery is the same
                "receivers": [{"name": "medic"}],
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            }
        ]


class _Sink:
    """Hands a batch to its incident as the API does, with these recordings' incident options."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> str | None:
        assert service is not None and isinstance(batch, AlertBatch)
        await _open(self._client, service.name, batch)
        return incident_id


class _Facts:
    async def gather(self, request: object) -> GuardrailFacts:
        return GuardrailFacts()


async def record() -> list[Path]:
    """A cascade (checkout merges into orders-db) with a notification, a page, a ticket, an automatic
    restart verified by its alerts resolving, and the close; every workflow's history is written."""
    server = find_binary("temporal-test-server")
    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            remediate = RemediationActivities(
                cluster=FakeCluster(replicas=2),
                metrics=FakeMetrics(),
                runbooks=lambda: [RUNBOOK],
                registry=default_registry(),
                facts=_Facts(),
                guardrails=lambda: GuardrailSettings(mode="auto"),
            )
            policy = RoutingPolicy.default()
            for rule in policy.rules:  # every incident's card to Teams too (chat-channels)
                rule.teams_channels = ["oncall"]
            tracker = FakeTracker()
            notify = NotifyActivities(
                chat=FakeChat(),
                pager=FakeOpsgenie(),  # keeps notes (pager-notes)
                tracker=tracker,
                chats={"teams": FakeTeams()},
                policy=lambda: policy,
            )
            client = env.client

            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(client))
            prometheus = _Prometheus()
            correlate = CorrelationActivities(
                source=prometheus,
                catalog=shop,
                held=_Alertmanager(prometheus),
                deliver=held_delivery(_Sink(env.client), shop(), Settings(_env_file=None)),
                cache_seconds=0,
            )
            async with Worker(
                env.client,
                task_queue="histories",
                workflows=WORKFLOWS,
                activities=[*remediate.all(), *notify.all(), *postmortem.all(), *correlate.all()],
                activity_executor=ThreadPoolExecutor(4),
            ):
                checkout = await _open(env.client, "checkout", _batch("checkout", "CheckoutSlow"))
                await asyncio.sleep(1)
                root = await _open(env.client, "orders-db", _batch("orders-db", "PostgresDown"))
                await asyncio.sleep(1)
                # Acknowledged after its page (r4): a note on the pager's alert, a follow-up in Teams.
                await root.execute_update(
                    IncidentWorkflow.acknowledge, AckRequest(actor="U1", source="slack")
                )
                await asyncio.sleep(1)
                # The cause recovers first; checkout stays slow, so its own runbook runs then (a
                # symptom's remediation waits for its cause), and is verified by its alert resolving.
                await root.signal(ALERTS_SIGNAL, _batch("orders-db", "PostgresDown", AlertStatus.RESOLVED))
                for _ in range(60):  # until checkout's runbook has started (time skips while waiting)
                    if (await root.query(IncidentWorkflow.state)).remediations:
                        break
                    await env.sleep(timedelta(seconds=2))
                await checkout.signal(ALERTS_SIGNAL, _batch("checkout", "CheckoutSlow", AlertStatus.RESOLVED))
                await root.result()
                await checkout.result()
                state = await root.query(IncidentWorkflow.state)
                written = []
                for workflow_id in ["incident-checkout", "incident-orders-db", *state.remediations]:
                    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                    path = HISTORIES / f"{workflow_id}@{RELEASE}.json"
                    path.write_text(history.to_json())
                    written.append(path)
                written += await _continued_while_settling(env)
                prometheus.state = "firing"
                written += await _cause_taken_from_alertmanager(env, prometheus)
                prometheus.state = "pending"
                written += await _cause_taken_from_alertmanager(env, prometheus, pending_first=True)
                prometheus.state = "quiet"
                for rule in policy.rules:  # checkout (P2) opens a JIRA issue too
                    rule.jira = True
                written += await _issue_opened_as_the_merge_lands(env, tracker)
                written += await findings(env, "histories")
                return written


async def _continued_while_settling(env: WorkflowEnvironment) -> list[Path]:
    """r7: payments opens while orders-db's alert is pending in Prometheus (it waits for its cause),
    a storm of its own alerts makes it continue as new meanwhile, the cause never comes: the next run
    waits on to the carried end, then tells, and the alerts resolve."""
    first = await _open(env.client, "payments", _batch("payments", "HighErrorRate"), history_limit=30)
    for n in range(12):
        await first.signal(ALERTS_SIGNAL, _batch("payments", f"HighErrorRate{n}"))
    latest = env.client.get_workflow_handle(first.id)
    started = first.result_run_id  # (signal-with-start: the first run's id; first_execution_run_id is None)
    for _ in range(100):  # describe, not a query: the test server's queries to a new run can time out
        if (await latest.describe()).run_id != started:
            break
        await asyncio.sleep(0.2)
    else:
        raise RuntimeError("payments never continued as new")
    await env.sleep(timedelta(seconds=40))  # past the carried settle end: it tells
    for suffix in ["", *map(str, range(12))]:
        await latest.signal(ALERTS_SIGNAL, _batch("payments", f"HighErrorRate{suffix}", AlertStatus.RESOLVED))
    await asyncio.wait_for(latest.result(), timeout=120)  # bounded: a run the server never closes hangs
    # The run that continued mid-settle, and the run it continued as (its input carries the settle end).
    written = []
    run_id = started
    for name in ["incident-payments", "incident-payments-continued"]:
        history = await env.client.get_workflow_handle(first.id, run_id=run_id).fetch_history()
        path = HISTORIES / f"{name}@{RELEASE}.json"
        path.write_text(history.to_json())
        written.append(path)
        last = history.events[-1]
        assert last.HasField("workflow_execution_continued_as_new_event_attributes"), name
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return written


async def _cause_taken_from_alertmanager(
    env: WorkflowEnvironment, prometheus: _Prometheus, *, pending_first: bool = False
) -> list[Path]:
    """r8: checkout opens while orders-db fires in Prometheus and Alertmanager still holds its alert:
    checkout hands it to orders-db's incident (which opens, absorbs checkout and pages), the webhook
    delivers the same alert later, and both resolve. r9, ``pending_first``: orders-db is pending when
    checkout first asks and fires 10 s later; checkout, asking again (settle-asks-again), takes it then."""
    checkout = await _open(env.client, "checkout", _batch("checkout", "HighErrorRate"))
    if pending_first:
        await env.sleep(timedelta(seconds=10))
        prometheus.state = "firing"
    root = env.client.get_workflow_handle("incident-orders-db")
    for _ in range(100):
        with contextlib.suppress(RPCError):  # its own run, not the one the first recording closed
            running = (await root.describe()).status == WorkflowExecutionStatus.RUNNING
            if running and "incident-checkout" in (await root.query(IncidentWorkflow.state)).absorbed:
                break
        if pending_first:
            await env.sleep(timedelta(seconds=1))  # the next ask is on the workflow's clock
        else:
            await asyncio.sleep(0.2)
    else:
        raise RuntimeError(
            "orders-db never opened from Alertmanager's held alert, or never absorbed checkout"
        )
    await root.signal(ALERTS_SIGNAL, _batch("orders-db", "PostgresDown"))  # the webhook, group_wait later
    await env.sleep(timedelta(seconds=20))
    await root.signal(ALERTS_SIGNAL, _batch("orders-db", "PostgresDown", AlertStatus.RESOLVED))
    await checkout.signal(ALERTS_SIGNAL, _batch("checkout", "HighErrorRate", AlertStatus.RESOLVED))
    await _until_closed(env, root, checkout)
    held = "pending-held" if pending_first else "held"
    return await _write(
        env, {"incident-checkout": f"incident-checkout-{held}", root.id: f"incident-orders-db-{held}"}
    )


async def findings(env: WorkflowEnvironment, task_queue: str) -> list[Path]:
    """r11: orders-db's incident opened by a live finding takes in checkout's (anomalies-join); then
    payments' opened by a finding 13 days old takes in nothing (stale-anomalies-no-cause)."""

    async def start(
        service: str, signal: str, payload: AlertBatch | AnomalyBatch
    ) -> WorkflowHandle[Any, Any]:
        return await env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=f"incident-{service}", service=ctx(service), notify=False, remediate=False
            ),
            id=f"incident-{service}",
            task_queue=task_queue,
            start_signal=signal,
            start_signal_args=[payload],
        )

    now = datetime.now(UTC)
    written: list[Path] = []
    for cause, ended, name in (
        ("orders-db", timedelta(0), "live"),
        ("payments", timedelta(days=13), "stale"),
    ):
        found = await start(cause, ANOMALIES_SIGNAL, finding(cause, ended=ended))
        symptom = await start("checkout", ALERTS_SIGNAL, _batch("checkout", "CheckoutErrors", at=now))
        await asyncio.sleep(2)  # the hellos are exchanged within a workflow task or two
        merged = (await symptom.query(IncidentWorkflow.state)).merged_into
        assert merged == (found.id if name == "live" else None), (name, merged)
        written += await _write(
            env,
            {
                found.id: f"{found.id}-{name}-finding",
                symptom.id: f"incident-checkout-beside-a-{name}-finding",
            },
        )
        for handle in (found, symptom):
            with contextlib.suppress(RPCError):
                await handle.terminate("recorded")
    return written


async def _write(env: WorkflowEnvironment, names: dict[str, str]) -> list[Path]:
    """The latest run of each workflow id, written under its name for this release."""
    written = []
    for workflow_id, name in names.items():
        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
        path = HISTORIES / f"{name}@{RELEASE}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written


async def _until_closed(env: WorkflowEnvironment, *handles: WorkflowHandle[Any, Any]) -> None:
    for handle in handles:
        for _ in range(100):  # describe, not result(): the latest run of an id used before
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await env.sleep(timedelta(seconds=30))
        else:
            raise RuntimeError(f"{handle.id} never closed")


async def _issue_opened_as_the_merge_lands(env: WorkflowEnvironment, tracker: FakeTracker) -> list[Path]:
    """r9: checkout tells at once (nothing it depends on alerts); its JIRA issue is being created when
    orders-db opens and absorbs it. The key comes back after the hand-over: checkout sends it on, and
    orders-db links the two issues."""
    hold = threading.Event()
    tracker.hold, tracker.held = hold, threading.Event()
    checkout = await _open(env.client, "checkout", _batch("checkout", "HighErrorRate"))
    for _ in range(60):  # time skips only while the client waits on the server
        if tracker.held.is_set():
            break
        await env.sleep(timedelta(seconds=1))
    else:
        raise RuntimeError("checkout never started creating its JIRA issue")
    root = await _open(env.client, "orders-db", _batch("orders-db", "PostgresDown"))
    for _ in range(100):
        if "incident-checkout" in (await root.query(IncidentWorkflow.state)).absorbed:
            break
        await asyncio.sleep(0.2)
    else:
        raise RuntimeError("orders-db never absorbed checkout")
    tracker.hold = None
    hold.set()
    for _ in range(60):
        if (await root.query(IncidentWorkflow.state)).notifications.jira_linked:
            break
        await env.sleep(timedelta(seconds=1))
    else:
        raise RuntimeError("orders-db never linked checkout's late JIRA issue")
    await root.signal(ALERTS_SIGNAL, _batch("orders-db", "PostgresDown", AlertStatus.RESOLVED))
    await root.signal(ALERTS_SIGNAL, _batch("checkout", "HighErrorRate", AlertStatus.RESOLVED))
    await _until_closed(env, root, checkout)
    return await _write(
        env, {checkout.id: "incident-checkout-late-issue", root.id: "incident-orders-db-late-issue"}
    )


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(path)
