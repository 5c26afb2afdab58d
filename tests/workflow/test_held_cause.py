"""Issue 12: a symptom's likely cause fires in Prometheus, but Alertmanager holds its alert (its group's
``group_wait``, or ``group_interval`` when the group was notified before: 5 minutes by default). The
settling symptom has the held alerts handed to the cause's incident at once (``correlate.hand_over_held``
through the webhook's own assignment, ``service.ingest.alert_delivery``): the cause's team is paged now,
the symptom joins it and pages nobody, and the webhook's later delivery of the same alert changes
nothing. Pending-only causes, and an Alertmanager that does not answer, keep the wait of before.
Time-skipping server; Prometheus and Alertmanager are fakes behind the real activities."""

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.correlate import CorrelationActivities
from medic.alerts import HELD_SOURCE, AlertmanagerWebhook, AlertStatus, WebhookAlert
from medic.fingerprint import label_fingerprint
from medic.incident import AlertBatch
from medic.keys import service_incident_id
from medic.ports import TransientError
from medic.topology import ServiceContext
from service.held import held_delivery
from service.settings import Settings
from tests.support.shop import shop
from tests.workflow.test_cascade_notifications import SETTLE, open_incident
from tests.workflow.test_notifications import Handle, Harness, harness, pages
from tests.workflow.test_settle_probe import (
    T0,
    FakePrometheus,
    _batch,
    _open,
    correlation_worker,
    on_dev_server,
    poll,
)
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["harness"]

CAUSE_LABELS = {
    "alertname": "PostgresDown",
    "service": "orders-db",
    "severity": "critical",
    "burn_rate": "20",
}
FIRING = [{**CAUSE_LABELS, "alertstate": "firing"}]


