"""An incident that merged (its pages resolved) and stands alone again inside the loop (its cause gone:
forward_failed -> unmerge) starts its chain again: the primary is paged again at once. Before, it resumed
where the chain had got to, and only the manager was paged, on the old timer (found by a review)."""

from datetime import datetime, timedelta

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.keys import service_incident_id
from medic.routing import load_routing
from tests.support.shop import ctx, shop
from tests.workflow.test_notifications import T0, Handle, Harness, harness, pages, until
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["harness"]

POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  checkout: {primary: checkout, secondary: checkout-2, manager: boss}
  data: {primary: data, secondary: data-2, manager: boss-data}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary]}
    - {after_minutes: 15, page: [manager]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, escalation: critical}
  - {name: rest}
""",
    catalog=shop(),
)


def batch(service: str, name: str, starts: datetime, fp: str | None = None) -> AlertBatch:
    labels = {"alertname": name, "service": service, "severity": "critical", "burn_rate": "20"}
    a = Alert(
        fingerprint=fp or f"{service}-{name}",
        status=AlertStatus.FIRING,
        starts_at=starts,
        service=service,
        labels=labels,
    )
    return AlertBatch(alerts=[a], received_at=starts, contexts=[ctx(service)])


async def start(h: Harness, service: str, b: AlertBatch) -> Handle:
    iid = service_incident_id(service)
    return await h.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=iid, service=ctx(service), quiet_period_seconds=60, remediate=False),
        id=iid,
        task_queue=h.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[b],
    )


async def test_an_incident_alone_again_after_its_merge_pages_its_primary_again(harness: Harness) -> None:
    h = harness
    h.policy = POLICY
    async with h.worker():
        checkout = await start(h, "checkout", batch("checkout", "CheckoutErrors", T0))
        await until(checkout, lambda s: s.notifications.pages.get("checkout") == "trigger", "primary paged")
        await h.env.sleep(timedelta(minutes=6))
        await until(checkout, lambda s: s.notifications.escalation_done == 2, "level 2")
        db = await start(h, "orders-db", batch("orders-db", "PostgresDown", T0 + timedelta(minutes=6)))
        await until(checkout, lambda s: s.merged_into is not None, "the merge")
        await until(
            checkout, lambda s: s.notifications.pages.get("checkout") == "resolve", "child pages resolved"
        )
        await db.terminate("gone")
        fired = batch("checkout", "CheckoutTimeouts", T0 + timedelta(minutes=7))
        await checkout.signal(ALERTS_SIGNAL, fired)
        state = await until(
            checkout,
            lambda s: s.merged_into is None and s.notifications.pages.get("checkout") == "trigger",
            "the primary paged again",
        )
        assert state.notifications.chain_from is not None
        assert pages(h)[-1] == ("trigger", "checkout")
        assert ("trigger", "boss") not in pages(h)  # the manager's level is 15 minutes from now
