"""Recorded histories of release 0.4.0's new workflow behaviour (its patches and state), which every later
version of the workflows must replay (in ``test_replay``):

    python -m tests.workflow.r17_history [approvals] [approvals-asked-before] [merged-postmortem] [cluster]
    (all when none named)

- ``incident-checkout-approval-told@r17``, ``remediate-checkout-approval-told@r17``: a team on Teams and
  Opsgenie (no Slack rule): checkout's incident pages, its runbook's step waits for approval
  (MEDIC_REMEDIATION_MODE approve); the request is a follow-up in the Teams channel and a note on the
  Opsgenie alert, each saying how to decide without a button (approvals-told); it is approved through the
  API (``api:operator-token``), the decision is told the same way, the step acts and is verified; the
  alert resolves and the incident closes.
- ``incident-checkout-approval-asked-before@r17``: the same team; a remediation's request for approval
  reaches checkout's incident before any worker ran, so before its first Opsgenie page and its Teams card;
  still waiting when they go, it is noted on the page and followed up under the card
  (approvals-asked-before), once each; it is approved (``api:operator-token``), the decision told the
  same way; the alert resolves and the incident closes. (The remediation's reports are signals here: no
  runbook matches, so no remediation workflow is recorded.)
- ``incident-orders-db-postmortem-to-merged@r17``, ``incident-checkout-merged-into-orders-db@r17``:
  checkout's incident posts its Teams card in web-oncall and merges into orders-db's (data-oncall); its
  card is kept in orders-db's ``merged_chats``, and orders-db's postmortem goes to web-oncall too
  (postmortem-to-merged); both close.
- ``incident-prod-eu--orders-db@r17``, ``incident-prod-eu--checkout@r17``, the remediation and the budget
  (MEDIC_INCIDENTS_PER_CLUSTER; MEDIC_CLUSTER prod-eu with its own locks): prod-eu's checkout incident
  says hello to prod-eu's orders-db incident, which absorbs it (titled "... in prod-eu"); once orders-db
  recovers and checkout is still slow, checkout's runbook runs under a plan carrying the cluster (its
  workflow id, the lock, ``remediate-prod-eu-deployment-shop-checkout-...``; its hourly budget, that of
  the incident's owner, ``service:orders-db@prod-eu``, the worker's budget workflow), acts and is
  verified; both close.
"""

import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from activities.remediate import RemediationActivities
from medic.alerts import AlertStatus
from medic.clusters import ClusterScope
from medic.incident import AlertBatch, IncidentStatus
from medic.keys import service_incident_id
from medic.routing import load_routing
from medic.runbook import Runbook
from medic.topology import in_cluster
from medic.vocab import TimelineKind
from remediations.actions import default_registry
from remediations.budget import budget_key, budget_workflow_id
from remediations.guardrails import GuardrailSettings
from remediations.plan import RemediationEvent
from service.budgets import TemporalBudgets
from service.devserver import find_binary
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
from tests.support.shop import ctx, shop
from tests.support.timeskip import time_skipping
from tests.workflow import test_remediation
from tests.workflow.histories import HISTORIES
from tests.workflow.test_cascade_notifications import CHECKOUT, ORDERS_DB, errors, resolve_all
from tests.workflow.test_cascade_notifications import open_incident as open_settling
from tests.workflow.test_chat_channels import SPLIT_POLICY
from tests.workflow.test_notifications import Harness, outage, until
from tests.workflow.test_remediation import SCALE, Facts, Rig, slow
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentResult, IncidentWorkflow
from workflows.remediation import REMEDIATION_EVENT, Decision, RemediationWorkflow

__all__ = ["RELEASE", "record_r17"]

RELEASE = "r17"  # 0.4.0: approvals told in Teams and Opsgenie, the postmortem in a merged incident's
# channels, incidents per cluster (ids, hellos, titles, a plan's lock and budget)
QUEUE = "r17"
CLUSTER = "prod-eu"
TEAMS_ONLY = load_routing(  # no Slack rule: a Teams channel and the pager (Opsgenie, keeping notes)
    """
rules:
  - {name: all, slack: false, pagerduty: true, teams_channels: [checkout-oncall]}
""",
    catalog=shop(),
)
HOW = "POST /remediations/"  # what a request told where there is no button says (approval_text)
APPROVER = "api:operator-token"  # the HTTP API's actor (service/api/control.py)

Handle = WorkflowHandle[IncidentWorkflow, IncidentResult]


def _write(name: str, history_json: str) -> Path:
    path = HISTORIES / f"{name}@{RELEASE}.json"
    path.write_text(history_json)
    return path


async def _written(env: WorkflowEnvironment, name: str, workflow_id: str) -> Path:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return _write(name, history.to_json())


