"""One Medic for several clusters with MEDIC_INCIDENTS_PER_CLUSTER: a service's incident is one per
cluster (``incident-<cluster>--<service>``), and correlation stays inside a cluster. Before, a staging
database failing absorbed prod's checkout incident (its page resolved, "merged into" staging's
incident), because every cluster's checkout was the one ``incident-checkout`` and its neighbours were
named by service alone (a central Medic's walk-through, 2026-12-07). Time-skipping server."""

from datetime import UTC, datetime

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentStatus
from medic.keys import service_incident_id
from medic.topology import in_cluster
from tests.support.shop import ctx
from tests.workflow.test_correlation import env, eventually
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentResult, IncidentWorkflow

__all__ = ["env"]  # the fixture, shared with test_correlation

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
Handle = WorkflowHandle[IncidentWorkflow, IncidentResult]


async def deliver(env: WorkflowEnvironment, service: str, name: str, cluster: str) -> Handle:
    """What the API does with MEDIC_INCIDENTS_PER_CLUSTER: signal-with-start that cluster's incident."""
    context = in_cluster(ctx(service), cluster)
    alert = Alert(
        fingerprint=f"{cluster}-{service}-{name}",
        status=AlertStatus.FIRING,
        labels={"alertname": name, "service": service, "severity": "critical", "cluster": cluster},
        starts_at=T0,
        service=service,
    )
    incident_id = service_incident_id(service, cluster=cluster)
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, service=context, notify=False, remediate=False),
        id=incident_id,
        task_queue="medic",
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[AlertBatch(alerts=[alert], received_at=T0, contexts=[context])],
    )


async def test_a_dependency_failing_in_staging_absorbs_no_prod_incident(env: WorkflowEnvironment) -> None:
    staging_db = await deliver(env, "orders-db", "PostgresDown", "staging")
    checkout = await deliver(env, "checkout", "CheckoutErrors", "prod-eu")
    prod_db = await deliver(env, "orders-db", "PostgresDown", "prod-eu")
    assert checkout.id == "incident-prod-eu--checkout" and staging_db.id == "incident-staging--orders-db"

    root = await eventually(
        prod_db, lambda s: "incident-prod-eu--checkout" in s.absorbed, "prod-eu's database absorbing checkout"
    )
    assert root.title == "PostgresDown on orders-db in prod-eu (+1 more service)"
    child = await checkout.query(IncidentWorkflow.state)
    assert child.merged_into == "incident-prod-eu--orders-db" and child.status is IncidentStatus.RESOLVED
    staging = await staging_db.query(IncidentWorkflow.state)
    assert staging.absorbed == [] and staging.merged_into is None
    assert staging.title == "PostgresDown on orders-db in staging"
    assert {a.labels["cluster"] for a in root.alerts.values()} == {"prod-eu"}
