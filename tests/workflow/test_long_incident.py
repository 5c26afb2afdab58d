"""An incident that outlives its history: with a lowered history limit it continues as new several
times while alerts, an ack and escalation timers keep coming, and loses nothing: every alert and
timeline entry is carried, and nothing is posted, paged or opened twice."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from medic.alerts import Alert, AlertStatus
from medic.handover import compact_for_handover, pack, payload_size, unpack
from medic.incident import AlertBatch, IncidentState
from medic.keys import service_incident_id
from medic.notify_state import ChatPosted
from medic.ports import MessageRef
from medic.routing import ChatTarget
from medic.vocab import TimelineKind
from tests.support.shop import ctx
from tests.workflow.test_notifications import T0, Harness, harness, pages, until
from workflows.incident import ALERTS_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared with the notification tests

ALERTS = 60


def has_alerts(count: int) -> Callable[[IncidentState], bool]:
    return lambda s: s.alert_count == count


def replica_down(i: int) -> AlertBatch:
    alert = Alert(
        fingerprint=f"replica-{i:03d}",
        status=AlertStatus.FIRING,
        starts_at=T0 + timedelta(seconds=i),
        service="orders-db",
        labels={
            "alertname": "PostgresReplicaDown",
            "service": "orders-db",
            "severity": "critical",
            "i": str(i),
        },
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("orders-db")])


async def test_continue_as_new_loses_nothing(harness: Harness) -> None:
    h = harness
    incident_id = service_incident_id("orders-db")
    async with h.worker():
        first = await h.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=incident_id,
                service=ctx("orders-db"),
                quiet_period_seconds=60,
                remediate=False,
                history_limit=25,
            ),
            id=incident_id,
            task_queue=h.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[replica_down(0)],
        )
        handle: WorkflowHandle[Any, Any] = h.env.client.get_workflow_handle(incident_id)  # the latest run
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        for i in range(1, ALERTS):
            await handle.signal(IncidentWorkflow.alerts, replica_down(i))
            await until(handle, has_alerts(i + 1), f"alert {i}")  # one activation each
            if i == ALERTS // 2:
                # bounded: an update on a run that continues as new waits for the next run
                await asyncio.wait_for(
                    handle.execute_update(
                        IncidentWorkflow.acknowledge, AckRequest(actor="U0ALICE", source="slack")
                    ),
                    timeout=150,
                )
        state = await until(
            handle,
            lambda s: (
                s.alert_count == ALERTS
                and s.notifications.pages.get("data") == "acknowledge"
                and sum(e.kind == "incident.continued" for e in s.timeline) >= 2
            ),
            "every alert, the PagerDuty ack and two new runs",
        )
        described = await h.env.client.get_workflow_handle(incident_id, run_id=first.result_run_id).describe()
        latest = await handle.describe()
    assert described.status is WorkflowExecutionStatus.CONTINUED_AS_NEW
    # The Temporal UI's list reads like an incident list on a continued run too (it has no Summary).
    assert latest.run_id != first.result_run_id
    attrs = {p.key.name: p.value for p in latest.typed_search_attributes}
    assert attrs["MedicTitle"] == state.title == "PostgresReplicaDown on orders-db"
    continued = [e for e in state.timeline if e.kind == "incident.continued"]
    assert len({e.data["previous_run"] for e in continued}) == len(continued)
    assert sorted(state.alerts) == [f"replica-{i:03d}" for i in range(ALERTS)]
    fired = [e for e in state.timeline if e.kind == "alert.firing"]
    assert len(fired) == ALERTS, "every firing is on the carried timeline"
    assert [e.kind for e in state.timeline].count("incident.opened") == 1
    assert state.acknowledged_by == "U0ALICE"
    assert len(h.chat.top_level()) == 1, "one Slack message across all runs"
    assert pages(h).count(("trigger", "data")) == 1 and pages(h).count(("acknowledge", "data")) == 1
    threaded = [text for _, text, thread in h.chat.posts if thread]
    assert len(threaded) == len(set(threaded)), "no thread reply repeated by a new run"
    assert sum("Acknowledged by U0ALICE" in text for text in threaded) == 1


def test_an_oversized_state_is_compacted_with_a_pointer_to_the_previous_run() -> None:
    state = IncidentState(id="incident-orders-db", opened_at=T0)
    for i in range(300):
        state.apply_alerts(replica_down(i), at=T0 + timedelta(seconds=i), derive=False)
    for i in range(5000):
        state.record(
            T0 + timedelta(seconds=300 + i), TimelineKind.ESCALATION_LEVEL, f"Escalation note {i} " + "x" * 80
        )
    slack = ChatPosted(
        target=ChatTarget(kind="slack", channel="#data-oncall"),
        cursor=len(state.timeline) - 10,
        ref=MessageRef(kind="slack", channel="C0DATA", id="1.0001"),
    )
    state.notifications.chat[slack.target.key] = slack
    n = state.notifications
    n.jira_cursor, n.jira_link_cursor = len(state.timeline) - 7, len(state.timeline) - 5
    n.change_cursor, n.note_cursor = len(state.timeline) - 3, len(state.timeline)
    before = len(state.timeline)
    carried = compact_for_handover(state, previous_run="run-1", max_bytes=400_000)
    assert len(carried.model_dump_json()) <= 400_000
    assert carried.alerts == state.alerts, "alerts are never dropped (these are firing: all labels kept)"
    note = next(e for e in carried.timeline if e.kind == "timeline.compacted")
    assert note.data["previous_run"] == "run-1"
    assert len(carried.timeline) - 1 + note.data["entries"] == before
    assert carried.timeline[-1] == state.timeline[-1] and carried.timeline[0] == state.timeline[0]
    # The notifier's cursor (the Slack thread's) still points 10 entries before the end.
    assert len(carried.timeline) - carried.notifications.chat[slack.target.key].cursor == 10
    # Every cursor the notifier walks the timeline with (JIRA comments and links, pager change events
    # and notes) stays on the same entries: none skips what came after the compaction.
    c = carried.notifications
    assert len(carried.timeline) - c.jira_cursor == 7 and len(carried.timeline) - c.jira_link_cursor == 5
    assert len(carried.timeline) - c.change_cursor == 3 and c.note_cursor == len(carried.timeline)
    small = IncidentState(id="incident-x", opened_at=T0)
    assert compact_for_handover(small, previous_run="r") is small


def test_a_state_too_large_even_compacted_travels_compressed() -> None:
    """Thousands of firing alerts (nothing to compact): the state goes zlib-compressed, whole."""
    state = IncidentState(id="incident-orders-db", opened_at=T0)
    for i in range(5000):
        batch = replica_down(i)
        alert = batch.alerts[0]
        labels = {**alert.labels, "pod": f"orders-db-{i}", "namespace": "data", "container": "postgres"}
        annotations = {"summary": f"replica {i} of orders-db is down", "runbook_url": "https://runbooks/db"}
        state.apply_alerts(
            batch.model_copy(
                update={"alerts": [alert.model_copy(update={"labels": labels, "annotations": annotations})]}
            ),
            at=T0,
            derive=False,
        )
    assert payload_size(state) > 2_000_000, "bigger than Temporal's payload limit"
    packed = pack(state)
    assert len(packed) < 1_000_000
    assert unpack(packed) == state


def test_compaction_keeps_the_backlogs_on_their_approvals() -> None:
    """The approvals a Teams card and the first page still owe (``approvals-asked-before``) are timeline
    positions too: compacted, one kept stays on its entry, and one whose entry stayed in the previous
    run is dropped (it pointed past the shortened timeline, or at another entry)."""
    state = IncidentState(id="incident-orders-db", opened_at=T0)
    for i in range(300):
        state.apply_alerts(replica_down(i), at=T0 + timedelta(seconds=i), derive=False)
    for i in range(5000):
        at = T0 + timedelta(seconds=300 + i)
        if i in (1000, 4990):
            state.record(at, TimelineKind.APPROVAL_REQUESTED, f"Approval {i}", remediation=f"r{i}", told=True)
        else:
            state.record(at, TimelineKind.ESCALATION_LEVEL, f"Escalation note {i} " + "x" * 80)
    middle, tail = (
        next(j for j, e in enumerate(state.timeline) if e.message == m)
        for m in ("Approval 1000", "Approval 4990")
    )
    teams = ChatPosted(
        target=ChatTarget(kind="teams", channel="data-oncall"),
        cursor=len(state.timeline) - 5,
        backlog=[middle, tail],
    )
    state.notifications.chat[teams.target.key] = teams
    n = state.notifications
    n.note_cursor, n.note_backlog = len(state.timeline) - 5, [middle, tail]
    carried = compact_for_handover(state, previous_run="run-1", max_bytes=400_000)
    c = carried.notifications
    assert len(carried.timeline) < tail, "compacted past the kept approval's position"
    for backlog in (c.chat[teams.target.key].backlog, c.note_backlog):
        assert [carried.timeline[i].message for i in backlog] == ["Approval 4990"]
