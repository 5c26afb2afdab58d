"""An SLO team paged through Opsgenie (one integration, one API key, per routing key): each escalation
level reaches its own integration with an alert of its own; acks, closes and notes follow the alias each
alert was opened with. Found by a field walk-through."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from medic.alerts import AlertStatus
from service.worker import WORKFLOWS
from tests.workflow.opsgenie_stack import INCIDENT, KEYS, T0, OpsgenieStack, batch, burn, opsgenie_stack
from tests.workflow.test_notifications import until
from workflows.incident import AckRequest, IncidentWorkflow
from workflows.notifier import Notifier

__all__ = ["opsgenie_stack"]


async def test_each_level_gets_its_own_alert(opsgenie_stack: OpsgenieStack) -> None:
    s = opsgenie_stack
    async with s.worker:
        handle = await s.open(batch(burn()))
        await until(handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "level 1")
        await s.env.sleep(timedelta(minutes=6))
        await until(
            handle, lambda st: st.notifications.pages.get("checkout-secondary") == "trigger", "level 2"
        )
        await s.env.sleep(timedelta(minutes=10))
        state = await until(
            handle, lambda st: st.notifications.pages.get("eng-managers") == "trigger", "level 3"
        )
        # one alert per integration, each created once (Opsgenie had folded levels 2 and 3 into
        # the first: count 3)
        alerts = {a.alias: a for a in s.opsgenie.alerts()}
        assert sorted(alerts) == [INCIDENT, f"{INCIDENT}:checkout-secondary", f"{INCIDENT}:eng-managers"]
        assert all(a.count == 1 and a.log[0] == "created" for a in alerts.values())
        assert s.creates_by_key() == list(KEYS.values())
        assert state.notifications.aliases == {
            "checkout-secondary": f"{INCIDENT}:checkout-secondary",
            "eng-managers": f"{INCIDENT}:eng-managers",
        }
        await handle.signal(
            IncidentWorkflow.alerts, batch(burn(AlertStatus.RESOLVED), at=T0 + timedelta(minutes=20))
        )
        await handle.result()
    alerts = {a.alias: a for a in s.opsgenie.alerts()}
    assert [a.status for a in alerts.values()] == ["closed"] * 3
    # each close went to the alert its key opened, with that key
    closes = sorted(
        (r.path.split("/")[3], r.headers["authorization"].removeprefix("GenieKey "))
        for r in s.opsgenie.requests("POST /v2/alerts/{identifier}/close")
    )
    assert closes == sorted(
        [
            (INCIDENT, KEYS["checkout"]),
            (f"{INCIDENT}:checkout-secondary", KEYS["checkout-secondary"]),
            (f"{INCIDENT}:eng-managers", KEYS["eng-managers"]),
        ]
    )
    # level 3's note reached the alerts already open, once each (the alert level 3 opened may have it
    # too, or not: whether its note pass came before or after its page; it is that escalation itself)
    level3 = [a.alias for a in alerts.values() for n in a.notes if n.startswith("Escalation level 3")]
    assert len(level3) == len(set(level3))
    assert {INCIDENT, f"{INCIDENT}:checkout-secondary"} <= set(level3)


async def test_an_incident_paged_before_per_key_aliases_tells_its_one_alert_once(
    opsgenie_stack: OpsgenieStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incident open across the deploy paged both levels under the incident id (before
    pager-alias-per-key): one alert, which gets each note, the acknowledgement and the close once, not once
    per routing key."""
    s = opsgenie_stack
    monkeypatch.setattr(Notifier, "_alias", lambda self, action, key: None)  # the alias as before
    worker = Worker(
        s.env.client,
        task_queue=f"{s.task_queue}-before",
        workflows=WORKFLOWS,
        activities=s.activities,
        activity_executor=ThreadPoolExecutor(4),
        workflow_runner=UnsandboxedWorkflowRunner(),  # so the monkeypatch reaches the workflow
    )
    async with worker:
        handle = await s.open(batch(burn()), task_queue=f"{s.task_queue}-before")
        await s.env.sleep(timedelta(minutes=6))
        await until(
            handle, lambda st: st.notifications.pages.get("checkout-secondary") == "trigger", "level 2"
        )
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="alice", source="slack"))
        await until(handle, lambda st: set(st.notifications.pages.values()) == {"acknowledge"}, "acks")
        await handle.signal(
            IncidentWorkflow.alerts, batch(burn(AlertStatus.RESOLVED), at=T0 + timedelta(minutes=10))
        )
        await handle.result()
    (alert,) = s.opsgenie.alerts()
    assert alert.alias == INCIDENT and alert.count == 2 and alert.status == "closed"
    assert len(alert.notes) == len(set(alert.notes)), alert.notes
    assert "Acknowledged by alice (slack)." in alert.notes
    assert s.opsgenie.count("POST /v2/alerts/{identifier}/acknowledge") == 1
    assert s.opsgenie.count("POST /v2/alerts/{identifier}/close") == 1


