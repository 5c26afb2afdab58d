"""Controllers in the cluster that would put a step's change back, GitOps aside (remediations/gitops.py):

- **A HorizontalPodAutoscaler** whose ``scaleTargetRef`` is the workload sets its ``spec.replicas`` from
  its metrics at each sync (15 s by default), within its bounds; a scale-down waits for the highest
  recommendation of its stabilization window, which was made before Medic's scale-out. Scaling such a
  workload directly is undone at once; the step must scale through the HPA (``hpa:``, its minReplicas).
  Nothing overrides this: acting would change nothing but the history.
- **KEDA**: an HPA a ScaledObject owns is rewritten from the ScaledObject (its minReplicaCount and
  maxReplicaCount), so an ``hpa:`` step on it is undone too. A workload KEDA scaled to 0 (minReplicaCount
  0) is KEDA's all the same: KEDA, not the HPA, scales between 0 and 1, and scales it back to 0 after the
  ScaledObject's cooldownPeriod while its triggers are inactive
  (https://keda.sh/docs/latest/reference/scaledobject-spec/#cooldownperiod), so the HPA's ScalingDisabled
  there is no sign that nobody would put a scale back.
- **A referrer** (remediations/referrers.py), first: an Argo Rollout whose ``workloadRef`` is the
  Deployment, a KEDA ScaledObject paused at a count.
- **An operator**: a workload with a controlling owner reference (a Deployment a Knative Revision owns,
  the StatefulSet of a Prometheus resource) is reconciled from its owner, and operators usually write back
  the replicas and the pod template they set. Medic cannot know which, so it is a "may", as a GitOps
  reconciler it cannot read; a restart's annotation is left out (an operator dropping it restarts the pods
  once more, which a restart was for).
"""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from remediations.gitops import Claim, FieldPath, api_group, controlling_owner, reconciler_claim
from remediations.ports import Cluster, ClusterError, ObjectRef
from remediations.referrers import referrer_claim

__all__ = ["claim_for", "owner_claim"]

log = logging.getLogger(__name__)
_REPLICAS: FieldPath = ("spec", "replicas")
_HPA_BOUNDS = {("spec", "minReplicas"), ("spec", "maxReplicas")}
_KEDA_OWNER = ("keda.sh", "ScaledObject")


def claim_for(
    cluster: Cluster, target: ObjectRef, paths: Iterable[FieldPath], *, argocd_namespace: str = "argocd"
) -> Claim | None:
    """What would put back the fields a step writes on ``target``: an autoscaler or an operator first
    (their claims hold whatever Git says), then a GitOps reconciler. None when nothing would. The target is
    read once, for its owner and its reconcilers."""
    paths = list(paths)
    if not paths:
        return None
    if claim := referrer_claim(cluster, target, paths):
        return claim
    if (
        _REPLICAS in paths
        and target.kind in ("Deployment", "StatefulSet")
        and (claim := _autoscaled(cluster, target))
    ):
        return claim
    obj = cluster.get(target)
    if obj is None:
        return None
    return owner_claim(target, paths, obj) or reconciler_claim(
        cluster, target, paths, argocd_namespace=argocd_namespace, obj=obj
    )


def owner_claim(target: ObjectRef, paths: list[FieldPath], obj: Mapping[str, Any]) -> Claim | None:
    """An operator (or KEDA) that owns ``obj`` as its controller, claiming what it would write back."""
    owner = controlling_owner(obj)
    if owner is None:
        return None
    group = api_group(owner.get("apiVersion"))
    kind, name = str(owner.get("kind") or ""), str(owner.get("name") or "")
    if target.kind == "HorizontalPodAutoscaler" and (group, kind) == _KEDA_OWNER and _HPA_BOUNDS & set(paths):
        return Claim(
            reconciler=f"KEDA ScaledObject {target.namespace}/{name}",
            fields=[".".join(p) for p in paths if p in _HPA_BOUNDS],
            certain=True,
            reason="KEDA writes the bounds of the HPA it owns from the ScaledObject",
            remedy=f"Change minReplicaCount or maxReplicaCount of ScaledObject {target.namespace}/{name} "
            "instead.",
            overridable=False,
        )
    claimed = [p for p in paths if len(p) <= 2]  # replicas, the whole template, rules; not one annotation
    if not claimed:
        return None
    return Claim(
        reconciler=f"{kind} {name} ({group or 'core'})",
        fields=[".".join(p) for p in claimed],
        certain=False,
        reason=f"it controls {target}: an operator reconciles what it owns and usually writes back what "
        "it set",
        remedy=f"Change it through the {kind}; a runbook that knows this operator leaves "
        f"{', '.join('.'.join(p) for p in claimed)} alone says reconcilers: ignore (docs/remediation.md).",
    )


def _autoscaled(cluster: Cluster, target: ObjectRef) -> Claim | None:
    try:
        hpas = cluster.autoscalers(target.namespace)
    except ClusterError as err:
        # not allowed to list them: not known, and the step acts as it always did (said: the worker's
        # start says it too, service/preflight.py)
        log.warning(
            "could not list the HPAs of %s, so not whether one scales %s: %s", target.namespace, target, err
        )
        return None
    for hpa in hpas:
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        group = api_group(ref.get("apiVersion"))
        if (group, ref.get("kind"), ref.get("name")) != ("apps", target.kind, target.name):
            continue
        name = (hpa.get("metadata") or {}).get("name", "")
        owner = controlling_owner(hpa)
        keda = owner is not None and (api_group(owner.get("apiVersion")), owner.get("kind")) == _KEDA_OWNER
        at_zero = _disabled(cluster, target, hpa)
        if at_zero and not keda:
            continue  # scaled to 0 under an HPA that does not scale from 0: only a scale brings it back
        through = (
            f"raise minReplicaCount of KEDA ScaledObject {target.namespace}/{owner.get('name')}, which "
            "owns it"
            if keda and owner is not None
            else f"scale through it: hpa: {name} in the step raises its minReplicas (hpa_field: "
            "maxReplicas when it is at its maximum)"
        )
        return Claim(
            reconciler=f"HorizontalPodAutoscaler {target.namespace}/{name}",
            fields=[".".join(_REPLICAS)],
            certain=True,
            reason=(
                "KEDA scales the workload between 0 and 1 itself, and its HPA above: it is at 0 while the "
                "ScaledObject's triggers are inactive, and KEDA scales it back to 0 after the ScaledObject's "
                "cooldownPeriod"
                if at_zero
                else f"it sets the replicas from its metrics, between {spec.get('minReplicas', 1)} and "
                f"{spec.get('maxReplicas')}, at each sync"
            ),
            remedy=f"Scaling the {target.kind} directly is undone{'' if at_zero else ' at once'}: {through}.",
            overridable=False,
        )
    return None


def _disabled(cluster: Cluster, target: ObjectRef, hpa: Mapping[str, Any]) -> bool:
    """Whether the HPA leaves the workload alone: it was scaled to 0 and the HPA's minReplicas is not 0,
    so the HPA says ScalingActive False, ScalingDisabled, until something scales the workload up
    (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#implicit-maintenance-mode-deactivation)."""
    conditions = (hpa.get("status") or {}).get("conditions") or []
    if any(
        c.get("type") == "ScalingActive"
        and c.get("status") == "False"
        and c.get("reason") == "ScalingDisabled"
        for c in conditions
        if isinstance(c, Mapping)
    ):
        return True
    if int((hpa.get("spec") or {}).get("minReplicas", 1)) == 0:
        return False
    try:
        return cluster.get_replicas(target) == 0
    except ClusterError:
        return False
