"""A scale step's bounds, through the real client against the Kubernetes API double: ``max_replicas``
caps a scale *out*, it never scales down (a Deployment at 30 with ``max_replicas: 20`` was set to 20 for
the verify window; the shipped kube-hpa-maxed-out "raised" an HPA's maxReplicas of 40 to 30), and an
exact count outside the bounds is refused when the runbook is read, not clamped in silence (a field
walk-through, 2026-12-07)."""

import pytest

from activities.adapters.kubernetes import KubernetesCluster
from medic.runbook import ScaleStep, Target, load_runbook
from medic.yamldoc import ConfigError
from remediations.actions import ActionError, Scale
from remediations.ports import ObjectRef
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.test_kubernetes import DEPLOYMENT, HPA, NS, cluster, k8s

__all__ = ["cluster", "k8s"]  # the fixtures, shared with test_kubernetes.py

TARGET = Target(kind="Deployment", namespace=NS, name="checkout")


def _out(**bounds: object) -> ScaleStep:
    return ScaleStep.model_validate({"action": "scale", "target": TARGET, "factor": 2, **bounds})


def test_a_scale_out_above_its_bound_does_not_act(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    cluster.set_replicas(DEPLOYMENT, 30)
    writes = len(k8s.writes())
    with pytest.raises(ActionError, match=r"runs 30, at or above the step's max_replicas 20.*scale it down"):
        Scale().snapshot(cluster, _out(max_replicas=20))
    # at its bound: nothing to add (not "it would scale it down")
    cluster.set_replicas(DEPLOYMENT, 20)
    with pytest.raises(
        ActionError, match=r"runs 20, at or above the step's max_replicas 20: scaling out"
    ) as err:
        Scale().snapshot(cluster, _out(max_replicas=20))
    assert "scale it down" not in str(err.value)
    assert len(k8s.writes()) == writes + 1  # the test's own scale to 20, nothing of the step's
    # below it: scaled out, up to the bound
    cluster.set_replicas(DEPLOYMENT, 15)
    step = _out(max_replicas=20)
    before = Scale().snapshot(cluster, step)
    assert Scale().apply(cluster, step, before, "s") == {"replicas": 20}
    assert cluster.get_replicas(DEPLOYMENT) == 20
    # and its undo reads the target as the step left it (at the bound), without refusing
    assert Scale().compensate(cluster, step, before, "s") is True
    assert cluster.get_replicas(DEPLOYMENT) == 15


def test_an_hpas_max_replicas_is_never_lowered_by_a_raise(cluster: KubernetesCluster) -> None:
    cluster.merge_patch(HPA, {"spec": {"maxReplicas": 40}})
    raise_max = _out(hpa="checkout", hpa_field="maxReplicas", max_replicas=30)
    with pytest.raises(ActionError, match=r"HPA checkout's maxReplicas is 40, at or above .* 30"):
        Scale().snapshot(cluster, raise_max)
    cluster.merge_patch(HPA, {"spec": {"maxReplicas": 12}})
    before = Scale().snapshot(cluster, raise_max)
    assert (
        Scale()
        .describe(raise_max, before)
        .startswith("scale HPA checkout maxReplicas of shop/checkout from 12 to 24")
    )


@pytest.mark.parametrize(
    ("count", "says"),
    [
        (
            "replicas: 0",
            "replicas 0 is outside min_replicas..max_replicas \\(1..20\\), which would set 1 "
            "instead: set min_replicas: 0 to allow it",
        ),
        (
            "replicas: 50",
            "replicas 50 is outside min_replicas..max_replicas \\(1..20\\), which would set 20 "
            "instead: set max_replicas: 50 to allow it",
        ),
    ],
)
def test_an_exact_count_outside_the_bounds_is_refused_when_read(count: str, says: str) -> None:
    text = f"""
name: x
match: {{alertname: [A]}}
steps:
  - action: scale
    target: {{namespace: shop, name: checkout}}
    {count}
verify: {{alerts_resolved: true}}
"""
    with pytest.raises(ConfigError, match=says):
        load_runbook(text, source="x.yaml")
    allowed = text.replace(count, f"{count}\n    min_replicas: 0\n    max_replicas: 50")
    step = load_runbook(allowed, source="x.yaml").steps[0]
    assert isinstance(step, ScaleStep) and Scale.desired(step, {"replicas": 4}) == step.replicas


def test_an_hpa_floor_above_its_ceiling_says_the_ceiling_rises_too(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """An hpa: step doubling minReplicas 8 of an HPA whose maxReplicas is 10 writes maxReplicas 16 too (the
    API refuses min > max); the approval named minReplicas only, so the ceiling rose by 60% unseen (a runbook
    author's walk-through, 2026-12-07)."""
    cluster.merge_patch(HPA, {"spec": {"minReplicas": 8, "maxReplicas": 10}})
    floor = _out(hpa="checkout")
    before = Scale().snapshot(cluster, floor)
    assert Scale().describe(floor, before) == (
        "scale HPA checkout minReplicas of shop/checkout from 8 to 16, and its maxReplicas from 10 to 16 "
        "(never below minReplicas) (bounds 1..20); undo: back to 8 and maxReplicas 10"
    )
    Scale().apply(cluster, floor, before, "s")
    spec = k8s.obj("autoscaling/v2", "horizontalpodautoscalers", NS, "checkout")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (16, 16)  # what the approval said
    Scale().compensate(cluster, floor, before, "s")
    spec = k8s.obj("autoscaling/v2", "horizontalpodautoscalers", NS, "checkout")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (8, 10)
    # within the ceiling, as before
    cluster.merge_patch(HPA, {"spec": {"minReplicas": 2, "maxReplicas": 10}})
    said = Scale().describe(floor, Scale().snapshot(cluster, floor))
    assert (
        said == "scale HPA checkout minReplicas of shop/checkout from 2 to 4 (bounds 1..20); undo: back to 2"
    )


@pytest.mark.parametrize(
    ("policy", "replicas", "says", "undo_says"),
    [
        # a scale out: its undo deletes the claims of the pods it added
        ("Delete", "factor: 2", "", ", deleting the PersistentVolumeClaims of pods ledger-3..ledger-5"),
        # an exact count below: the scale itself deletes the claims of the pods it removes
        ("Delete", "replicas: 2", ", deleting the PersistentVolumeClaims of pod ledger-2 (its", ""),
        ("Retain", "replicas: 2", "", ""),  # kept: nothing is lost, nothing said
    ],
)
def test_a_statefulset_whose_claims_go_when_scaled_says_whose_data_is_lost(
    cluster: KubernetesCluster, policy: str, replicas: str, says: str, undo_says: str
) -> None:
    """A database's StatefulSet with ``persistentVolumeClaimRetentionPolicy.whenScaled: Delete``: a
    scale down (or the undo of a scale out) deletes the removed pods' claims, and with them their data;
    the approver read "back to 3" only."""
    ledger = ObjectRef(api_version="apps/v1", kind="StatefulSet", namespace=NS, name="ledger")
    cluster.merge_patch(ledger, {"spec": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": policy}}})
    key, value = replicas.split(": ")
    step = ScaleStep.model_validate(
        {
            "action": "scale",
            "target": Target(kind="StatefulSet", namespace=NS, name="ledger"),
            key: float(value) if key == "factor" else int(value),
        }
    )
    described = Scale().describe(step, Scale().snapshot(cluster, step))
    plan, _, undo = described.partition("; undo: ")
    assert ("PersistentVolumeClaims" in plan) == bool(says) and says in plan, described
    assert ("PersistentVolumeClaims" in undo) == bool(undo_says) and undo_says in undo, described
    if says or undo_says:
        assert "whenScaled is Delete): their data is lost" in described, described
