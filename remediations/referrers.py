"""What drives a workload by reference, not as its owner: no owner reference on the workload says so, so
the namespace's objects of that kind are listed and their references read (remediations/controllers.py
asks this first).

- **An Argo Rollout's** ``spec.workloadRef`` (argoproj.io/v1alpha1; https://argo-rollouts.readthedocs.io/
  en/stable/migrating/#reference-deployment-from-rollout): the Rollout runs its own pods from the
  Deployment's pod template and leaves the Deployment itself at the replicas it was scaled down to (0,
  usually). "The Rollout won't try to manage existing Deployment Pods": pods a scale of the Deployment
  adds run outside the Rollout's canary or blue-green, and, being the Deployment's, take the next release
  at once, without its steps. A change of the Deployment's pod template is how the Rollout is updated, so
  a restart's annotation there is a new release rolled out through the Rollout's steps (pauses,
  analysis), not a restart: ``kubectl argo rollouts restart`` is. A rollback's template is left alone:
  rolling the template back is how a workloadRef Rollout is rolled back.
- **A KEDA ScaledObject paused at a count** (``autoscaling.keda.sh/paused-replicas``; https://keda.sh/
  docs/latest/concepts/scaling-deployments/#pause-autoscaling): KEDA scaled the workload to that count and
  removed its HPA (a KEDA before 2.12 kept the HPA at minReplicas = maxReplicas = the count); someone
  pinned it, and KEDA scales it back when it next reconciles the ScaledObject.

A kind whose CRD is not installed lists nothing; one Medic may not list (403) is not known, and the step
acts as before (logged, and said at the worker's start: remediations/permissions.py).
"""

import logging
from collections.abc import Mapping
from typing import Any

from remediations.gitops import Claim, FieldPath, api_group
from remediations.ports import Cluster, ClusterError, ObjectRef
from remediations.rollout import RESTARTED_AT

__all__ = ["ROLLOUT", "SCALED_OBJECT", "referrer_claim"]

log = logging.getLogger(__name__)
ROLLOUT = ("argoproj.io/v1alpha1", "Rollout")
SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
_REPLICAS: FieldPath = ("spec", "replicas")
_RESTART: FieldPath = ("spec", "template", "metadata", "annotations", RESTARTED_AT)


def referrer_claim(cluster: Cluster, target: ObjectRef, paths: list[FieldPath]) -> Claim | None:
    """A Rollout or a paused ScaledObject that would make the step's write something else than it says."""
    if target.kind == "Deployment" and (_REPLICAS in paths or _RESTART in paths):
        for rollout in _listed(cluster, ROLLOUT, target.namespace):
            ref = (rollout.get("spec") or {}).get("workloadRef") or {}
            if (api_group(ref.get("apiVersion")), ref.get("kind"), ref.get("name")) == (
                "apps",
                "Deployment",
                target.name,
            ):
                return _rollout_claim(target, paths, str((rollout.get("metadata") or {}).get("name") or ""))
    if target.kind in ("Deployment", "StatefulSet") and _REPLICAS in paths:
        for scaled in _listed(cluster, SCALED_OBJECT, target.namespace):
            if _scales(scaled, target) and (paused := _paused_at(scaled)) is not None:
                name = str((scaled.get("metadata") or {}).get("name") or "")
                return Claim(
                    reconciler=f"KEDA ScaledObject {target.namespace}/{name}",
                    fields=[".".join(_REPLICAS)],
                    certain=True,
                    reason=f"it is paused at {paused} replicas ({PAUSED_REPLICAS}): someone pinned the "
                    f"count, and KEDA scales it back to {paused} when it next reconciles the ScaledObject",
                    remedy=f"Change or remove the annotation {PAUSED_REPLICAS} of ScaledObject "
                    f"{target.namespace}/{name} if the pin is no longer wanted.",
                    overridable=False,
                )
    return None


def _rollout_claim(target: ObjectRef, paths: list[FieldPath], name: str) -> Claim:
    where = f"{target.namespace}/{name}"
    if _REPLICAS in paths:
        return Claim(
            reconciler=f"Argo Rollout {where}",
            fields=[".".join(_REPLICAS)],
            certain=True,
            reason=f"it runs its own pods from {target}'s pod template (spec.workloadRef) and does not "
            "manage the Deployment's: pods a scale adds run outside the Rollout's strategy, and take the "
            "next release at once, without its steps",
            remedy=f"Scale the Rollout instead (kubectl scale rollout/{name} --replicas=<n> -n "
            f"{target.namespace}), or raise the minReplicas of the HPA that scales it (an hpa: step).",
            overridable=False,
            verb="takes over",
        )
    return Claim(
        reconciler=f"Argo Rollout {where}",
        fields=[".".join(_RESTART)],
        certain=True,
        reason=f"its pods run {target}'s pod template (spec.workloadRef): a change to it is a new "
        "release of the Rollout, rolled out through its steps (pauses, analysis), not a restart",
        remedy=f"Restart the Rollout instead: kubectl argo rollouts restart {name} -n {target.namespace}.",
        verb="takes over",
    )


def _listed(cluster: Cluster, kind: tuple[str, str], namespace: str) -> list[dict[str, Any]]:
    try:
        return cluster.custom_objects(*kind, namespace)
    except ClusterError as err:  # not allowed to list them: not known, the step acts as it always did
        log.warning("could not list the %ss of %s: %s", kind[1], namespace, err)
        return []


def _scales(scaled: Mapping[str, Any], target: ObjectRef) -> bool:
    """Whether the ScaledObject's scaleTargetRef is ``target`` (kind Deployment, apps/v1 by default)."""
    ref = (scaled.get("spec") or {}).get("scaleTargetRef") or {}
    group = api_group(ref.get("apiVersion") or "apps/v1")
    return (group, ref.get("kind") or "Deployment", ref.get("name")) == ("apps", target.kind, target.name)


def _paused_at(scaled: Mapping[str, Any]) -> int | None:
    value = ((scaled.get("metadata") or {}).get("annotations") or {}).get(PAUSED_REPLICAS)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:  # KEDA refuses it too (the ScaledObject is not Ready): not a pin
        return None
