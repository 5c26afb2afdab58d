"""Slack as one chat among others (issue 15, patch ``slack-as-card-chat``), on the time-skipping server
with in-memory notifiers: Slack receives what it did before (one message per channel with its buttons,
edited in place, the timeline in its thread) through ``notify.chat_*``; an incident carried over from a
run before the patch (its state in r5's shape) keeps editing the message it had posted; an escalation
level that names a Teams channel posts the card there once (patch ``escalation-chat-channels``)."""

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from medic.alerts import AlertStatus
from medic.keys import service_incident_id
from medic.routing import load_routing
from tests.support.before_cards import notifications_as_r5
from tests.support.history import scheduled_and_patches
from tests.support.shop import ctx, shop
from tests.workflow.test_notifications import Harness, harness, open_incident, outage, until
from workflows.incident import AckRequest, IncidentResult, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared with test_notifications

INCIDENT = service_incident_id("orders-db")
BUTTONS = ["medic_ack", "medic_resolve", "medic_silence", "medic_false_positive", "medic_kill_switch"]


async def activities_and_patches(handle: WorkflowHandle[Any, Any]) -> tuple[list[str], set[str]]:
    """The activities a run scheduled, in order, and the patches it marked."""
    return scheduled_and_patches(await handle.fetch_history())


def buttons(blocks: list[dict[str, Any]]) -> list[object]:
    actions = [b for b in blocks if b.get("type") == "actions"]
    return [e["action_id"] for b in actions for e in b["elements"]]


async def test_slack_gets_its_message_edits_and_thread_through_the_card_chat(harness: Harness) -> None:
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.jira_key is not None, "the first notifications")
        await h.env.sleep(timedelta(minutes=5, seconds=5))  # level 2 adds #war-room (Slack)
        await until(handle, lambda s: "#war-room" in s.notifications.messages("slack"), "the war room")
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="alice", source="slack"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        await handle.result()
        state = await handle.query(IncidentWorkflow.state)
        scheduled, patches = await activities_and_patches(handle)
    refs = state.notifications.messages("slack")
    home, war_room = refs["#data-oncall"].id, refs["#war-room"].id
    assert [channel for channel, _ in h.chat.top_level()] == ["#data-oncall", "#war-room"]
    assert buttons(h.chat.versions[home][0].blocks) == BUTTONS
    # Edited in place, never posted again: every edit is to one of the two messages.
    assert {ts for _, ts, _ in h.chat.updates} == {home, war_room}
    assert any("ack by alice" in message.text for message in h.chat.versions[home])
    assert h.chat.versions[home][-1].text.startswith(":white_check_mark:")
    assert buttons(h.chat.versions[home][-1].blocks) == []  # resolved: nothing left to press
    # The timeline in the first message's thread only.
    assert {thread for _, _, thread in h.chat.posts if thread} == {home}
    thread = h.chat.thread()
    assert "Escalation level 2: paging data-2." in thread and "Acknowledged by alice (slack)." in thread
    assert len(thread) == len(set(thread))
    assert [t for t in thread if t.startswith(":memo: Postmortem: ")] == [thread[-1]]
    assert {"notify.chat_post", "notify.chat_update", "notify.chat_note"} <= set(scheduled)
    assert not [name for name in scheduled if name.startswith("notify.slack")]
    assert "slack-as-card-chat" in patches and "escalation-chat-channels" not in patches


async def test_an_incident_carried_from_before_keeps_editing_its_slack_message(harness: Harness) -> None:
    """The state a run from before the patch carries into its next run (continue-as-new) names its
    Slack message the old way; the next run edits that message and replies in its thread."""
    h = harness
    async with h.worker():
        first = await open_incident(h)
        before = await until(
            first,
            lambda s: (
                s.notifications.pages.get("data") == "trigger"
                and "#data-oncall" in s.notifications.messages("slack")
            ),
            "the first message and page",
        )
        await first.terminate("carried on by the next run")
        posted = before.notifications.messages("slack")["#data-oncall"]
        carried = before.model_dump(mode="json")
        carried["notifications"] = notifications_as_r5(carried["notifications"])
        assert carried["notifications"]["slack"] == {
            "#data-oncall": {"channel": posted.channel, "ts": posted.id}
        }
        updates_before = len(h.chat.updates)
        handle = await h.env.client.start_workflow(
            "IncidentWorkflow",
            {
                "incident_id": INCIDENT,
                "service": ctx("orders-db").model_dump(mode="json"),
                "quiet_period_seconds": 60,
                "remediate": False,
                "state": carried,
            },
            id=INCIDENT,
            task_queue=h.task_queue,
            result_type=IncidentResult,
        )
        state = await until(handle, lambda s: bool(s.notifications.chat), "the carried state")
        assert state.notifications.messages("slack") == {"#data-oncall": posted}
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="bob", source="slack"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        await handle.result()
        scheduled, patches = await activities_and_patches(handle)
    assert len(h.chat.top_level()) == 1, "the message from before, never a second one"
    after = h.chat.updates[updates_before:]
    assert after and {ts for _, ts, _ in after} == {posted.id}
    assert any("ack by bob" in text for _, _, text in after)
    assert after[-1][2].startswith(":white_check_mark:")
    replies = [(text, thread) for _, text, thread in h.chat.posts if thread]
    assert ("Acknowledged by bob (slack).", posted.id) in replies
    assert {thread for _, thread in replies} == {posted.id}
    assert "notify.chat_post" not in scheduled and "notify.chat_update" in scheduled
    assert "slack-as-card-chat" in patches


ESCALATING = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data, secondary: data-2}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary], teams_channels: [ops-bridge]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, escalation: critical}
  - {name: rest}
""",
    catalog=shop(),
)


async def test_an_escalation_level_posts_the_card_to_its_teams_channel_once(harness: Harness) -> None:
    h = harness
    h.policy = ESCALATING
    async with h.worker(cache=False):
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        assert h.teams.cards == []  # Teams only from level 2 on
        await h.env.sleep(timedelta(minutes=5, seconds=5))
        await until(handle, lambda s: "teams:ops-bridge" in s.notifications.chat, "level 2's Teams card")
    async with h.worker(cache=False):  # another worker replays all of it: nothing is posted again
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="carol", source="slack"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        await handle.result()
        _, patches = await activities_and_patches(handle)
    assert [(channel, card.incident_id, card.status) for channel, card in h.teams.cards] == [
        ("ops-bridge", INCIDENT, "open")
    ]
    notes = h.teams.notes_in("ops-bridge")
    assert len(notes) == len(set(notes)), notes
    assert "Acknowledged by carol (slack)." in notes
    assert "Escalation level 2: paging data-2." not in notes  # the card came with it
    assert sum(n.startswith("Resolved") for n in notes) == 1
    assert [n for n in notes if n.startswith("Postmortem: ")] == [notes[-1]]
    assert [channel for channel, _ in h.chat.top_level()] == ["#data-oncall"]  # the level names no Slack
    assert "escalation-chat-channels" in patches
