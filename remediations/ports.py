"""The cluster, as remediations see it: a small port the Kubernetes adapter implements.

Remediations read what they will change (recorded, so the change can be undone) and then set
absolute values, so repeating any call changes nothing. A write may carry ``expect``: it happens only
while the object still holds those values (optimistic concurrency: a retried step must not write over a
change someone made since the plan read the object), else :class:`ClusterConflict` and nothing written.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Cluster",
    "ClusterConflict",
    "ClusterError",
    "Metrics",
    "ObjectRef",
    "Permission",
    "Revision",
    "RolloutInfo",
]


class ClusterError(Exception):
    """The cluster refused (4xx): not found, forbidden, invalid. Retrying will not help."""


class ClusterConflict(ClusterError):
    """A conditional write found the object changed: ``found`` holds what the expected fields (JSON
    pointers) hold now. Nothing was written."""

    def __init__(self, message: str, *, found: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.found = dict(found)


class ObjectRef(BaseModel):
    """A namespaced Kubernetes object, e.g. apps/v1 Deployment shop/checkout."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


class Permission(BaseModel):
    """A verb on a resource (``deployments/scale``: resource ``deployments``, subresource ``scale``)."""

    model_config = ConfigDict(frozen=True)

    verb: str
    group: str
    resource: str
    subresource: str = ""
    name: str = ""  # one object by name (a Role may grant it by resourceNames)
    required: bool = True  # False: a read that makes the step safer, not one it cannot act without
    by_name: bool = False  # a Role may grant it by name only, and the name is bound from the alert

    @property
    def writes(self) -> bool:
        return self.verb not in ("get", "list", "watch")

    def __str__(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {what}" + (f" ({self.group})" if self.group else "")


class Revision(BaseModel):
    """One pod template a Deployment has run (one ReplicaSet), as the cluster keeps it."""

    revision: int = Field(description="its number now")
    earlier: list[int] = Field(
        default_factory=list, description="the numbers it had before a rollback re-used it"
    )
    template: dict[str, Any] = Field(
        default_factory=dict, description="its pod template (the controller's pod-template-hash dropped)"
    )
    created: datetime | None = Field(default=None, description="when its ReplicaSet was created")


class RolloutInfo(BaseModel):
    """A Deployment's current revision and the revisions it can roll back to (newest first)."""

    revision: int
    previous: list[int]
    template: dict[str, Any] | None = Field(
        default=None, description="the Deployment's pod template now (None: the cluster does not say)"
    )
    history: list[Revision] = Field(
        default_factory=list,
        description="every revision it keeps, the running one too, newest first (empty: the cluster "
        "does not say; then each earlier revision counts as a release of its own)",
    )
    runs: list[int] = Field(
        default_factory=list,
        description="every number the running pod template has had (its revision and those it had "
        "before a rollback re-used it); empty while it is no ReplicaSet's template yet",
    )
    since: datetime | None = Field(
        default=None,
        description="when the running release rolled out: the creation of the first ReplicaSet with its "
        "pod template, restart annotations aside, so a restart is no release (None: not known, or a "
        "rollback re-used an older ReplicaSet whose age says nothing); remediations.rollout.released_at",
    )


class Cluster(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object as the API returns it, or None when it does not exist."""

    def merge_patch(
        self, ref: ObjectRef, patch: dict[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """An RFC 7386 merge patch; with ``expect`` (JSON pointer -> value, a missing field is None) only
        while the object still holds those values, else :class:`ClusterConflict`."""

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        """Create the object; :class:`ClusterConflict` when it exists already (someone made it)."""

    def delete(self, ref: ObjectRef, *, expect: Mapping[str, Any] | None = None) -> None:
        """With ``expect`` (as for :meth:`merge_patch`): only while the object still holds those values,
        else :class:`ClusterConflict`; an object already gone is not an error then."""

    def autoscalers(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's HorizontalPodAutoscalers (autoscaling/v2), as the API returns them."""

    def custom_objects(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        """The namespace's objects of a custom resource that may drive a workload without owning it (an
        Argo Rollout's ``workloadRef``, a KEDA ScaledObject's ``scaleTargetRef``), as the API returns
        them; none where its CRD is not installed."""

    def get_replicas(self, ref: ObjectRef) -> int:
        """spec.replicas through the scale subresource (Deployment, StatefulSet)."""

    def set_replicas(self, ref: ObjectRef, replicas: int, *, expect: int | None = None) -> None:
        """With ``expect``: only while spec.replicas is still ``expect``, else :class:`ClusterConflict`."""

    def rollout(self, ref: ObjectRef) -> RolloutInfo: ...

    def rollback(self, ref: ObjectRef, revision: int, *, expect: int | None = None) -> None:
        """Set the Deployment's pod template to that of ``revision`` (kubectl rollout undo --to-revision).
        With ``expect``: only while it still runs revision ``expect`` (or already runs ``revision``), else
        :class:`ClusterConflict` with ``found`` ``{"revision": <what it runs, None if unknown>}``."""


class Metrics(Protocol):
    def holds(self, promql: str) -> bool:
        """Whether the PromQL condition holds now: a non-empty vector, or a non-zero scalar."""
