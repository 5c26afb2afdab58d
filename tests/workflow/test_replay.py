"""Today's workflow code replays the recorded histories (tests/workflow/histories.py): incidents open
during a deploy carry on instead of failing every workflow task."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from activities.notify import ChatCard, SlackNote, SlackUpdate
from medic.incident import IncidentState, IncidentStatus
from medic.notify_state import APPROVAL_KINDS
from medic.ports import MessageRef
from remediations.budget import budget_key
from remediations.gitops import RECONCILED_BY, Claim
from service.worker import WORKFLOWS
from tests.support.history import scheduled_and_patches
from tests.workflow.histories import HISTORIES
from workflows.causes import (
    HELD_EXPIRE_PATCH,
    RECHECK_PATCH,
    SETTLE_ASKS_AGAIN_PATCH,
    SETTLE_SAID_ONCE_PATCH,
    SETTLE_TAKES_HELD_PATCH,
)
from workflows.chats import APPROVALS_ASKED_BEFORE_PATCH, POSTMORTEM_TO_MERGED_PATCH
from workflows.incident import (
    ANOMALY_JOINS_PATCH,
    JIRA_CLOCKS,
    LATE_ISSUE_PATCH,
    NODE_SETTLES_PATCH,
    STALE_ANOMALY_PATCH,
    IncidentWorkflow,
)
from workflows.notifier import (
    JIRA_PRIORITY_PATCH,
    JIRA_REOPEN_PATCH,
    PAGE_RETRY_PATCH,
    PAGER_ALIAS_PATCH,
    PLANNED_PRIORITY_PATCH,
)
from workflows.remediation import ACTION_BUDGET_PATCH, RECONCILERS_PATCH, REMEDIATION_EVENT, RISK_BAR_PATCH
from workflows.remediator import APPROVALS_TOLD_PATCH, BLOCKS_TOLD_PATCH, REFUSALS_TOLD_PATCH

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert len(RECORDED) >= 3, "record them with: python -m tests.workflow.histories"


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


# ---- runs from before slack-as-card-chat: the old Slack branch on today's state ----------------------

_STARTED: list[tuple[str, object]] = []


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        _STARTED.append((input.activity, input.args[0] if input.args else None))
        return super().start_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Watch(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[_Inbound]:
        return _Inbound


def _slack_post_result(history: WorkflowHistory) -> MessageRef:
    """What ``notify.slack_post`` answered when the history was recorded (its one Slack message)."""
    (scheduled,) = [
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "notify.slack_post"
    ]
    (done,) = [
        e.activity_task_completed_event_attributes
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
        and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled
    ]
    return MessageRef.model_validate_json(done.result.payloads[0].data)


THREADED = [p for p in RECORDED if '"notify.slack_thread"' in p.read_text()]


def test_some_recorded_histories_edit_and_thread_in_slack() -> None:
    assert len(THREADED) >= 3


@pytest.mark.parametrize("path", THREADED, ids=[p.stem for p in THREADED])
async def test_a_run_from_before_edits_the_message_it_posted(path: Path) -> None:
    """Replayed with today's state (Slack's messages kept in ``notifications.chat``), a run from before
    the patch edits the message ``notify.slack_post`` answered and replies in its thread, call for call."""
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    posted = _slack_post_result(history)
    _STARTED.clear()
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        interceptors=[_Watch()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    edits = [arg for name, arg in _STARTED if name == "notify.slack_update"]
    replies = [arg for name, arg in _STARTED if name == "notify.slack_thread"]
    assert edits and replies
    assert all(isinstance(a, SlackUpdate) and a.ref == posted for a in edits), edits
    assert all(isinstance(a, SlackNote) and a.ref == posted for a in replies), replies
    cards = [arg for name, arg in _STARTED if name == "notify.chat_post"]  # Teams' (r4 on), never Slack's
    assert all(isinstance(a, ChatCard) and a.target.kind == "teams" for a in cards), cards
    assert "notify.chat_update" not in [name for name, _ in _STARTED]


def commands(name: str) -> tuple[list[str], set[str]]:
    """The activities a recorded history scheduled, in order, and the patches it marked."""
    raw = json.loads((HISTORIES / f"{name}.json").read_text())
    return scheduled_and_patches(WorkflowHistory.from_json(name, raw))


def test_the_r8_held_cause_histories_take_the_cause_and_check_it() -> None:
    """The r8 recordings exercise what they stand for (a history that never took a branch would replay
    whatever the branch did): the symptom takes its cause from Alertmanager, the cause's incident asks
    again when the taken alert comes due."""

    scheduled, patches = commands("incident-checkout-held@r8")
    assert SETTLE_TAKES_HELD_PATCH in patches
    assert scheduled.index("correlate.hand_over_held") > scheduled.index("correlate.alerting")
    scheduled, patches = commands("incident-orders-db-held@r8")
    assert HELD_EXPIRE_PATCH in patches and "correlate.still_held" in scheduled


def test_the_r9_late_issue_histories_forward_the_key_and_link_it() -> None:
    """r9: checkout's JIRA issue came back after it merged; it sent the entry on (the patch), and
    orders-db linked the two issues."""
    scheduled, patches = commands("incident-checkout-late-issue@r9")
    assert LATE_ISSUE_PATCH in patches and "notify.jira_ensure" in scheduled
    scheduled, _ = commands("incident-orders-db-late-issue@r9")
    assert scheduled.count("notify.jira_link") == 1


def test_the_r9_settling_histories_ask_prometheus_again_while_the_cause_is_pending() -> None:
    """r9: payments' cause stays pending; it asks again while it settles, in both runs (the continued run
    carries the question on)."""
    for name in ["incident-payments@r9", "incident-payments-continued@r9"]:
        scheduled, patches = commands(name)
        assert SETTLE_ASKS_AGAIN_PATCH in patches, name
    scheduled, patches = commands("incident-payments-continued@r9")
    assert scheduled.count("correlate.alerting") >= 3
    assert SETTLE_SAID_ONCE_PATCH in patches  # its first answer came with "settling" said already
    # checkout's cause was pending at the first ask and fired later: asked again, then taken.
    scheduled, patches = commands("incident-checkout-pending-held@r9")
    assert SETTLE_ASKS_AGAIN_PATCH in patches
    assert scheduled.count("correlate.alerting") >= 2 and scheduled[-1] == "correlate.hand_over_held"


def test_the_r11_findings_histories_join_and_refuse_a_stale_cause() -> None:
    """r11: orders-db's incident of a live finding took in checkout's (the join patch); payments' of a
    finding 13 days old did not (the stale patch, marked where a late finding would have counted)."""
    _, patches = commands("incident-orders-db-live-finding@r11")
    assert ANOMALY_JOINS_PATCH in patches
    _, patches = commands("incident-payments-stale-finding@r11")
    assert STALE_ANOMALY_PATCH in patches


def test_the_r13_history_asks_alertmanager_about_its_delivered_alerts() -> None:
    """r13: the incident asked Alertmanager (the patch) three times: vouched, gone, gone again."""
    scheduled, patches = commands("incident-payments-rechecked@r13")
    assert RECHECK_PATCH in patches and scheduled.count("correlate.still_held") == 3


def test_the_r14_history_refuses_a_step_and_acts_on_the_next() -> None:
    """r14 (tests/workflow/reconcilers_history.py): the scale Flux would undo is judged past the patch and
    not applied; the restart is: one apply, after two snapshots."""
    scheduled, patches = commands("remediate-deployment-shop-checkout-2b1bb843@r14")
    assert RECONCILERS_PATCH in patches
    assert scheduled.count("remediate.snapshot") == 2 and scheduled.count("remediate.apply") == 1


def test_the_r14_incident_tells_its_refusal() -> None:
    """r14: the incident took the refusal past the patch and told it (a reply in its Slack thread)."""
    scheduled, patches = commands("incident-checkout-refused@r14")
    assert REFUSALS_TOLD_PATCH in patches and scheduled[-1] == "notify.chat_note"


def _started_with(name: str) -> dict[str, Any]:
    """The input a recorded run was started with (its first payload, as JSON)."""
    raw = json.loads((HISTORIES / f"{name}.json").read_text())
    started = WorkflowHistory.from_json(name, raw).events[0].workflow_execution_started_event_attributes
    body: dict[str, Any] = json.loads(started.input.payloads[0].data)
    return body


def test_the_r15_burn_history_pages_on_the_floor_and_writes_its_postmortem() -> None:
    """r15 (tests/workflow/r15_history.py): begun with current_reads, search's Sloth v0.11 page burn is read
    and floored at P2, which pages (P3 without: no page); resolved, the page is resolved and the
    postmortem written."""
    assert _started_with("incident-search-burn@r15")["current_reads"] is True
    scheduled, _ = commands("incident-search-burn@r15")
    assert scheduled.count("notify.page") == 2 and "postmortem_write" in scheduled


def test_the_r15_opsgenie_history_sends_a_failed_page_again_and_aliases_per_key() -> None:
    """r15: the primary's first trigger failed for good and was sent again (page-sent-again); the secondary
    was paged under its own alias (pager-alias-per-key); both alerts were acknowledged."""
    scheduled, patches = commands("incident-checkout-opsgenie@r15")
    assert {PAGE_RETRY_PATCH, PAGER_ALIAS_PATCH} <= patches
    assert scheduled.count("notify.page") == 5  # trigger (failed), again, the secondary, two acks
    raw = json.loads((HISTORIES / "incident-checkout-opsgenie@r15.json").read_text())
    events = WorkflowHistory.from_json("opsgenie", raw).events
    assert sum(e.HasField("activity_task_failed_event_attributes") for e in events) == 1


def test_the_r15_budget_histories_act_once_then_block_and_tell() -> None:
    """r15: both remediations reserved a part of the hourly budget (action-budget); the first acted, the
    second was blocked, and the incident told the block in its Slack thread (blocks-told)."""
    scheduled, patches = commands("remediate-budget-acted@r15")
    assert ACTION_BUDGET_PATCH in patches and scheduled[-2:] == ["remediate.reserve", "remediate.apply"]
    scheduled, patches = commands("remediate-budget-blocked@r15")
    assert ACTION_BUDGET_PATCH in patches
    assert "remediate.reserve" in scheduled and "remediate.apply" not in scheduled
    scheduled, patches = commands("incident-checkout-budget@r15")
    assert BLOCKS_TOLD_PATCH in patches and "notify.chat_note" in scheduled
    raw = json.loads((HISTORIES / "action-budget-checkout@r15.json").read_text())
    events = WorkflowHistory.from_json("budget", raw).events
    assert (
        events[0].workflow_execution_started_event_attributes.workflow_type.name
        == "MedicActionBudgetWorkflow"
    )
    assert sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in events) >= 2


def test_the_r15_risk_bar_history_asks_for_approval_then_acts() -> None:
    """r15: a runbook of approval: auto with a high-risk step asked (operator-risk-bar), was approved, acted
    and was verified."""
    scheduled, patches = commands("remediate-risk-bar-approved@r15")
    assert RISK_BAR_PATCH in patches and ACTION_BUDGET_PATCH in patches
    assert scheduled.index("notify.slack_message") < scheduled.index("remediate.apply")
    assert scheduled[-1] == "remediate.verify"


# ---- r16: Jira both ways, plans for their priority, a node settling for its services, Slack names ------


def _payload(payloads: Any) -> Any:
    """The first payload of an event's input, as JSON."""
    return json.loads(payloads.payloads[0].data)


