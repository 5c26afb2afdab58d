"""Which Kubernetes cluster an alert is from, and whether it is the one Medic's worker acts on.

One Alertmanager often serves many clusters (Mimir's, Thanos', Grafana Cloud's; kube-prometheus-stack with
``externalLabels: {cluster: ...}``): every alert then carries the cluster it came from in a label, ``cluster``
by the kubernetes-mixin's ``clusterLabel`` default. Medic's worker reaches one cluster (MEDIC_KUBECONFIG or
its own), so a runbook matched by an alert from another cluster would scale, restart or roll back the
namesake workload of the wrong cluster, and the cluster lookup would answer about the wrong pods and nodes.

The rule (pure): with MEDIC_CLUSTER set, an alert is this cluster's when its MEDIC_CLUSTER_LABEL says that
name; one carrying no such label is not known to be (a rule that aggregated the label away). With
MEDIC_CLUSTER unset, an alert that carries no cluster label is this cluster's (a single cluster whose
alerts name none, as before), and one that does is not known to be: Medic does not know its own name.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from medic.subject import ObjectKey, OwnerLookup

__all__ = ["ClusterScope", "ScopedLookup", "lookup_for"]


@dataclass(frozen=True)
class ClusterScope:
    """The cluster Medic acts on (``name``, as alerts label it; '' when not set) and the label naming it."""

    name: str = ""
    label: str = "cluster"
    # MEDIC_INCIDENTS_PER_CLUSTER: a remediation's lock and hourly budget are the cluster's (Medics of
    # several clusters in one Temporal namespace); off, they stay what they were before it existed, so
    # an upgrade never runs two remediations at once on one target under two lock ids
    own_locks: bool = False

    def elsewhere(self, labels: Mapping[str, str]) -> str:
        """Why an alert with these labels is not known to be from this cluster ('' when it is)."""
        origin = labels.get(self.label, "")
        if self.name and origin == self.name:
            return ""
        if not self.name and not origin:
            return ""
        if not self.name:
            return (
                f"the alert is from cluster {origin!r} ({self.label} label) and Medic does not know which "
                f"cluster it acts on: set MEDIC_CLUSTER to that cluster's name as its alerts say it"
            )
        if not origin:
            return (
                f"the alert carries no {self.label} label, so it is not known to be from cluster "
                f"{self.name!r}, the one Medic acts on (MEDIC_CLUSTER)"
            )
        return (
            f"the alert is from cluster {origin!r} and Medic acts on cluster {self.name!r} (MEDIC_CLUSTER): "
            f"a Medic worker there acts on it"
        )


class ScopedLookup:
    """An :class:`OwnerLookup` that answers only for alerts from its own cluster (``lookup_for``)."""

    def __init__(self, inner: OwnerLookup, scope: ClusterScope) -> None:
        self.inner, self.scope = inner, scope

    def owner(self, obj: ObjectKey) -> ObjectKey | None:
        return self.inner.owner(obj)

    def node_for_address(self, address: str) -> str | None:
        return self.inner.node_for_address(address)

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        return self.inner.workloads_on_node(node)

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        return self.inner.nodes_of(workload)


def lookup_for(lookup: OwnerLookup | None, labels: Mapping[str, str]) -> OwnerLookup | None:
    """The lookup to resolve an alert with these labels by: none for another cluster's (its pods and
    nodes are not the ones this cluster would name; the naming patterns decide)."""
    if isinstance(lookup, ScopedLookup):
        return lookup.inner if not lookup.scope.elsewhere(labels) else None
    return lookup