def _with_status(batch: AlertBatch, status: AlertStatus) -> AlertBatch:
    return batch.model_copy(
        update={"alerts": [a.model_copy(update={"status": status}) for a in batch.alerts]}
    )


async def _approvals(server: Path) -> list[Path]:
    """The incident whose remediation's approval is told in Teams and noted in Opsgenie, and the
    remediation."""
    pager, teams = FakeOpsgenie(), FakeTeams()

    def runbooks() -> list[Runbook]:
        # The match waits for the first page (within 30 s): the pager's notes take what follows the page
        # being sent (notes-from-sending); a request made before (a Teams card post taking 2 s was
        # enough) is told in Teams but never noted on the Opsgenie alert.
        for _ in range(300):
            if pager.events:
                break
            time.sleep(0.1)
        return [SCALE]

    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            test_remediation.ENV[:] = [env]  # its ``until`` lets this environment's time pass
            remediate = RemediationActivities(
                cluster=FakeCluster(replicas=2),
                metrics=FakeMetrics(),
                runbooks=runbooks,
                registry=default_registry(),
                facts=Facts(),
                guardrails=lambda: GuardrailSettings(mode="approve", approval_timeout_seconds=900),
            )
            notify = NotifyActivities(
                chat=FakeChat(),
                pager=pager,
                tracker=FakeTracker(),
                chats={"teams": teams},
                policy=lambda: TEAMS_ONLY,
            )
            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(env.client))
            async with Worker(
                env.client,
                task_queue=QUEUE,
                workflows=WORKFLOWS,
                activities=[*remediate.all(), *notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(8),
            ):
                incident_id = service_incident_id("checkout")
                incident: Handle = await env.client.start_workflow(
                    IncidentWorkflow.run,
                    IncidentInput(incident_id=incident_id, service=ctx("checkout"), quiet_period_seconds=60),
                    id=incident_id,
                    task_queue=QUEUE,
                    start_signal=ALERTS_SIGNAL,
                    start_signal_args=[slow()],
                )
                state = await test_remediation.until(
                    incident,
                    lambda s: (
                        any(HOW in text for text in teams.notes_in("checkout-oncall"))
                        and any(HOW in text for _, _, text in pager.notes)
                    ),
                    "the request in Teams and on the Opsgenie alert",
                )
                (remediation_id,) = state.remediations
                handle: WorkflowHandle[RemediationWorkflow, object] = env.client.get_workflow_handle(
                    remediation_id
                )
                decision = Decision(approve=True, actor=APPROVER, reason="the queue is backing up")
                await handle.execute_update(RemediationWorkflow.decide, decision)
                await test_remediation.until(
                    incident, lambda s: test_remediation.outcome(s) == "verified", "verified"
                )
                await handle.result()
                await test_remediation.until(
                    incident,
                    lambda s: (
                        s.notifications.note_cursor == len(s.timeline)
                        and any(f"Approved by {APPROVER}" in text for _, _, text in pager.notes)
                    ),
                    "the decision noted",
                )
                await incident.signal(ALERTS_SIGNAL, slow(AlertStatus.RESOLVED))
                await env.sleep(timedelta(seconds=90))
                await asyncio.wait_for(incident.result(), timeout=120)
                state = await incident.query(IncidentWorkflow.state)
            assert state.status is IncidentStatus.RESOLVED, state.status
            told = [e.data.get("told") for e in state.timeline if e.kind.startswith("approval.")]
            assert told == [True, True], told
            notes = teams.notes_in("checkout-oncall")
            assert sum(HOW in text for text in notes) == 1, notes
            assert any(f"Approved by {APPROVER}" in text for text in notes), notes
            assert sum(HOW in text for _, _, text in pager.notes) == 1, pager.notes
            return [
                await _written(env, "incident-checkout-approval-told", incident.id),
                await _written(env, "remediate-checkout-approval-told", handle.id),
            ]


ASKED_BEFORE = "remediate-deployment-shop-checkout-5e7a11d0"  # the remediation asking, before any worker ran


async def _approvals_asked_before(server: Path) -> list[Path]:
    """The incident whose remediation asked for approval before its first page and Teams card: noted on
    the page and followed up under the card once they went (approvals-asked-before)."""
    pager, teams = FakeOpsgenie(), FakeTeams()
    how = f"{HOW}{ASKED_BEFORE}/decision"
    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            test_remediation.ENV[:] = [env]
            remediate = RemediationActivities(
                cluster=FakeCluster(replicas=2),
                metrics=FakeMetrics(),
                runbooks=list,  # no runbook matches: the remediation's reports are this recording's signals
                registry=default_registry(),
                facts=Facts(),
                guardrails=lambda: GuardrailSettings(mode="approve", approval_timeout_seconds=900),
            )
            notify = NotifyActivities(
                chat=FakeChat(),
                pager=pager,
                tracker=FakeTracker(),
                chats={"teams": teams},
                policy=lambda: TEAMS_ONLY,
            )
            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(env.client))
            incident_id = service_incident_id("checkout")
            incident: Handle = await env.client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(incident_id=incident_id, service=ctx("checkout"), quiet_period_seconds=60),
                id=incident_id,
                task_queue=QUEUE,
                start_signal=ALERTS_SIGNAL,
                start_signal_args=[slow()],
            )
            await incident.signal(  # before any worker runs: in the history before the first page
                REMEDIATION_EVENT,
                RemediationEvent(
                    remediation_id=ASKED_BEFORE,
                    kind=TimelineKind.APPROVAL_REQUESTED,
                    message=(
                        "[scale-checkout] Approval requested (medium risk, MEDIC_REMEDIATION_MODE is "
                        f"approve): scale Deployment shop/checkout. Approve or deny {ASKED_BEFORE} step 0."
                    ),
                    data={"step": 0},  # as the remediation's report is (workflows/remediation.py)
                ),
            )
            async with Worker(
                env.client,
                task_queue=QUEUE,
                workflows=WORKFLOWS,
                activities=[*remediate.all(), *notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(8),
            ):
                await test_remediation.until(
                    incident,
                    lambda s: (
                        any(how in text for text in teams.notes_in("checkout-oncall"))
                        and any(how in text for _, _, text in pager.notes)
                    ),
                    "the request under the card and on the Opsgenie alert",
                )
                await incident.signal(
                    REMEDIATION_EVENT,
                    RemediationEvent(
                        remediation_id=ASKED_BEFORE,
                        kind=TimelineKind.APPROVAL_GRANTED,
                        message=f"[scale-checkout] Approved by {APPROVER}.",
                        data={"actor": APPROVER},
                    ),
                )
                await test_remediation.until(
                    incident,
                    lambda s: (
                        s.notifications.note_cursor == len(s.timeline)
                        and any(f"Approved by {APPROVER}" in text for _, _, text in pager.notes)
                        and any(f"Approved by {APPROVER}" in t for t in teams.notes_in("checkout-oncall"))
                    ),
                    "the decision told",
                )
                await incident.signal(ALERTS_SIGNAL, slow(AlertStatus.RESOLVED))
                await env.sleep(timedelta(seconds=90))
                await asyncio.wait_for(incident.result(), timeout=120)
                state = await incident.query(IncidentWorkflow.state)
            assert state.status is IncidentStatus.RESOLVED, state.status
            kinds = [e.kind for e in state.timeline]
            asked = kinds.index(TimelineKind.APPROVAL_REQUESTED)
            assert asked < kinds.index(TimelineKind.NOTIFICATION_SENT), kinds  # asked before anything went
            told = [e.data.get("told") for e in state.timeline if e.kind.startswith("approval.")]
            assert told == [True, True], told
            notes = teams.notes_in("checkout-oncall")
            assert sum(how in text for text in notes) == 1, notes
            assert sum(how in text for _, _, text in pager.notes) == 1, pager.notes
            return [await _written(env, "incident-checkout-approval-asked-before", incident.id)]


async def _merged_postmortem(server: Path) -> list[Path]:
    """orders-db's postmortem, told in the Teams channel of checkout's incident, merged into it."""
    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            h = Harness(env, FakeChat(), FakeOpsgenie(), FakeTracker(), QUEUE, Path(tmp) / "pm")
            h.policy = SPLIT_POLICY
            async with h.worker():
                symptom = await open_settling(h, "checkout", errors())
                await until(symptom, lambda s: "teams:web-oncall" in s.notifications.chat, "checkout's card")
                root = await open_settling(h, "orders-db", outage())
                await until(root, lambda s: CHECKOUT in s.absorbed, "orders-db absorbing checkout")
                await until(symptom, lambda s: s.notifications.finished, "checkout closed out")
                await env.sleep(timedelta(minutes=30))
                await resolve_all(h, root)
            web = h.teams.notes_in("web-oncall")
            merged = [
                n for n in web if n.startswith(f"Postmortem of {ORDERS_DB}, which this incident merged")
            ]
            assert len(merged) == 1 and web[-1] == merged[0], web
            assert sum(n.startswith("Postmortem: ") for n in h.teams.notes_in("data-oncall")) == 1
            return [
                await _written(env, "incident-orders-db-postmortem-to-merged", ORDERS_DB),
                await _written(env, "incident-checkout-merged-into-orders-db", CHECKOUT),
            ]


def _in_cluster(batch: AlertBatch) -> AlertBatch:
    """The batch as prod-eu's Prometheus labels it (external label ``cluster``), to prod-eu's incident."""
    alerts = [
        a.model_copy(
            update={"fingerprint": f"{CLUSTER}-{a.fingerprint}", "labels": {**a.labels, "cluster": CLUSTER}}
        )
        for a in batch.alerts
    ]
    contexts = [in_cluster(c, CLUSTER) for c in batch.contexts]
    return batch.model_copy(update={"alerts": alerts, "contexts": contexts})


async def _open_in_cluster(rig: Rig, service: str, batch: AlertBatch) -> Handle:
    """What the API does with MEDIC_INCIDENTS_PER_CLUSTER: signal-with-start the cluster's incident."""
    incident_id = service_incident_id(service, cluster=CLUSTER)
    return await rig.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=incident_id,
            service=in_cluster(ctx(service), CLUSTER),
            notify=False,
            settle_seconds=5,
            quiet_period_seconds=60,
        ),
        id=incident_id,
        task_queue=rig.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[batch],
    )


