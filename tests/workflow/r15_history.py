"""Recorded histories of release 0.3.0's new workflow behaviour (its patches and flags), which every later
version of the workflows must replay (in ``test_replay``):

    python -m tests.workflow.r15_history [burn] [opsgenie] [budget] [risk-bar]  (all when none named)

- ``incident-search-burn@r15``: an incident begun with ``current_reads`` (as service/ingest.py begins new
  ones) on search (tier 3), holding a Sloth v0.11 page burn (no ``sloth_window``) and a second alert: the
  burn floor makes it P2 (P3 without), so it pages; its title says "(+1 more alert)"; both resolve and the
  postmortem is written.
- ``incident-checkout-opsgenie@r15``: an SLO team's incident paged through Opsgenie (its double, one API
  key per routing key, tests/workflow/opsgenie_stack.py): the primary's trigger is throttled on all its
  attempts and sent again a minute on (page-sent-again), the secondary is paged under an alias of its own
  (pager-alias-per-key), then it is acknowledged; terminated once every page is acknowledged.
- ``incident-checkout-budget@r15``, ``remediate-budget-acted@r15``, ``remediate-budget-blocked@r15``,
  ``action-budget-checkout@r15``: two crash-looping Deployments of checkout, one hourly action allowed
  (the worker's own budget workflow, MedicActionBudgetWorkflow: action-budget): the first restart acts, the
  second is blocked and the incident tells it in its Slack thread (blocks-told); terminated once told.
- ``remediate-risk-bar-approved@r15``: a runbook of ``approval: auto`` with a high-risk step asks for
  approval all the same (operator-risk-bar), is approved, acts and is verified.
"""

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.routing import RoutingPolicy
from medic.vocab import Risk
from remediations.budget import budget_key, budget_workflow_id
from remediations.guardrails import GuardrailSettings
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeCluster, FakeMetrics, FakePager, FakeTracker, queried_state
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow import test_remediation
from tests.workflow.histories import HISTORIES
from tests.workflow.opsgenie_stack import batch, burn, running_stack
from tests.workflow.test_action_budget import blocked, budgeted, crashing
from tests.workflow.test_notifications import until
from tests.workflow.test_remediation import SCALE, Facts, Rig, deliver
from workflows.incident import ALERTS_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["RELEASE", "record_r15"]

RELEASE = "r15"  # 0.3.0: current reads (Sloth v0.11 burns, the paging floor, "(+N more alerts)"), Opsgenie
# aliases per key, a failed page sent again, the hourly action budget, blocks told, the operator's risk bar
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
QUEUE = "r15"
BURN_ID = "incident-search-burn"
SEARCH_PAGE = {  # tests/unit/test_slo_readings.py's SLOTH_V011_PAGE, on search: no sloth_window
    "alertname": "SearchAvailabilityBurn",
    "category": "availability",
    "severity": "critical",
    "sloth_id": "search-requests-availability",
    "sloth_service": "search",
    "sloth_severity": "page",
    "sloth_slo": "requests-availability",
}


def _write(name: str, history_json: str) -> Path:
    path = HISTORIES / f"{name}@{RELEASE}.json"
    path.write_text(history_json)
    return path


async def _written(env: WorkflowEnvironment, name: str, workflow_id: str) -> Path:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return _write(name, history.to_json())


def _search(status: AlertStatus = AlertStatus.FIRING) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint="search-burn",
            status=status,
            starts_at=T0,
            service="search",
            labels={**SEARCH_PAGE, "service": "search"},
        ),
        Alert(
            fingerprint="search-latency",
            status=status,
            starts_at=T0,
            service="search",
            labels={"alertname": "SearchSlow", "service": "search", "severity": "warning"},
        ),
    ]
    return AlertBatch(alerts=alerts, received_at=T0, contexts=[ctx("search")])