def gettable(labels: dict[str, str]) -> dict[str, Any]:
    """One ``gettableAlert`` as Alertmanager's ``GET /api/v2/alerts`` answers it (api/v2/openapi.yaml)."""
    return {
        "labels": labels,
        "annotations": {"summary": "orders-db is down"},
        "startsAt": T0.isoformat().replace("+00:00", "Z"),
        "endsAt": (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "updatedAt": T0.isoformat().replace("+00:00", "Z"),
        "fingerprint": label_fingerprint(labels),
        "receivers": [{"name": "medic"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "generatorURL": "http://prometheus.example:9090/graph",
    }


class FakeAlertmanager:
    """``GET /api/v2/alerts`` for Medic's receiver, as ``AlertmanagerAlerts.held`` returns it."""

    def __init__(self, items: list[dict[str, Any]], *, down: bool = False) -> None:
        self.items, self.down, self.asked = items, down, 0
        self.env: WorkflowEnvironment | None = None  # its clock is the workflows' (time skips)

    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        self.asked += 1
        if self.down:
            raise TransientError("Alertmanager unreachable")
        # While it fires, Prometheus moves its endsAt on at each evaluation (4 resend delays ahead).
        now = await self.env.get_current_time() if self.env is not None else datetime.now(UTC)
        ends = (now + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
        return [item | {"endsAt": ends} for item in self.items]


class HarnessSink:
    """Signal-with-start as ``TemporalIncidentSink`` does, with the harness' incident options (no
    remediation: this worker runs none); ``ask``: as with MEDIC_ALERTMANAGER_URL."""

    def __init__(self, h: Harness, *, ask: bool = False) -> None:
        self._h, self._ask = h, ask

    async def deliver(
        self, incident_id: str, service: ServiceContext | None, batch: AlertBatch | Any
    ) -> str | None:
        await self._h.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=incident_id,
                service=service,
                quiet_period_seconds=60,
                remediate=False,
                settle_seconds=SETTLE,
                ask_alertmanager=self._ask,
            ),
            id=incident_id,
            task_queue=self._h.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[batch],
        )
        return incident_id


@pytest.fixture
def prometheus() -> FakePrometheus:
    return FakePrometheus(FIRING)


@pytest.fixture
def alertmanager() -> FakeAlertmanager:
    return FakeAlertmanager([gettable(CAUSE_LABELS)])


@pytest.fixture
async def worker(
    harness: Harness, prometheus: FakePrometheus, alertmanager: FakeAlertmanager
) -> AsyncIterator[Harness]:
    alertmanager.env = harness.env
    correlate = CorrelationActivities(
        source=prometheus,
        catalog=shop,
        held=alertmanager,
        deliver=held_delivery(HarnessSink(harness), shop(), Settings(_env_file=None)),
        cache_seconds=0,
    )
    async with correlation_worker(harness, correlate):
        yield harness


async def test_a_held_cause_is_taken_from_alertmanager_and_its_team_paged_now(worker: Harness) -> None:
    h = worker
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: s.merged_into is not None, "checkout joining its cause")
    root = h.env.client.get_workflow_handle(service_incident_id("orders-db"))
    merged = await poll(root, lambda s: service_incident_id("checkout") in s.absorbed, "checkout absorbed")
    assert merged.root_causes[0].service == "orders-db"
    await poll(root, lambda s: bool(s.notifications.pages), "the cause's page")
    # The held alert is the alert the webhook will deliver (the same fingerprint), taken from Alertmanager.
    held = merged.alerts[label_fingerprint(CAUSE_LABELS)]
    assert held.source == HELD_SOURCE and held.ends_at is not None
    # checkout's timeline came along: it saw its cause firing in Prometheus.
    settling = next(e for e in merged.timeline if e.kind == "incident.settling")
    assert "orders-db: PostgresDown (firing)" in settling.message

    # Alertmanager's group_wait passes and the webhook delivers the same alert, its start to the
    # nanosecond where the API answered milliseconds: the same alert and episode, now the webhook's.
    webhook = AlertmanagerWebhook(
        version="4",
        status=AlertStatus.FIRING,
        receiver="medic",
        alerts=[
            WebhookAlert(
                status=AlertStatus.FIRING, labels=CAUSE_LABELS, startsAt=T0 + timedelta(microseconds=456)
            )
        ],
    )
    deliver = held_delivery(HarnessSink(h), shop(), Settings(_env_file=None))
    assert await deliver(webhook, "alertmanager") == [service_incident_id("orders-db")]
    after = await poll(
        root, lambda s: s.alerts[label_fingerprint(CAUSE_LABELS)].source == "alertmanager", "the webhook's"
    )
    record = after.alerts[label_fingerprint(CAUSE_LABELS)]
    assert record.ends_at is None and len(record.episode_starts) == 1 and record.deliveries == 2
    assert not any("fired again" in e.message for e in after.timeline)
    await h.env.sleep(timedelta(minutes=10))  # nothing is due any more: no check, no resolution
    state = await poll(root, lambda s: True, "the state")
    assert state.alerts[label_fingerprint(CAUSE_LABELS)].status is AlertStatus.FIRING
    # Only the cause's team was paged (its escalation levels, unacknowledged); the symptom's never.
    assert {key for _, key in pages(h)} <= {"data", "data-2", "boss"} and pages(h)[0] == ("trigger", "data")


@pytest.mark.parametrize("prometheus", [FakePrometheus([{**CAUSE_LABELS, "alertstate": "pending"}])])
async def test_a_pending_cause_is_not_taken(
    worker: Harness, prometheus: FakePrometheus, alertmanager: FakeAlertmanager
) -> None:
    """A pending alert has not passed its ``for:``: Alertmanager does not hold it, and Medic waits."""
    h = worker
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: any(e.kind == "incident.settling" for e in s.timeline), "settling")
    await h.env.sleep(timedelta(seconds=30))
    state = await poll(checkout, lambda s: True, "the state")
    assert alertmanager.asked == 0
    assert not any(e.kind == "incident.cause_taken" for e in state.timeline)
    assert pages(h) == [] and h.chat.posts == []


@pytest.mark.parametrize("prometheus", [FakePrometheus([{**CAUSE_LABELS, "alertstate": "pending"}])])
async def test_a_pending_cause_that_fires_while_the_symptom_settles_is_taken_then(
    worker: Harness, prometheus: FakePrometheus, alertmanager: FakeAlertmanager
) -> None:
    """orders-db's rule is pending when checkout first asks; its ``for:`` passes 20 s later and Alertmanager
    holds it for group_wait. checkout asks again while it settles and takes it as soon as it fires, so the
    cause's team is paged within seconds of the firing, not group_wait after it."""
    h = worker
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: any(e.kind == "incident.settling" for e in s.timeline), "settling")
    await h.env.sleep(timedelta(seconds=20))
    assert alertmanager.asked == 0 and pages(h) == []  # pending: nothing to take, nobody paged
    prometheus.alerts = FIRING
    fired = await h.env.get_current_time()
    await poll(checkout, lambda s: s.merged_into is not None, "checkout joining its cause")
    root = h.env.client.get_workflow_handle(service_incident_id("orders-db"))
    state = await poll(root, lambda s: bool(s.notifications.pages), "the cause's page")
    # orders-db's incident was opened by the hand-over: at the next ask (every 5 s), not group_wait later.
    assert state.opened_at - fired <= timedelta(seconds=10)
    assert state.alerts[label_fingerprint(CAUSE_LABELS)].source == HELD_SOURCE
    assert alertmanager.asked >= 1 and prometheus.asked >= 4  # the first ask and one every 5 s since
    assert {key for _, key in pages(h)} <= {"data", "data-2", "boss"} and pages(h)[0] == ("trigger", "data")