async def _cluster(server: Path) -> list[Path]:
    """prod-eu's orders-db absorbs prod-eu's checkout; checkout's runbook runs under prod-eu's lock and
    budget once orders-db has recovered."""
    async with time_skipping(server) as env:
        test_remediation.ENV[:] = [env]
        rig = Rig(
            env,
            FakeCluster(replicas=2),
            FakeMetrics(),
            Facts(),
            FakeChat(),
            GuardrailSettings(mode="auto"),
            SCALE,
            task_queue=QUEUE,
            scope=ClusterScope(CLUSTER, own_locks=True),  # MEDIC_CLUSTER, MEDIC_INCIDENTS_PER_CLUSTER
        )
        rig.budgets = TemporalBudgets(env.client, task_queue=QUEUE)  # the worker's budget workflows
        down, slowed = _in_cluster(outage()), _in_cluster(slow())
        async with rig.worker():
            db = await _open_in_cluster(rig, "orders-db", down)
            checkout = await _open_in_cluster(rig, "checkout", slowed)
            assert checkout.id == f"incident-{CLUSTER}--checkout", checkout.id
            await test_remediation.until(
                db, lambda s: checkout.id in s.absorbed, "orders-db absorbing checkout"
            )
            await test_remediation.until(
                db, lambda s: any(e.kind == "remediation.waiting" for e in s.timeline), "the runbook waiting"
            )
            await db.signal(ALERTS_SIGNAL, _with_status(down, AlertStatus.RESOLVED))
            state = await test_remediation.until(
                db,
                lambda s: bool(s.remediations) and test_remediation.outcome(s) == "verified",
                "checkout's runbook verified",
            )
            (remediation_id,) = state.remediations
            await env.client.get_workflow_handle(remediation_id).result()
            await db.signal(ALERTS_SIGNAL, _with_status(slowed, AlertStatus.RESOLVED))
            await env.sleep(timedelta(seconds=90))
            await asyncio.wait_for(db.result(), timeout=120)
            state = await db.query(IncidentWorkflow.state)
        assert rig.scales() == [4], rig.cluster.writes
        assert state.title.endswith(f" in {CLUSTER} (+1 more service)"), state.title
        assert remediation_id.startswith(f"remediate-{CLUSTER}-deployment-shop-checkout-"), remediation_id
        # the plan's service is the incident's owner (orders-db, which absorbed checkout): its budget
        budget = budget_workflow_id(budget_key("orders-db", "shop", CLUSTER))
        return [
            await _written(env, db.id, db.id),
            await _written(env, checkout.id, checkout.id),
            await _written(env, "remediate-prod-eu-checkout", remediation_id),
            await _written(env, "action-budget-prod-eu-orders-db", budget),
        ]


async def record_r17(only: Sequence[str] = ()) -> list[Path]:
    """Every recording, or those named in ``only`` (approvals, approvals-asked-before, merged-postmortem,
    cluster)."""
    server = find_binary("temporal-test-server")
    written: list[Path] = []
    if not only or "approvals" in only:
        written += await _approvals(server)
    if not only or "approvals-asked-before" in only:
        written += await _approvals_asked_before(server)
    if not only or "merged-postmortem" in only:
        written += await _merged_postmortem(server)
    if not only or "cluster" in only:
        written += await _cluster(server)
    await asyncio.sleep(1)  # the SDK's last callbacks end first (without it the interpreter aborted at exit)
    return written


if __name__ == "__main__":
    for written in asyncio.run(record_r17(sys.argv[1:])):
        print(written, written.stat().st_size)
