"""One Alertmanager, several clusters, through the workflows: this worker acts on its own cluster only
(MEDIC_CLUSTER, medic/clusters.py)."""

from medic.clusters import ClusterScope
from tests.workflow.test_remediation import Rig, deliver, rig, slow, until

__all__ = ["rig"]  # the fixture, shared


async def test_another_clusters_alert_acts_on_nothing_here(rig: Rig) -> None:
    """One Alertmanager, two clusters: the worker acts on prod-eu, the alert is prod-us's. Its runbook
    matches, nothing is written here, and the incident's timeline says why."""
    rig.scope = ClusterScope("prod-eu")
    batch = slow()
    (alert,) = batch.alerts
    foreign = alert.model_copy(update={"labels": {**alert.labels, "cluster": "prod-us"}})
    async with rig.worker():
        incident = await deliver(rig, batch.model_copy(update={"alerts": [foreign]}))
        state = await until(
            incident, lambda s: any(e.kind == "remediation.skipped" for e in s.timeline), "the skip"
        )
    assert rig.cluster.writes == [] and not state.remediations
    (skipped,) = [e.message for e in state.timeline if e.kind == "remediation.skipped"]
    said = f"runbook {rig.runbook.name} matched CheckoutSlow but the alert is from cluster 'prod-us'"
    assert said in skipped
