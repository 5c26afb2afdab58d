"""Chats besides Slack (Teams) and pager notes (Opsgenie) on the time-skipping server with in-memory
notifiers: the card once per channel, one follow-up per status change, a merged incident's channel told
"merged into X" once, and notes on the pager's alert once per timeline entry across a worker restart."""

import asyncio
import threading
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from medic.alerts import AlertStatus
from medic.keys import service_incident_id
from medic.routing import load_routing
from tests.support.fakes import FakeOpsgenie
from tests.support.shop import ctx, shop
from tests.workflow.test_cascade_notifications import CHECKOUT, ORDERS_DB, errors, resolve_all
from tests.workflow.test_cascade_notifications import open_incident as open_settling
from tests.workflow.test_long_incident import has_alerts, replica_down
from tests.workflow.test_notifications import Harness, harness, open_incident, outage, until
from workflows.incident import ALERTS_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared with test_notifications

TEAMS_POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data, secondary: data-2, manager: boss}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, escalation: critical, teams_channels: [oncall]}
  - {name: p2, match: {priority: [P2]}, pagerduty: true, teams_channels: [oncall]}
  - {name: rest, teams_channels: [oncall]}
""",
    catalog=shop(),
)


async def test_teams_gets_the_card_once_and_a_follow_up_per_status_change(harness: Harness) -> None:
    h = harness
    h.policy = TEAMS_POLICY
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: "teams:oncall" in s.notifications.chat, "the Teams card")
        await h.env.sleep(timedelta(minutes=5, seconds=5))
        await until(handle, lambda s: s.notifications.escalation_done == 2, "level 2")
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="alice", source="slack"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        await handle.result()
    assert [(channel, card.incident_id) for channel, card in h.teams.cards] == [
        ("oncall", "incident-orders-db")
    ]
    notes = h.teams.notes_in("oncall")
    assert len(notes) == len(set(notes)), notes  # nothing posted twice
    assert "Escalation level 2: paging data-2." in notes
    assert "Acknowledged by alice (slack)." in notes
    assert sum(n.startswith("Resolved") for n in notes) == 1
    assert [text for text in notes if "Postmortem" in text] == [notes[-1]]
    assert h.teams.notes[-1][2]  # the postmortem's link
    # Slack is told as before, and the Teams posts are on the timeline.
    assert len(h.chat.top_level()) == 1


async def test_a_merged_incidents_teams_channel_is_told_merged_into_once(harness: Harness) -> None:
    h = harness
    h.policy = TEAMS_POLICY
    async with h.worker():
        symptom = await open_settling(h, "checkout", errors())
        await until(symptom, lambda s: "teams:oncall" in s.notifications.chat, "checkout's Teams card")
        root = await open_settling(h, "orders-db", outage())
        await until(root, lambda s: CHECKOUT in s.absorbed, "orders-db absorbing checkout")
        await until(symptom, lambda s: s.notifications.finished, "checkout closed out")
        await h.env.sleep(timedelta(minutes=30))
        await resolve_all(h, root)
    cards = [card.incident_id for _, card in h.teams.cards]
    assert sorted(cards) == sorted([CHECKOUT, ORDERS_DB])
    notes = h.teams.notes_in("oncall")
    assert [n for n in notes if n.startswith("Merged into")] == [
        f"Merged into {ORDERS_DB}, which shares its cause; new alerts for it go there."
    ]
    # The cause absorbed it while settling: its card, posted after, shows it; no follow-up repeats it.
    assert sum(n.startswith(f"Merged {CHECKOUT}") for n in notes) <= 1, notes
    assert len(notes) == len(set(notes)), notes
    assert sum(n.startswith("Resolved") for n in notes) == 1  # the cause's; checkout's end was the merge


SPLIT_POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data}
rules:
  - {name: db, match: {service: [orders-db]}, teams_channels: [data-oncall]}
  - {name: rest, teams_channels: [web-oncall]}
""",
    catalog=shop(),
)


async def test_a_merged_incidents_teams_channel_gets_the_postmortem_of_the_incident_it_joined(
    harness: Harness,
) -> None:
    """Its channel ended on "Merged into ..." and never heard of the postmortem, which went only to the
    channels of the incident it joined (a Teams-only walk-through, 2026-12-07; a postmortem reader's
    before it). Its channel gets the link too, once; the cause's channel once, as before."""
    h = harness
    h.policy = SPLIT_POLICY
    async with h.worker():
        symptom = await open_settling(h, "checkout", errors())
        await until(symptom, lambda s: "teams:web-oncall" in s.notifications.chat, "checkout's Teams card")
        root = await open_settling(h, "orders-db", outage())
        await until(root, lambda s: CHECKOUT in s.absorbed, "orders-db absorbing checkout")
        await until(symptom, lambda s: s.notifications.finished, "checkout closed out")
        await h.env.sleep(timedelta(minutes=30))
        await resolve_all(h, root)
    web, data = h.teams.notes_in("web-oncall"), h.teams.notes_in("data-oncall")
    [cause] = [n for n in data if n.startswith("Postmortem")]
    [merged] = [n for n in web if n.startswith("Postmortem")]
    assert cause.startswith("Postmortem: "), data
    assert merged == f"Postmortem of {ORDERS_DB}, which this incident merged into: " + cause.removeprefix(
        "Postmortem: "
    )
    assert (
        web[-1] == merged
        and f"Merged into {ORDERS_DB}, which shares its cause; new alerts for it go there." in web
    )