@pytest.mark.parametrize("prometheus", [FakePrometheus([{**CAUSE_LABELS, "alertstate": "pending"}])])
async def test_a_symptom_continuing_as_new_while_it_asks_again_says_it_settles_once(
    tmp_path: Path, prometheus: FakePrometheus, alertmanager: FakeAlertmanager
) -> None:
    """A storm of checkout's own alerts makes it continue as new while it asks about its pending cause:
    the next run asks on (and takes the cause when it fires), and its timeline says "settling" once.
    On the dev server, in real time (about 20 s)."""

    def correlate(h: Harness) -> CorrelationActivities:
        return CorrelationActivities(
            source=prometheus,
            catalog=shop,
            held=alertmanager,
            deliver=held_delivery(HarnessSink(h), shop(), Settings(_env_file=None)),
            cache_seconds=0,
        )

    async with on_dev_server(tmp_path, correlate) as h:
        await _continue_while_asking(h, prometheus)


async def _continue_while_asking(h: Harness, prometheus: FakePrometheus) -> None:
    checkout = await open_incident(
        h, "checkout", _batch("checkout", "HighErrorRate"), settle_max_seconds=60.0, history_limit=30
    )
    await poll(checkout, lambda s: any(e.kind == "incident.settling" for e in s.timeline), "settling")
    for n in range(12):
        await checkout.signal(ALERTS_SIGNAL, _batch("checkout", f"HighErrorRate{n}"))
    await poll(checkout, lambda s: any(e.kind == "incident.continued" for e in s.timeline), "continued")
    asked = prometheus.asked
    await h.env.sleep(timedelta(seconds=10))
    assert prometheus.asked > asked  # the next run asks on
    prometheus.alerts = FIRING
    state = await poll(checkout, lambda s: s.merged_into is not None, "checkout joining its cause")
    assert [e.kind for e in state.timeline].count("incident.settling") == 1
    assert state.merged_into is not None
    cause = h.env.client.get_workflow_handle(state.merged_into)  # its page follows its plan, an activity
    await poll(cause, lambda s: bool(s.notifications.pages), "the cause paging")
    assert pages(h)[0] == ("trigger", "data")


@pytest.mark.parametrize("prometheus", [FakePrometheus([{**CAUSE_LABELS, "alertstate": "pending"}])])
async def test_a_pending_cause_that_clears_before_it_fires_lets_the_symptom_tell(
    worker: Harness, prometheus: FakePrometheus, alertmanager: FakeAlertmanager
) -> None:
    """orders-db's condition clears before its ``for:`` passes: nothing below checkout alerts any more,
    so checkout is the cause after all and tells at the next ask, not at settle_max."""
    h = worker
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: any(e.kind == "incident.settling" for e in s.timeline), "settling")
    await h.env.sleep(timedelta(seconds=10))
    assert pages(h) == []
    prometheus.alerts = []
    cleared = await h.env.get_current_time()
    state = await poll(checkout, lambda s: bool(s.notifications.pages), "checkout's page")
    settled = next(e for e in state.timeline if e.kind == "incident.settled")
    assert "any more" in settled.message and settled.at - cleared <= timedelta(seconds=10)
    assert alertmanager.asked == 0 and pages(h)[0] == ("trigger", "checkout")


@pytest.mark.parametrize("alertmanager", [FakeAlertmanager([], down=True), FakeAlertmanager([])])
async def test_nothing_held_or_no_answer_keeps_the_wait(
    worker: Harness, alertmanager: FakeAlertmanager
) -> None:
    """Alertmanager down, or holding nothing for Medic (silenced, inhibited, routed elsewhere): the
    symptom waits for the cause as before, and nobody is paged meanwhile."""
    h = worker
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: any(e.kind == "incident.settling" for e in s.timeline), "settling")
    await h.env.sleep(timedelta(seconds=30))
    state = await poll(checkout, lambda s: True, "the state")
    assert alertmanager.asked >= 1
    assert not any(e.kind == "incident.cause_taken" for e in state.timeline)
    assert pages(h) == [] and h.chat.posts == []


