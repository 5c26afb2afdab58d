"""The cluster, as remediations see it: a small port the Kubernetes adapter implements.

Remediations read what they will change (recorded, so the change can be undone) and then set
absolute values, so repeating any call changes nothing.
"""

from typing import Any, Protocol

from pydantic import BaseModel

__all__ = ["Cluster", "ClusterError", "Metrics", "ObjectRef", "RolloutInfo"]


class ClusterError(Exception):
    """The cluster refused (4xx): not found, forbidden, invalid. Retrying will not help."""


class ObjectRef(BaseModel):
    """A namespaced Kubernetes object, e.g. apps/v1 Deployment shop/checkout."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


class RolloutInfo(BaseModel):
    """A Deployment's current revision and the revisions it can roll back to (newest first)."""

    revision: int
    previous: list[int]


class Cluster(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object as the API returns it, or None when it does not exist."""

    def merge_patch(self, ref: ObjectRef, patch: dict[str, Any]) -> dict[str, Any]: ...

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, ref: ObjectRef) -> None: ...

    def get_replicas(self, ref: ObjectRef) -> int:
        """spec.replicas through the scale subresource (Deployment, StatefulSet)."""

    def set_replicas(self, ref: ObjectRef, replicas: int) -> None: ...

    def rollout(self, ref: ObjectRef) -> RolloutInfo: ...

    def rollback(self, ref: ObjectRef, revision: int) -> None:
        """Set the Deployment's pod template to that of ``revision`` (kubectl rollout undo --to-revision)."""


class Metrics(Protocol):
    def holds(self, promql: str) -> bool:
        """Whether the PromQL condition holds now: a non-empty vector, or a non-zero scalar."""