async def _burn(server: Path) -> Path:
    """``incident-search-burn@r15``: paged at P2 by the burn floor, titled "(+1 more alert)", resolved."""
    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            notify = NotifyActivities(
                chat=FakeChat(), pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
            )
            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(env.client))
            async with Worker(
                env.client,
                task_queue=QUEUE,
                workflows=WORKFLOWS,
                activities=[*notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(4),
            ):
                handle = await env.client.start_workflow(
                    IncidentWorkflow.run,
                    IncidentInput(  # as service/ingest.py starts a new incident
                        incident_id=BURN_ID,
                        service=ctx("search"),
                        quiet_period_seconds=60,
                        remediate=False,
                        pipeline_floor=True,
                        current_reads=True,
                    ),
                    id=BURN_ID,
                    task_queue=QUEUE,
                    start_signal=ALERTS_SIGNAL,
                    start_signal_args=[_search()],
                )
                state = await until(handle, lambda s: "trigger" in s.notifications.pages.values(), "page")
                assert state.priority == "P2", state.priority
                assert state.impact_detail is not None and state.impact_detail.floor is not None
                assert state.impact_detail.floor.startswith(
                    "at least P2: search's SLO burns at a paging rate"
                )
                assert state.title == "SearchAvailabilityBurn on search (+1 more alert)", state.title
                await handle.signal(ALERTS_SIGNAL, _search(AlertStatus.RESOLVED))
                await env.sleep(timedelta(seconds=90))
                await asyncio.wait_for(handle.result(), timeout=120)
            assert list(Path(tmp).rglob("*.md")), "no postmortem written"
            return await _written(env, BURN_ID, BURN_ID)


async def _opsgenie(server: Path) -> Path:
    """``incident-checkout-opsgenie@r15``: a page sent again, a second level's own alias, acknowledged."""
    with tempfile.TemporaryDirectory() as tmp:
        async with running_stack(server, Path(tmp)) as s:
            s.opsgenie.faults.push("rate_limit", times=8, retry_after=1, route="POST /v2/alerts")
            async with s.worker:
                handle = await s.open(batch(burn()))
                await s.env.sleep(timedelta(minutes=3, seconds=30))  # 8 attempts, then sent again
                await until(handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "again")
                await s.env.sleep(timedelta(minutes=2))  # level 2 at 5 minutes
                state = await until(
                    handle,
                    lambda st: st.notifications.pages.get("checkout-secondary") == "trigger",
                    "level 2",
                )
                assert any(e.message.endswith("after it had failed.") for e in state.timeline)
                assert state.notifications.aliases == {
                    "checkout-secondary": f"{handle.id}:checkout-secondary"
                }
                await handle.execute_update(
                    IncidentWorkflow.acknowledge, AckRequest(actor="alice", source="slack")
                )
                await until(
                    handle, lambda st: set(st.notifications.pages.values()) == {"acknowledge"}, "acks"
                )
                await handle.terminate("recorded")
            assert sorted(a.alias for a in s.opsgenie.alerts()) == [
                handle.id,
                f"{handle.id}:checkout-secondary",
            ]
            history = await handle.fetch_history()
            return _write("incident-checkout-opsgenie", history.to_json())


def _rig(env: WorkflowEnvironment) -> Rig:
    test_remediation.ENV[:] = [env]  # its ``until`` lets this environment's time pass
    return Rig(
        env,
        FakeCluster(replicas=2),
        FakeMetrics(),
        Facts(),
        FakeChat(),
        GuardrailSettings(mode="auto"),
        SCALE,
    )


async def _budget(server: Path) -> list[Path]:
    """The budget's four: the incident, the restart that acted, the one it blocked, the budget."""
    async with time_skipping(server) as env:
        rig = _rig(env)
        budgeted(rig, mode="auto")
        async with rig.worker():
            incident = await deliver(rig, crashing("checkout"), notify=True)
            state = await test_remediation.until(
                incident, lambda s: any(e.kind == "action.executed" for e in s.timeline), "the restart"
            )
            (acted,) = state.remediations
            await incident.signal(ALERTS_SIGNAL, crashing("checkout-worker", at=timedelta(seconds=30)))
            state = await test_remediation.until(incident, lambda s: len(blocked(s)) == 1, "the block")
            (stopped,) = [rid for rid in state.remediations if rid != acted]
            await test_remediation.until(
                incident,
                lambda s: any("Self-healing did not act" in text for _, text, _ in rig.chat.posts),
                "the block told",
            )
            crash = crashing("checkout", at=timedelta(seconds=60))
            ended = [a.model_copy(update={"status": AlertStatus.RESOLVED}) for a in crash.alerts]
            await incident.signal(ALERTS_SIGNAL, crash.model_copy(update={"alerts": ended}))  # verifies it
            await test_remediation.until(
                incident, lambda s: s.remediations[acted].outcome == "verified", "the restart verified"
            )
            await env.client.get_workflow_handle(acted).result()
            await env.client.get_workflow_handle(stopped).result()
            await incident.terminate("recorded")
        assert [verb for verb, _, _ in rig.cluster.writes] == ["patch"], rig.cluster.writes
        return [
            await _written(env, "incident-checkout-budget", incident.id),
            await _written(env, "remediate-budget-acted", acted),
            await _written(env, "remediate-budget-blocked", stopped),
            await _written(env, "action-budget-checkout", budget_workflow_id(budget_key("checkout", "shop"))),
        ]


async def _risk_bar(server: Path) -> Path:
    """``remediate-risk-bar-approved@r15``: asked though the runbook says auto, approved, verified."""
    async with time_skipping(server) as env:
        rig = _rig(env)
        step = SCALE.steps[0].model_copy(update={"risk": Risk.HIGH})
        verify = SCALE.verify.model_copy(update={"for_seconds": 0})  # one check: few events
        rig.runbook = SCALE.model_copy(update={"approval": "auto", "steps": [step], "verify": verify})
        async with rig.worker():
            incident = await deliver(rig)
            state = await test_remediation.until(
                incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
            )
            assert any("the step is high risk" in e.message for e in state.timeline)
            assert rig.cluster.writes == []
            handle: WorkflowHandle[RemediationWorkflow, object] = test_remediation.remediation(rig, state)
            await handle.execute_update(RemediationWorkflow.decide, Decision(approve=True, actor="U-ALICE"))
            state = await test_remediation.until(
                incident, lambda s: test_remediation.outcome(s) == "verified", "verified"
            )
            await handle.result()
            await incident.terminate("recorded")
        assert rig.scales() == [4]
        return await _written(env, "remediate-risk-bar-approved", handle.id)


async def record_r15(only: Sequence[str] = ()) -> list[Path]:
    """Every recording, or those named in ``only`` (burn, opsgenie, budget, risk-bar)."""
    server = find_binary("temporal-test-server")
    written: list[Path] = []
    if not only or "burn" in only:
        written.append(await _burn(server))
    if not only or "opsgenie" in only:
        written.append(await _opsgenie(server))
    if not only or "budget" in only:
        written += await _budget(server)
    if not only or "risk-bar" in only:
        written.append(await _risk_bar(server))
    await asyncio.sleep(1)  # the SDK's last callbacks end first (without it the interpreter aborted at exit)
    return written


if __name__ == "__main__":
    for written in asyncio.run(record_r15(sys.argv[1:])):
        print(written, written.stat().st_size)