def _history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, json.loads((HISTORIES / f"{name}.json").read_text()))


def _activity_inputs(name: str, activity: str) -> list[Any]:
    """What each ``activity`` the recorded run scheduled was asked, in order."""
    return [
        _payload(e.activity_task_scheduled_event_attributes.input)
        for e in _history(name).events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]


def _updates(name: str) -> list[tuple[str, Any]]:
    """The updates the recorded run accepted: their names and requests."""
    return [
        (u.accepted_request.input.name, _payload(u.accepted_request.input.args))
        for e in _history(name).events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        for u in [e.workflow_execution_update_accepted_event_attributes]
    ]


_REPLAYED: list[object] = []


class _KeepInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        _REPLAYED.append(workflow.instance())
        return await super().execute_workflow(input)


class _Keep(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[_KeepInbound]:
        return _KeepInbound


async def _replayed_state(name: str) -> IncidentState:
    """The incident's state once today's code has replayed the recorded run to its end."""
    _REPLAYED.clear()
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        interceptors=[_Keep()],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(_history(name), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    (instance,) = _REPLAYED
    assert isinstance(instance, IncidentWorkflow)
    return instance._state


async def test_the_r16_jira_history_reopens_the_issue_and_takes_moves_from_the_webhook() -> None:
    """r16 (tests/workflow/r16_history.py): a Jira-only team's incident, open again after Medic closed its
    issue, reopened the issue (jira-reopen) and closed it again at the end; acknowledged and resolved by
    moves of that issue through the Jira webhook (FromJira: its key and Jira's time)."""
    name = "incident-orders-db-jira-reopened@r16"
    scheduled, patches = commands(name)
    assert JIRA_REOPEN_PATCH in patches and "notify.page" not in scheduled
    closes = [i for i, a in enumerate(scheduled) if a == "notify.jira_close"]
    assert len(closes) == 2 and closes[0] < scheduled.index("notify.jira_reopen") < closes[1]
    (reopened,) = _activity_inputs(name, "notify.jira_reopen")
    assert reopened["text"].startswith("The incident is open again.\n")
    state = await _replayed_state(name)
    n = state.notifications
    assert n.jira_key is not None and n.jira_moved_at is not None and not n.jira_reopen and n.jira_closed
    events = _history(name).events
    (scheduled_at,) = [
        e.event_id
        for e in events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "notify.jira_reopen"
    ]
    (reopened_at,) = [
        e.event_time.ToDatetime(UTC)
        for e in events
        if e.HasField("activity_task_completed_event_attributes")
        and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled_at
    ]
    moves = _updates(name)
    assert [verb for verb, _ in moves] == ["acknowledge", "resolve"]
    for _, request in moves:  # a person's moves, after Medic's reopen (not its echo)
        assert (request["jira_key"], request["source"], request["actor"]) == (n.jira_key, "jira", "Alice")
        assert datetime.fromisoformat(request["jira_at"]) > reopened_at + JIRA_CLOCKS
    assert (state.status, state.acknowledged_by, state.resolved_by) == (
        IncidentStatus.RESOLVED,
        "Alice",
        "Alice",
    )


async def test_the_r16_jira_priority_history_updates_the_issue_to_p1() -> None:
    """r16: filed at P2, the issue followed the incident to P1 (jira-follows-priority), in the site's own
    priority names."""
    name = "incident-orders-db-jira-priority@r16"
    scheduled, patches = commands(name)
    assert JIRA_PRIORITY_PATCH in patches
    assert scheduled.index("notify.jira_ensure") < scheduled.index("notify.jira_update")
    (filed,) = _activity_inputs(name, "notify.jira_ensure")
    (update,) = _activity_inputs(name, "notify.jira_update")
    assert (filed["priority"], update["priority"]) == ("Critical", "Blocker")
    assert (update["labels_add"], update["labels_remove"]) == (["medic-p1"], ["medic-p2"])
    assert update["summary"].startswith("[P1] ") and update["comment"].startswith(
        "Priority raised from P2 to P1."
    )
    state = await _replayed_state(name)
    assert state.priority == state.notifications.jira_priority == "P1"


async def test_the_r16_plan_race_history_plans_again_for_the_priority_it_has() -> None:
    """r16: the plan asked for P3 came back after a critical delivery had raised the incident to P1:
    recorded as P3's (plan-for-its-priority), planned again for P1, which pages."""
    name = "incident-orders-db-plan-raced@r16"
    scheduled, patches = commands(name)
    assert PLANNED_PRIORITY_PATCH in patches
    assert [r["priority"] for r in _activity_inputs(name, "notify.plan")] == ["P3", "P1"]
    assert scheduled.index("notify.page") > [i for i, a in enumerate(scheduled) if a == "notify.plan"][1]
    state = await _replayed_state(name)
    assert state.priority == state.notifications.planned_priority == "P1"
    assert state.notifications.plan is not None and state.notifications.plan.rule == "page"


async def test_the_r16_node_history_waits_for_its_service_and_is_told_to_its_team() -> None:
    """r16: the node's incident waited for orders-db's to join it (node-settles-for-its-workloads) and
    paged orders-db's team, once; orders-db's page was resolved as it joined."""
    name = "incident-node-settles-for-orders-db@r16"
    scheduled, patches = commands(name)
    assert NODE_SETTLES_PATCH in patches and scheduled == ["notify.plan", "notify.chat_post", "notify.page"]
    assert "orders-db" in _started_with(name)["service"]["hosts"]
    (page,) = _activity_inputs(name, "notify.page")
    assert (page["action"], page["routing_key_name"]) == ("trigger", "data-platform")
    state = await _replayed_state(name)
    assert state.hosts_route and state.owner is not None and state.owner.name == "orders-db"
    assert "incident-orders-db" in state.absorbed
    joined = "incident-orders-db-joins-its-node@r16"
    assert [p["action"] for p in _activity_inputs(joined, "notify.page")] == ["trigger", "resolve"]
    assert (await _replayed_state(joined)).merged_into == _started_with(name)["incident_id"]


async def test_the_r16_names_history_names_the_people_outside_slack() -> None:
    """r16: an ack and a false-positive mark from Slack carried the people's names beside their ids; the
    incident kept them (names) and wrote them, not the ids, to Teams, the pager's notes and Jira."""
    name = "incident-orders-db-slack-named@r16"
    ((verb, ack),) = _updates(name)
    assert (verb, ack["actor"], ack["actor_name"]) == ("acknowledge", "U0BOB", "Bob Smith")
    (mark,) = [
        _payload(e.workflow_execution_signaled_event_attributes.input)
        for e in _history(name).events
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == "false_positive"
    ]
    assert (mark["actor"], mark["actor_name"]) == ("U0ERIN", "Erin Hale")
    state = await _replayed_state(name)
    assert state.names == {"U0BOB": "Bob Smith", "U0ERIN": "Erin Hale"}
    assert state.acknowledged_by == "U0BOB" and state.false_positives[0].actor == "U0ERIN"
    said = [
        a["text"]
        for activity in ("notify.chat_note", "notify.pager_note", "notify.jira_comment")
        for a in _activity_inputs(name, activity)
    ]
    assert "Acknowledged by Bob Smith (slack)." in said
    assert "Erin Hale marked PostgresDown as a false positive: a failover drill." in said
    assert not [text for text in said if "U0BOB" in text or "U0ERIN" in text], said


R16_PATCHED = {
    "incident-orders-db-jira-reopened@r16": JIRA_REOPEN_PATCH,
    "incident-orders-db-jira-priority@r16": JIRA_PRIORITY_PATCH,
    "incident-orders-db-plan-raced@r16": PLANNED_PRIORITY_PATCH,
    "incident-node-settles-for-orders-db@r16": NODE_SETTLES_PATCH,
}


@pytest.mark.parametrize(("name", "patch"), R16_PATCHED.items(), ids=list(R16_PATCHED.values()))
async def test_an_r16_history_needs_its_patch(name: str, patch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each r16 history took its patch's branch: today's code asking ``workflow.patched`` as always (the
    marker is matched) but taking the branch from before for that patch alone does not replay it: the
    marked branch's commands are in the history. (Not asking at all would fail on the unmatched marker,
    which any history holding the marker does, whether its run took the branch or not.)"""
    patched = workflow.patched
    off = ["no-such-patch"]  # first a control: the wrapper alone changes nothing
    monkeypatch.setattr(workflow, "patched", lambda asked: patched(asked) and asked not in off)

    async def replayed() -> BaseException | None:
        replayer = Replayer(
            workflows=WORKFLOWS,
            data_converter=pydantic_data_converter,
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        return (await replayer.replay_workflow(_history(name), raise_on_replay_failure=False)).replay_failure

    assert await replayed() is None
    off[:] = [patch]
    failure = await replayed()
    assert failure is not None, f"{name} replays taking the branch from before {patch}"
    assert "Nondeterminism" in str(failure) and f"change {patch}," not in str(failure), failure


# ---- r17: approvals told in Teams and Opsgenie, the postmortem to merged channels, incidents per cluster --


async def test_the_r17_approval_history_tells_teams_and_opsgenie_how_to_decide() -> None:
    """r17 (tests/workflow/r17_history.py): a remediation's request for approval and its decision were
    told past the patch (approvals-told) in the Teams channel and on the Opsgenie alert, the request saying
    how to decide without a button; approved through the API, the step acted and was verified."""
    name = "incident-checkout-approval-told@r17"
    scheduled, patches = commands(name)
    assert APPROVALS_TOLD_PATCH in patches
    assert scheduled.index("notify.page") < scheduled.index("notify.pager_note")
    chats = [a for a in _activity_inputs(name, "notify.chat_note") if a["target"]["kind"] == "teams"]
    notes = [a["text"] for a in _activity_inputs(name, "notify.pager_note")]
    for said in ([a["text"] for a in chats], notes):
        (asked,) = [t for t in said if "POST /remediations/remediate-deployment-shop-checkout-" in t]
        assert "Approval requested" in asked and "MEDIC_OPERATOR_TOKEN" in asked, asked
        assert any("Approved by api:operator-token" in t for t in said), said
    assert {a["target"]["channel"] for a in chats} == {"checkout-oncall"}
    state = await _replayed_state(name)
    told = [(e.kind, e.data.get("told")) for e in state.timeline if e.kind in APPROVAL_KINDS]
    assert told == [("approval.requested", True), ("approval.granted", True)], told
    assert state.status is IncidentStatus.RESOLVED
    assert [t.outcome for t in state.remediations.values()] == ["verified"]
    remediation = "remediate-checkout-approval-told@r17"
    assert [(verb, r["actor"]) for verb, r in _updates(remediation)] == [("decide", "api:operator-token")]
    scheduled, _ = commands(remediation)
    assert scheduled.count("remediate.apply") == 1 and scheduled[-1] == "remediate.verify"


async def test_the_r17_merged_postmortem_history_tells_the_merged_channel() -> None:
    """r17: checkout's incident (its Teams card in web-oncall) merged into orders-db's, which kept the card
    (merged_chats) and, past the patch (postmortem-to-merged), posted its postmortem there too, once."""
    name = "incident-orders-db-postmortem-to-merged@r17"
    scheduled, patches = commands(name)
    assert POSTMORTEM_TO_MERGED_PATCH in patches and "postmortem_write" in scheduled
    told = [
        a
        for a in _activity_inputs(name, "notify.chat_note")
        if a["text"].startswith("Postmortem of incident-orders-db, which this incident merged into: ")
    ]
    assert [(a["target"]["kind"], a["target"]["channel"]) for a in told] == [("teams", "web-oncall")], told
    assert told[0]["link_url"]
    state = await _replayed_state(name)
    n = state.notifications
    assert "teams:web-oncall" in n.merged_chats and "teams:web-oncall" not in n.chat
    assert state.absorbed == ["incident-checkout"] and state.status is IncidentStatus.RESOLVED
    merged = await _replayed_state("incident-checkout-merged-into-orders-db@r17")
    assert merged.merged_into == "incident-orders-db" and "teams:web-oncall" in merged.notifications.chat


ASKED_BEFORE = "incident-checkout-approval-asked-before@r17"


def _scheduled_at(name: str, activity: str) -> list[int]:
    """The event ids at which the recorded run scheduled ``activity``."""
    return [
        e.event_id
        for e in _history(name).events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]


async def test_the_r17_asked_before_history_notes_and_follows_up_the_request_once() -> None:
    """r17 (approvals-asked-before): a remediation asked for approval before any worker ran, so before
    checkout's first Opsgenie page and its Teams card; still waiting when they went, the request was noted
    on the page and followed up under the card, once each (both began after it before the patch: never
    told); then approved, told the same way; the alert resolved and the incident closed."""
    scheduled, patches = commands(ASKED_BEFORE)
    assert {APPROVALS_ASKED_BEFORE_PATCH, APPROVALS_TOLD_PATCH} <= patches, patches
    (asked_at,) = [
        e.event_id
        for e in _history(ASKED_BEFORE).events
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == REMEDIATION_EVENT
        and "Approval requested" in _payload(e.workflow_execution_signaled_event_attributes.input)["message"]
    ]
    (card_at,) = _scheduled_at(ASKED_BEFORE, "notify.chat_post")
    page_at = _scheduled_at(ASKED_BEFORE, "notify.page")[0]
    assert asked_at < min(card_at, page_at), (asked_at, card_at, page_at)  # asked before either went
    how = "POST /remediations/remediate-deployment-shop-checkout-5e7a11d0/decision"
    chats = [a for a in _activity_inputs(ASKED_BEFORE, "notify.chat_note") if a["target"]["kind"] == "teams"]
    notes = [a["text"] for a in _activity_inputs(ASKED_BEFORE, "notify.pager_note")]
    requests = [t for t in [a["text"] for a in chats] if how in t]
    noted = [t for t in notes if how in t]
    assert len(requests) == 1 and len(noted) == 1, (requests, noted)
    assert requests == noted and "MEDIC_OPERATOR_TOKEN" in noted[0], noted
    # the request's note and follow-up came after the page and the card they were held back for
    chat_notes = _scheduled_at(ASKED_BEFORE, "notify.chat_note")
    pager_notes = _scheduled_at(ASKED_BEFORE, "notify.pager_note")
    assert chat_notes[[how in a["text"] for a in chats].index(True)] > card_at
    assert pager_notes[[how in t for t in notes].index(True)] > page_at
    for said in ([a["text"] for a in chats], notes):
        assert sum("Approved by api:operator-token" in t for t in said) == 1, said
    assert {a["target"]["channel"] for a in chats} == {"checkout-oncall"}
    assert scheduled.count("notify.page") == 2 and "postmortem_write" in scheduled  # trigger, resolve
    state = await _replayed_state(ASKED_BEFORE)
    told = [(e.kind, e.data.get("told")) for e in state.timeline if e.kind in APPROVAL_KINDS]
    assert told == [("approval.requested", True), ("approval.granted", True)], told
    kinds = [e.kind for e in state.timeline]
    assert kinds.index("approval.requested") < kinds.index("notification.sent"), kinds
    n = state.notifications
    assert n.note_backlog == [] and all(not posted.backlog for posted in n.chat.values()), n
    assert state.status is IncidentStatus.RESOLVED


async def test_the_r17_asked_before_history_needs_its_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The asked-before history took the patch's branch: with an unrelated patch off (this release's
    postmortem-to-merged, not asked by it) it replays; with approvals-asked-before off (the request neither
    noted on the page nor followed up under the card) it does not. The approval-told history, asked after
    the page, replays with approvals-asked-before off (it never asked it)."""
    patched = workflow.patched
    off = ["no-such-patch"]
    monkeypatch.setattr(workflow, "patched", lambda asked: patched(asked) and asked not in off)
    assert await _replay_failure(ASKED_BEFORE) is None
    off[:] = [POSTMORTEM_TO_MERGED_PATCH]
    assert await _replay_failure(ASKED_BEFORE) is None, f"{ASKED_BEFORE} needs {off}"
    off[:] = [APPROVALS_ASKED_BEFORE_PATCH]
    assert await _replay_failure("incident-checkout-approval-told@r17") is None
    failure = await _replay_failure(ASKED_BEFORE)
    assert failure is not None, f"{ASKED_BEFORE} replays taking the branch from before {off}"
    assert "Nondeterminism" in str(failure) and f"change {APPROVALS_ASKED_BEFORE_PATCH}," not in str(failure)


def _signalled(name: str) -> list[str]:
    """The workflow ids the recorded run signalled (hellos, merges)."""
    return [
        e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id
        for e in _history(name).events
        if e.HasField("signal_external_workflow_execution_initiated_event_attributes")
    ]


def _memo_titles(name: str) -> list[str]:
    """The titles the recorded run published in its memo, in order."""
    titles: list[str] = []
    for e in _history(name).events:
        if e.HasField("workflow_properties_modified_event_attributes"):
            fields = e.workflow_properties_modified_event_attributes.upserted_memo.fields
            if "title" in fields:
                titles.append(json.loads(fields["title"].data))
    return titles


async def test_the_r17_cluster_histories_stay_in_their_cluster() -> None:
    """r17 (MEDIC_INCIDENTS_PER_CLUSTER, MEDIC_CLUSTER prod-eu with its own locks): prod-eu's checkout
    incident said hello to prod-eu's orders-db incident only, which absorbed it and was titled "in
    prod-eu"; checkout's runbook ran under a plan carrying the cluster: its workflow id (the lock) and its
    hourly budget are prod-eu's."""
    root, symptom = "incident-prod-eu--orders-db@r17", "incident-prod-eu--checkout@r17"
    for name in (root, symptom):
        started = _started_with(name)
        assert started["service"]["cluster"] == "prod-eu", started["service"]
        assert started["incident_id"] == name.removesuffix("@r17")
    targets = _signalled(symptom)
    assert "incident-prod-eu--orders-db" in targets, targets
    assert all(t.startswith("incident-prod-eu--") for t in [*targets, *_signalled(root)]), targets
    assert _memo_titles(root)[-1] == "PostgresDown on orders-db in prod-eu (+1 more service)"
    state = await _replayed_state(root)
    assert state.absorbed == ["incident-prod-eu--checkout"] and state.status is IncidentStatus.RESOLVED
    (remediation_id,) = state.remediations
    assert remediation_id.startswith("remediate-prod-eu-deployment-shop-checkout-"), remediation_id
    assert state.remediations[remediation_id].outcome == "verified"
    (child,) = [
        e.start_child_workflow_execution_initiated_event_attributes
        for e in _history(root).events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert child.workflow_id == remediation_id and _payload(child.input)["plan"]["cluster"] == "prod-eu"
    assert (await _replayed_state(symptom)).merged_into == "incident-prod-eu--orders-db"
    remediation = "remediate-prod-eu-checkout@r17"
    plan = _started_with(remediation)["plan"]
    assert plan["cluster"] == "prod-eu"
    reserved = {r["key"] for r in _activity_inputs(remediation, "remediate.reserve")}
    assert reserved == {budget_key(plan["service"], "shop", "prod-eu")}, reserved  # service:...@prod-eu
    scheduled, _ = commands(remediation)
    assert scheduled.count("remediate.apply") == 1
    budget = _history("action-budget-prod-eu-orders-db@r17")
    budget_type = budget.events[0].workflow_execution_started_event_attributes.workflow_type.name
    assert budget_type == "MedicActionBudgetWorkflow"
    updates = [r["key"] for verb, r in _updates("action-budget-prod-eu-orders-db@r17") if verb == "reserve"]
    assert updates and set(updates) == reserved, updates


async def _replay_failure(name: str) -> BaseException | None:
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    return (await replayer.replay_workflow(_history(name), raise_on_replay_failure=False)).replay_failure


R17_PATCHED = {
    "incident-checkout-approval-told@r17": APPROVALS_TOLD_PATCH,
    "incident-orders-db-postmortem-to-merged@r17": POSTMORTEM_TO_MERGED_PATCH,
}


@pytest.mark.parametrize(("name", "patch"), R17_PATCHED.items(), ids=list(R17_PATCHED.values()))
async def test_an_r17_history_needs_its_patch(name: str, patch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As for r16: each r17 history took its patch's branch. Controls first: no patch off, then this
    release's other patch off (not asked by this history): it replays; then its own off: it does not."""
    patched = workflow.patched
    off = ["no-such-patch"]
    monkeypatch.setattr(workflow, "patched", lambda asked: patched(asked) and asked not in off)
    assert await _replay_failure(name) is None
    off[:] = [p for p in R17_PATCHED.values() if p != patch]
    assert await _replay_failure(name) is None, f"{name} needs {off}"
    off[:] = [patch]
    failure = await _replay_failure(name)
    assert failure is not None, f"{name} replays taking the branch from before {patch}"
    assert "Nondeterminism" in str(failure) and f"change {patch}," not in str(failure), failure


R17_CLUSTER = [
    "incident-prod-eu--orders-db@r17",
    "incident-prod-eu--checkout@r17",
    "remediate-prod-eu-checkout@r17",
    "action-budget-prod-eu-orders-db@r17",
]


@pytest.mark.parametrize("name", R17_CLUSTER)
async def test_the_r17_cluster_histories_ask_neither_new_patch(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Incidents per cluster have no patch (only incidents begun with the setting carry a cluster): their
    histories replay with this release's patches off, and hold none of their markers."""
    r17 = {*R17_PATCHED.values(), APPROVALS_ASKED_BEFORE_PATCH}
    _, patches = commands(name)
    assert not patches & r17, patches
    patched = workflow.patched
    monkeypatch.setattr(workflow, "patched", lambda asked: patched(asked) and asked not in r17)
    assert await _replay_failure(name) is None


# ---- a rolling upgrade: a new worker's snapshot, an old worker's decision ------------------------------


def _with_a_claim_in_its_snapshot(history: dict[str, Any]) -> int:
    """Put a GitOps claim into every remediate.snapshot result, as a worker of this release returns it,
    in a history an older worker's workflow code wrote (it acted on it). How many it changed."""
    snapshots = {
        event["eventId"]
        for event in history["events"]
        if event.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "remediate.snapshot"
    }
    changed = 0
    for event in history["events"]:
        done = event.get("activityTaskCompletedEventAttributes")
        if not done or done["scheduledEventId"] not in snapshots:
            continue
        payload = done["result"]["payloads"][0]
        body = json.loads(base64.b64decode(payload["data"]))
        body[RECONCILED_BY] = Claim(
            reconciler="Argo CD Application argocd/checkout",
            fields=["spec.replicas"],
            certain=True,
            reason="automated sync with self-heal",
            remedy="Change it in Git.",
        ).model_dump(mode="json")
        payload["data"] = base64.b64encode(json.dumps(body).encode()).decode()
        changed += 1
    return changed


async def test_a_claim_an_older_worker_did_not_heed_replays_as_it_acted() -> None:
    """Found by review: old and new workers run side by side during a rolling upgrade. A new worker's
    snapshot names a reconciler, an old worker's workflow task ignores it and acts; a new worker replaying
    that history must act too (not refuse: a nondeterminism error would stop the remediation for good)."""
    path = HISTORIES / "remediate-deployment-shop-checkout-2b1bb843@r10.json"
    history = json.loads(path.read_text())
    assert _with_a_claim_in_its_snapshot(history) >= 1
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, history), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