async def test_a_first_page_that_failed_for_good_is_sent_again(opsgenie_stack: OpsgenieStack) -> None:
    """Opsgenie throttles every attempt of the primary's trigger (all 8): the failure
    names Opsgenie and is told in Teams; a minute on the page is sent again and goes through, before the
    secondary is paged, and Teams hears that too."""
    s = opsgenie_stack
    # Opsgenie's seconds bucket (X-RateLimit-Period-In-Sec 1, no Retry-After) throttles every attempt
    s.opsgenie.faults.push("rate_limit", times=8, retry_after=1, route="POST /v2/alerts")
    async with s.worker:
        handle = await s.open(batch(burn()))
        await s.env.sleep(timedelta(minutes=3, seconds=30))  # 8 attempts, ~2 min; sent again a minute on
        state = await until(
            handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "sent again"
        )
        (failed,) = [e for e in state.timeline if e.kind == "notification.failed"]
        assert failed.message.startswith("Could not trigger Opsgenie (checkout): Opsgenie unavailable")
        again = next(
            e
            for e in state.timeline
            if e.message == "Opsgenie trigger sent to checkout, after it had failed."
        )
        assert timedelta(seconds=60) <= again.at - failed.at < timedelta(seconds=70)
        assert "checkout-secondary" not in state.notifications.pages
        assert state.notifications.failed_pages == [] and state.notifications.page_retry_at is None
        await until(
            handle,
            lambda st: all(p.cursor == len(st.timeline) for p in st.notifications.chat.values()),
            "told",
        )
        await handle.terminate()
    assert [a.alias for a in s.opsgenie.alerts()] == [INCIDENT]
    texts = s.teams_texts()
    assert any(t.startswith("Could not trigger Opsgenie (checkout)") for t in texts), texts
    assert "Opsgenie trigger sent to checkout, after it had failed." in texts, texts
    failure = next(i for i, t in enumerate(texts) if t.startswith("Could not trigger Opsgenie (checkout)"))
    assert texts.index("Opsgenie trigger sent to checkout, after it had failed.") > failure


async def test_a_failed_page_is_sent_again_at_the_next_change(opsgenie_stack: OpsgenieStack) -> None:
    """Opsgenie answers 503 to every attempt of the first trigger; the incident's next change (a new alert
    joins) sends it again, without waiting for the timer."""
    s = opsgenie_stack
    s.opsgenie.faults.push("server_error", times=8, status=503, route="POST /v2/alerts")
    async with s.worker:
        handle = await s.open(batch(burn()))
        await s.env.sleep(timedelta(minutes=2, seconds=10))
        await until(handle, lambda st: "checkout" in st.notifications.failed_pages, "the failure")
        other = burn().model_copy(update={"fingerprint": "latency-page"})
        await handle.signal(IncidentWorkflow.alerts, batch(other, at=T0 + timedelta(minutes=2)))
        state = await until(
            handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "sent again"
        )
        assert state.notifications.failed_pages == []
        await handle.terminate()
    assert [a.alias for a in s.opsgenie.alerts()] == [INCIDENT]


async def test_a_failed_page_is_sent_again_in_one_attempt_at_each_turn_of_its_timer(
    opsgenie_stack: OpsgenieStack,
) -> None:
    """Sent again with the 8 attempts of a first page, a resend against a throttling Opsgenie ran for
    minutes: it paged the primary after the incident was acknowledged, and held the notifier's pass (a
    review, 2026-12-07). One attempt at each turn of its timer; the timer does the backing off."""
    s = opsgenie_stack
    s.opsgenie.faults.push("server_error", times=200, status=503, route="POST /v2/alerts")
    async with s.worker:
        handle = await s.open(batch(burn()))
        await s.env.sleep(timedelta(minutes=2, seconds=10))  # the first page's 8 attempts, given up
        await until(handle, lambda st: "checkout" in st.notifications.failed_pages, "the failure")
        first = len(s.opsgenie.requests("POST /v2/alerts"))
        await s.env.sleep(timedelta(seconds=70))  # the retry timer's first turn (a minute)
        await until(
            handle,
            lambda st: sum(e.kind == "notification.failed" for e in st.timeline) >= 2,
            "the resend failed too",
        )
        assert len(s.opsgenie.requests("POST /v2/alerts")) - first == 1
        await handle.terminate()
