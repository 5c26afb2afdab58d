"""Controllers that would put a step's change back: an HPA over the workload it scales, KEDA over the HPA
it owns, an operator over what it owns. Shapes as the controllers leave them: an HPA's scaleTargetRef
(https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/),
KEDA's ``keda-hpa-<name>`` owned by its ScaledObject (https://keda.sh/docs/latest/concepts/scaling-deployments/),
owner references with ``controller: true``
(https://kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents/)."""

import copy
import json
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.remediate import RemediationActivities, StepRequest
from medic.runbook import CircuitBreakStep, RestartStep, RollbackStep, ScaleStep, Target, load_runbook
from remediations.actions import CircuitBreak, Restart, Rollback, Scale, default_registry
from remediations.controllers import claim_for
from remediations.gitops import RECONCILED_BY, Claim
from remediations.guardrails import GuardrailSettings
from remediations.ports import ClusterError, ObjectRef
from tests.support.fakes import FakeCluster
from tests.support.gitops import deployment, hpa

TARGET = Target(namespace="shop", name="checkout")
SCALE = ScaleStep(action="scale", target=TARGET, factor=2)
HPA_SCALE = ScaleStep(action="scale", target=TARGET, replicas=6, hpa="keda-hpa-checkout", max_replicas=20)


def cluster(*objects: dict[str, Any]) -> FakeCluster:
    found = FakeCluster()
    for item in objects:
        meta = item["metadata"]
        ref = ObjectRef(
            api_version=item["apiVersion"], kind=item["kind"], namespace=meta["namespace"], name=meta["name"]
        )
        found.objects[str(ref)] = copy.deepcopy(item)
    return found


def claim(found: FakeCluster, action: Any, step: Any) -> Claim | None:
    return claim_for(found, action.target(step), action.writes(step))


def test_scaling_what_an_hpa_scales_is_undone_at_once() -> None:
    got = claim(cluster(deployment(), hpa()), Scale(), SCALE)
    assert got is not None and got.certain and not got.overridable
    assert got.reconciler == "HorizontalPodAutoscaler shop/checkout"
    assert got.fields == ["spec.replicas"]
    assert "between 2 and 10" in got.reason
    assert "hpa: checkout in the step raises its minReplicas" in got.remedy
    # the same HPA does not stop a restart or a rollback
    restart = RestartStep(action="restart", target=TARGET)
    assert claim(cluster(deployment(), hpa()), Restart(), restart) is None
    rollback = RollbackStep(action="rollback", target=TARGET)
    assert claim(cluster(deployment(), hpa()), Rollback(), rollback) is None


def test_an_hpa_of_another_workload_is_not_in_the_way() -> None:
    assert claim(cluster(deployment(), hpa("cart", target="cart")), Scale(), SCALE) is None
    stateful = hpa()
    stateful["spec"]["scaleTargetRef"]["kind"] = "StatefulSet"
    assert claim(cluster(deployment(), stateful), Scale(), SCALE) is None


def test_keda_owns_its_hpa_and_is_named_instead() -> None:
    found = cluster(deployment(), hpa("keda-hpa-checkout", keda=True))
    got = claim(found, Scale(), SCALE)
    assert got is not None and not got.overridable
    assert "raise minReplicaCount of KEDA ScaledObject shop/checkout" in got.remedy
    # and an hpa: step on KEDA's HPA is put back by KEDA
    keda = claim(found, Scale(), HPA_SCALE)
    assert keda is not None and keda.reconciler == "KEDA ScaledObject shop/checkout" and not keda.overridable
    assert keda.fields == ["spec.minReplicas"]


def test_an_operator_that_owns_the_workload_may_put_it_back() -> None:
    statefulset = deployment() | {"kind": "StatefulSet"}
    statefulset["metadata"] = {
        "name": "checkout",
        "namespace": "shop",
        "ownerReferences": [
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "Prometheus",
                "name": "k8s",
                "uid": "5d7c0d7b-1c0e-4a8e-9a53-0c2a5e1f9b11",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    found = cluster(statefulset)
    target = Target(kind="StatefulSet", namespace="shop", name="checkout")
    got = claim(found, Scale(), ScaleStep(action="scale", target=target, factor=2))
    assert got is not None and not got.certain and got.overridable
    assert got.reconciler == "Prometheus k8s (monitoring.coreos.com)"  # an owner may be cluster-scoped
    assert "reconcilers: ignore" in got.remedy
    # a restart's annotation is not what an operator writes back
    assert claim(found, Restart(), RestartStep(action="restart", target=target)) is None


def test_an_owner_that_is_not_a_controller_claims_nothing() -> None:
    obj = deployment()
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}]
    assert claim(cluster(obj), Scale(), SCALE) is None