async def test_opsgenie_notes_and_teams_posts_once_across_a_worker_restart(harness: Harness) -> None:
    h = harness
    pager = FakeOpsgenie()
    h.pager = pager
    h.policy = TEAMS_POLICY
    async with h.worker(cache=False):
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
    async with h.worker(cache=False):
        await h.env.sleep(timedelta(minutes=6))
        await until(handle, lambda s: s.notifications.escalation_done == 2, "level 2 after the restart")
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="bob", source="opsgenie"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await until(
            handle,
            lambda s: s.notifications.note_cursor == len(s.timeline),
            "the notes caught up",
        )
    assert len(pager.notes) == len(set(pager.notes)), pager.notes  # once per entry and alert
    texts = [text for _, _, text in pager.notes]
    assert "Escalation level 2: paging data-2." in texts
    assert ("data", "incident-orders-db", "Acknowledged by bob (opsgenie).") in pager.notes
    # each key's alert under the alias it was opened with (level 2's integration has an alert of its own)
    assert {(key, alias) for key, alias, _ in pager.notes} == {
        ("data", "incident-orders-db"),
        ("data-2", "incident-orders-db:data-2"),
    }
    # Teams across the same restart: the card once, each follow-up once.
    assert len(h.teams.cards) == 1
    notes = h.teams.notes_in("oncall")
    assert len(notes) == len(set(notes)) and "Acknowledged by bob (opsgenie)." in notes


async def test_teams_posts_and_opsgenie_notes_once_across_continue_as_new(harness: Harness) -> None:
    h = harness
    pager = FakeOpsgenie()
    h.pager, h.policy = pager, TEAMS_POLICY
    incident_id = service_incident_id("orders-db")
    alerts = 30
    async with h.worker():
        await h.env.client.start_workflow(
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
        handle: WorkflowHandle[Any, Any] = h.env.client.get_workflow_handle(incident_id)
        await until(handle, lambda s: "teams:oncall" in s.notifications.chat, "the Teams card")
        for i in range(1, alerts):
            await handle.signal(IncidentWorkflow.alerts, replica_down(i))
            await until(handle, has_alerts(i + 1), f"alert {i}")
            if i == alerts // 2:
                # bounded: an update on a run that continues as new waits for the next run
                await asyncio.wait_for(
                    handle.execute_update(
                        IncidentWorkflow.acknowledge, AckRequest(actor="carol", source="slack")
                    ),
                    timeout=150,
                )
        await until(
            handle,
            lambda s: (
                s.notifications.pages.get("data") == "acknowledge"
                and sum(e.kind == "incident.continued" for e in s.timeline) >= 2
                and s.notifications.note_cursor == len(s.timeline)
            ),
            "the ack, two new runs and the notes caught up",
        )
    assert len(h.teams.cards) == 1, "one Teams card across all runs"
    notes = h.teams.notes_in("oncall")
    assert len(notes) == len(set(notes)) and notes.count("Acknowledged by carol (slack).") == 1
    assert len(pager.notes) == len(set(pager.notes))
    assert [text for _, _, text in pager.notes].count("Acknowledged by carol (slack).") == 1


async def test_what_happens_while_the_first_page_is_in_flight_is_noted_on_it(harness: Harness) -> None:
    """Opsgenie slow to take the first page (or down, the trigger retried for minutes): someone acks from
    Slack meanwhile. The notes started where the page *landed*, after the ack, so the alert never said
    who acknowledged it (found by slowing the pager 0.3 s under a test; 2026-12-06). They start where
    the page was sent now."""
    h = harness
    pager = FakeOpsgenie()
    pager.hold = threading.Event()
    h.pager, h.policy = pager, TEAMS_POLICY
    incident_id = service_incident_id("orders-db")
    async with h.worker():
        await h.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=incident_id, service=ctx("orders-db"), quiet_period_seconds=60, remediate=False
            ),
            id=incident_id,
            task_queue=h.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[replica_down(0)],
        )
        handle: WorkflowHandle[Any, Any] = h.env.client.get_workflow_handle(incident_id)
        assert await asyncio.to_thread(pager.held.wait, 30), "the first page never went out"
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="carol", source="slack"))
        pager.hold.set()  # the page lands after the ack
        state = await until(
            handle,
            lambda s: (
                s.notifications.pages.get("data") == "acknowledge"
                and s.notifications.note_cursor == len(s.timeline)
            ),
            "the ack sent and the notes caught up",
        )
    acked = [i for i, e in enumerate(state.timeline) if e.message == "Acknowledged by carol (slack)."]
    sent = [i for i, e in enumerate(state.timeline) if e.message == "PagerDuty trigger sent to data."]
    assert acked and sent and acked[0] < sent[0]  # acknowledged while the page was in flight
    assert [text for _, _, text in pager.notes].count("Acknowledged by carol (slack).") == 1
