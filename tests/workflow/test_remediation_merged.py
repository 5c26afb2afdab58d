"""A symptom's runbook acts on the symptom's own workload after its incident merged into its cause's.

The remediator asked runbooks with the incident's service (its cause's) for every alert: checkout's
HighLatency, merged into orders-db's incident, matched the shipped saturation-scale-out with
``${incident.service}`` = orders-db: it scaled Deployment shop/orders-db from 2 to 4, verified against
orders-db's latency, and counted in orders-db's hourly budget; a runbook naming ``service: [checkout]``
never matched once merged (found recording the r17 histories, 2026-12-07)."""

from pathlib import Path

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.runbook import load_runbook
from remediations.guardrails import GuardrailSettings
from tests.conftest import require_binary
from tests.support.fakes import FakeChat, FakeCluster, FakeMetrics
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow import test_remediation
from tests.workflow.test_notifications import outage
from tests.workflow.test_remediation import T0, Facts, Rig, deliver, outcome, until
from workflows.incident import ALERTS_SIGNAL

SCALE_OUT = load_runbook(
    (Path(__file__).parents[2] / "runbooks/saturation-scale-out.yaml").read_text(),
    source="saturation-scale-out.yaml",
)


def latency() -> AlertBatch:
    alert = Alert(
        fingerprint="lat",
        status=AlertStatus.FIRING,
        starts_at=T0,
        service="checkout",
        labels={
            "alertname": "HighLatency",
            "service": "checkout",
            "namespace": "shop",
            "severity": "warning",
        },
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("checkout")])


async def test_a_merged_symptoms_runbook_scales_the_symptoms_workload_not_its_causes() -> None:
    async with time_skipping(require_binary("temporal-test-server")) as env:
        test_remediation.ENV[:] = [env]
        cluster = FakeCluster(replicas=2)
        rig = Rig(env, cluster, FakeMetrics(), Facts(), FakeChat(), GuardrailSettings(mode="auto"), SCALE_OUT)
        async with rig.worker():
            db = await deliver(rig, outage(), service="orders-db", settle_seconds=5)
            await deliver(rig, latency(), settle_seconds=5)
            await until(db, lambda s: "incident-checkout" in s.absorbed, "checkout merged into orders-db")
            await db.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
            state = await until(
                db,
                lambda s: bool(s.remediations) and outcome(s) not in ("started", "running", "executing"),
                "the remediation's end",
            )
    assert [(verb, target) for verb, target, _ in cluster.writes] == [("scale", "deployment/shop/checkout")]
    [remediation] = state.remediations
    assert remediation.startswith("remediate-deployment-shop-checkout-"), remediation