def test_autoscalers_medic_may_not_list_leave_the_step_as_it_was() -> None:
    class NoList(FakeCluster):
        def autoscalers(self, namespace: str) -> list[dict[str, Any]]:
            raise ClusterError(
                "Kubernetes refused to list the HorizontalPodAutoscalers of shop (403 Forbidden)"
            )

    found = NoList()
    found.objects["deployment/shop/checkout"] = deployment()
    assert claim(found, Scale(), SCALE) is None


def test_medics_own_circuit_object_is_nobodys_unless_an_operator_owns_it() -> None:
    step = CircuitBreakStep(action="circuit_break", namespace="shop", upstream="payments")
    flag: dict[str, Any] = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "medic-circuit-payments", "namespace": "shop"},
        "spec": {"host": "payments"},
    }
    assert claim(cluster(flag), CircuitBreak(), step) is None  # there, and nobody's: Medic's own
    owned = copy.deepcopy(flag)
    owned["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "Canary",
            "name": "payments",
            "uid": "1",
            "controller": True,
        }
    ]
    got = claim(cluster(owned), CircuitBreak(), step)
    assert got is not None and got.reconciler == "Canary payments (flagger.app)" and not got.certain


def test_an_hpa_that_does_not_scale_from_zero_is_not_in_the_way() -> None:
    """Scaled to 0 (kube-downscaler, a person), its HPA says ScalingActive False (ScalingDisabled) and leaves
    it alone until something scales it up: that scale is the only way back (found by review)."""
    zero = cluster(deployment(), hpa())
    zero.replicas["deployment/shop/checkout"] = 0
    assert claim(zero, Scale(), SCALE) is None
    said = hpa()
    said["status"] = {
        "conditions": [
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "ScalingDisabled",
                "message": "scaling is disabled",
            }
        ]
    }
    assert claim(cluster(deployment(), said), Scale(), SCALE) is None
    from_zero = hpa()
    from_zero["spec"]["minReplicas"] = 0  # HPAScaleToZero: it does scale from 0
    zero.objects["horizontalpodautoscaler/shop/checkout"] = from_zero
    assert claim(zero, Scale(), SCALE) is not None


def test_a_workload_keda_scaled_to_zero_is_kedas() -> None:
    """KEDA scales between 0 and 1 itself and leaves its HPA ScalingDisabled at 0: Medic took that for an
    HPA that leaves the workload alone, scaled it 0 -> 2, and KEDA scaled it back to 0 after its
    cooldownPeriod (a runbook author's walk-through, 2026-12-07)."""
    at_zero = hpa("keda-hpa-checkout", keda=True)
    at_zero["spec"]["minReplicas"] = 1
    at_zero["status"] = {
        "conditions": [
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "ScalingDisabled",
                "message": "scaling is disabled since the replica count of the target is zero",
            }
        ]
    }
    found = cluster(deployment(), at_zero)
    found.replicas["deployment/shop/checkout"] = 0
    got = claim(found, Scale(), SCALE)
    assert got is not None and got.certain and not got.overridable
    assert "KEDA scales the workload between 0 and 1 itself" in got.reason
    assert "raise minReplicaCount of KEDA ScaledObject shop/checkout" in got.remedy


# ---- the snapshot activity: asking never costs the step its snapshot ---------------------------------------


def _activities(found: FakeCluster) -> RemediationActivities:
    return RemediationActivities(
        cluster=found,
        metrics=None,
        runbooks=list,
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked
        guardrails=GuardrailSettings,
    )


def test_a_target_medic_may_not_read_leaves_the_step_as_it_was() -> None:
    """A Role of one's own that grants only deployments/scale (the scale step's own verbs before this
    release): the object cannot be read to ask, and the step goes on as it did (found by review)."""

    class ScaleOnly(FakeCluster):
        def get(self, ref: ObjectRef) -> dict[str, Any] | None:
            if ref.kind == "Deployment":
                raise ClusterError('deployments.apps "checkout" is forbidden (403 Forbidden)')
            return super().get(ref)

    before = ActivityEnvironment().run(_activities(ScaleOnly()).snapshot, StepRequest(step=SCALE))
    assert before == {"replicas": 2}


def test_the_snapshot_carries_the_claim_for_the_workflow() -> None:
    before = ActivityEnvironment().run(
        _activities(cluster(deployment(), hpa())).snapshot, StepRequest(step=SCALE)
    )
    assert before["replicas"] == 2
    assert Claim.model_validate(before[RECONCILED_BY]).reconciler == "HorizontalPodAutoscaler shop/checkout"