async def _taken(h: Harness) -> tuple[Handle, Handle]:
    """checkout opens, takes orders-db's held alert; orders-db's incident pages and absorbs checkout."""
    checkout = await _open(h, "checkout", "HighErrorRate")
    await poll(checkout, lambda s: s.merged_into is not None, "checkout joining its cause")
    root = h.env.client.get_workflow_handle(service_incident_id("orders-db"))
    await poll(root, lambda s: service_incident_id("checkout") in s.absorbed, "checkout absorbed")
    await poll(root, lambda s: bool(s.notifications.pages), "the cause's page")
    return checkout, root


async def test_a_held_cause_that_resolves_before_alertmanager_delivers_it_resolves(
    worker: Harness, alertmanager: FakeAlertmanager
) -> None:
    """orders-db recovers within its group's group_wait: Alertmanager never notifies Medic of it, so no
    webhook will ever resolve it. Its end comes, Alertmanager no longer holds it: it resolves, and with
    checkout's own recovery nothing fires, so the incident goes quiet (its resolution, and its page's,
    after the quiet period: the e2e cascade test sees those with the real Alertmanager; the time-skipping
    server now and then refuses an incident's closing workflow task, see test_settle_probe)."""
    h = worker
    checkout, root = await _taken(h)
    alertmanager.items = []  # resolved in Alertmanager before group_wait passed
    recovered = _batch("checkout", "HighErrorRate")
    recovered = recovered.model_copy(
        update={"alerts": [a.model_copy(update={"status": AlertStatus.RESOLVED}) for a in recovered.alerts]}
    )
    await checkout.signal(ALERTS_SIGNAL, recovered)
    await h.env.sleep(timedelta(minutes=4, seconds=30))  # its end (4 minutes ahead) has come
    state = await poll(root, lambda s: s.quiet_since is not None, "the cause's incident quiet")
    record = state.alerts[label_fingerprint(CAUSE_LABELS)]
    assert record.status is AlertStatus.RESOLVED and record.source == HELD_SOURCE
    assert any("Alertmanager no longer holds it" in e.message for e in state.timeline)
    assert [action for action, _ in pages(h)] == ["trigger"] and pages(h)[0] == ("trigger", "data")


async def test_a_held_cause_stays_firing_while_alertmanager_holds_it_or_does_not_answer(
    worker: Harness, alertmanager: FakeAlertmanager
) -> None:
    """Still held (a group_interval of 5 minutes, or muted since): it fires on, asked again at each end.
    Alertmanager down: nothing is resolved on a guess, it is asked again a minute later."""
    h = worker
    _, root = await _taken(h)
    await h.env.sleep(timedelta(minutes=12))
    asked = alertmanager.asked
    state = await poll(root, lambda s: True, "the state")
    assert state.alerts[label_fingerprint(CAUSE_LABELS)].status is AlertStatus.FIRING
    # The hand-over, then once per end, each 4 minutes ahead: 12 minutes ask 3 more times, not 12.
    assert 3 <= asked <= 5, asked
    alertmanager.down = True
    await h.env.sleep(timedelta(minutes=10))
    state = await poll(root, lambda s: True, "the state")
    assert state.alerts[label_fingerprint(CAUSE_LABELS)].status is AlertStatus.FIRING
    down_since = alertmanager.asked
    assert state.status != "resolved" and down_since >= asked + 2
    # Unacknowledged, it escalates (the policy's levels); its page is never resolved on a guess.
    assert [a for a, _ in pages(h)] == ["trigger"] * len(pages(h)) and pages(h)[0] == ("trigger", "data")
    # Still no answer: asked less and less often (at most every 15 minutes), and given up after 6 hours.
    await h.env.sleep(timedelta(hours=7))
    state = await poll(
        root, lambda s: s.alerts[label_fingerprint(CAUSE_LABELS)].status is AlertStatus.RESOLVED, "given up"
    )
    assert any("Alertmanager has not answered for hours" in e.message for e in state.timeline)
    assert alertmanager.asked - down_since <= 7 * 4 + 2, alertmanager.asked