def test_a_plan_leaves_the_policy_out_at_its_default() -> None:
    """Plans travel in workflow inputs and a runbook forbids fields it does not know: a worker of the
    release before (mid-upgrade, or after a rollback) must still read a new plan."""
    runbook = load_runbook(
        "name: r\nmatch: {alertname: [A]}\nsteps: [{action: restart, target: {namespace: shop, name: x}}]\n"
        "verify: {alerts_resolved: true}\n",
        source="r.yaml",
    )
    assert "reconcilers" not in runbook.model_dump(mode="json")
    assert "reconcilers" not in json.loads(
        pydantic_data_converter.payload_converter.to_payloads([runbook])[0].data
    )
    ignoring = runbook.model_copy(update={"reconcilers": "ignore"})
    assert ignoring.model_dump(mode="json")["reconcilers"] == "ignore"
    assert type(runbook).model_validate(ignoring.model_dump(mode="json")).reconcilers == "ignore"


def test_an_hpa_step_claims_max_replicas_only_where_it_must_rise() -> None:
    """minReplicas is what an hpa: step sets; maxReplicas is written as it is unless the new minimum passes
    it (found by review: a reconciler ignoring only minReplicas would put maxReplicas back below it)."""
    scale = Scale()
    assert scale.writes(HPA_SCALE, {"replicas": 2, "max_replicas": 10}) == [("spec", "minReplicas")]
    assert scale.writes(HPA_SCALE, {"replicas": 2, "max_replicas": 4}) == [
        ("spec", "minReplicas"),
        ("spec", "maxReplicas"),
    ]
    assert scale.writes(HPA_SCALE) == [("spec", "minReplicas")]  # not known before the snapshot


# ---- what drives a workload by reference: an Argo Rollout's workloadRef, a paused KEDA ScaledObject ------


def rollout(name: str = "checkout", *, workload: str = "checkout") -> dict[str, Any]:
    """A Rollout that took over Deployment ``workload`` by reference (argoproj.io/v1alpha1,
    https://argo-rollouts.readthedocs.io/en/stable/migrating/#reference-deployment-from-rollout)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "checkout"}},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


def scaled_object(*, paused: str | None = None, kind: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "checkout", "namespace": "shop"}
    if paused is not None:
        meta["annotations"] = {"autoscaling.keda.sh/paused-replicas": paused}
    ref = {"name": "checkout"} | ({"kind": kind, "apiVersion": "apps/v1"} if kind else {})
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": {"scaleTargetRef": ref, "minReplicaCount": 1, "maxReplicaCount": 10},
    }


def test_a_deployment_an_argo_rollout_took_over_is_not_scaled() -> None:
    """The Rollout runs its own pods from the Deployment's template and leaves the Deployment at 0:
    Medic's saturation runbook scaled that Deployment 0 -> 2, pods outside the canary that would take the
    next release at once (a runbook author's walk-through, 2026-12-07)."""
    zero = deployment()
    zero["spec"]["replicas"] = 0
    found = cluster(zero, rollout())
    got = claim(found, Scale(), SCALE)
    assert got is not None and got.certain and not got.overridable
    assert got.what.startswith("Argo Rollout shop/checkout takes over spec.replicas (it runs its own pods")
    assert "kubectl scale rollout/checkout --replicas=<n> -n shop" in got.remedy
    # a restart of its template is a new release through the Rollout's steps: said, overridable
    restart = claim(found, Restart(), RestartStep(action="restart", target=TARGET))
    assert restart is not None and restart.overridable
    assert "kubectl argo rollouts restart checkout -n shop" in restart.remedy
    # rolling the template back is how a workloadRef Rollout is rolled back
    assert claim(found, Rollback(), RollbackStep(action="rollback", target=TARGET)) is None
    # a Rollout of another Deployment is not in the way
    assert claim(cluster(zero, rollout(workload="cart")), Scale(), SCALE) is None


def test_a_scaled_object_paused_at_a_count_is_a_persons_pin() -> None:
    """autoscaling.keda.sh/paused-replicas: KEDA scaled the workload to the count and removed its HPA, so
    no HPA said anything; KEDA scales it back at its next reconcile of the ScaledObject."""
    got = claim(cluster(deployment(), scaled_object(paused="3")), Scale(), SCALE)
    assert got is not None and got.reconciler == "KEDA ScaledObject shop/checkout" and not got.overridable
    assert "it is paused at 3 replicas (autoscaling.keda.sh/paused-replicas)" in got.reason
    # not paused: its HPA is the one that speaks (above); another kind of target: not this one
    assert claim(cluster(deployment(), scaled_object()), Scale(), SCALE) is None
    assert claim(cluster(deployment(), scaled_object(paused="3", kind="StatefulSet")), Scale(), SCALE) is None


def test_referrers_medic_may_not_list_leave_the_step_as_it_was() -> None:
    class Forbidden(FakeCluster):
        def custom_objects(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
            raise ClusterError(f"rollouts.argoproj.io is forbidden in {namespace}")

    found = Forbidden()
    found.objects = cluster(deployment(), rollout()).objects
    assert claim(found, Scale(), SCALE) is None
