"""Issue 13 over the API: rollback, circuit break, reroute and the undo of every step, through the real
client against the Kubernetes API double. Each write carries what it read (a resourceVersion, as a
patch's ``metadata.resourceVersion`` or a DELETE's ``preconditions``), and a step whose target a person
changed writes nothing."""

import pytest
from kubernetes.client import ApiClient, CoreV1Api, V1DeleteOptions, V1Preconditions
from kubernetes.client.exceptions import ApiException

from activities.adapters.kubernetes import KubernetesCluster
from medic.runbook import CircuitBreakStep, RerouteStep, RollbackStep
from remediations.actions import CircuitBreak, Reroute, Rollback, Scale
from remediations.ports import ClusterConflict
from remediations.preconditions import ChangedMeanwhile
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.test_kubernetes import (
    CONFIGMAP,
    CURRENT,
    DEPLOYMENT,
    IMAGES,
    NS,
    _configuration,
    _deployment,
    _image,
    cluster,
    k8s,
)
from tests.doubles.test_kubernetes_preconditions import SCALE, SCALE_PATH

__all__ = ["cluster", "k8s"]  # the fixtures, shared with test_kubernetes.py

STAMP = "2026-12-04T12:00:00+00:00"
ROLLBACK = RollbackStep(action="rollback", target=SCALE.target)
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/checkout"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NS}/configmaps/medic-circuit-payments"
ROUTE_PATH = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/checkout"
CIRCUIT = CircuitBreakStep(action="circuit_break", namespace=NS, upstream="payments", mode="configmap")
REROUTE = RerouteStep(
    action="reroute", namespace=NS, route="checkout", weights={"checkout-stable": 100, "checkout-canary": 0}
)


def _ship(cluster: KubernetesCluster, image: str) -> None:
    """A person's rollout (kubectl set image)."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "checkout", "image": image}]}}}}
    cluster.merge_patch(DEPLOYMENT, patch)


def test_rollout_says_which_revisions_the_running_template_has_had(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    assert cluster.rollout(DEPLOYMENT).runs == [3]
    cluster.rollback(DEPLOYMENT, 2)
    assert cluster.rollout(DEPLOYMENT).runs == [2, 4]  # revision 2's ReplicaSet, now revision 4


def test_a_rollback_acts_only_on_the_revision_the_plan_saw(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    before = Rollback().snapshot(cluster, ROLLBACK)
    assert before == {
        "revision": 3,
        "to_revision": 2,
        "images": {"checkout": "registry.example.com/checkout:1.2"},
        "to_images": {"checkout": "registry.example.com/checkout:1.1"},
    }
    _ship(cluster, "registry.example.com/checkout:1.3")  # a person ships revision 4 meanwhile
    with pytest.raises(ChangedMeanwhile, match=r"revision is 4 \(the plan found 3 and would set 2\)"):
        Rollback().apply(cluster, ROLLBACK, before, STAMP)
    assert _image(_deployment(k8s)) == "registry.example.com/checkout:1.3"
    assert len(k8s.writes(DEPLOYMENT_PATH)) == 1  # the person's patch only


def test_the_adapter_refuses_a_rollback_from_a_revision_no_longer_running(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """The write's own precondition: read again just before the PATCH."""
    _ship(cluster, "registry.example.com/checkout:1.3")
    with pytest.raises(ClusterConflict) as caught:
        cluster.rollback(DEPLOYMENT, 2, expect=3)
    assert caught.value.found == {"revision": 4}
    cluster.rollback(DEPLOYMENT, 4, expect=3)  # already runs the revision asked for: nothing to do
    assert len(k8s.writes(DEPLOYMENT_PATH)) == 1


def test_a_rollback_retried_and_undone_and_an_undo_over_a_persons_rollout(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    before = Rollback().snapshot(cluster, ROLLBACK)
    Rollback().apply(cluster, ROLLBACK, before, STAMP)
    Rollback().apply(cluster, ROLLBACK, before, STAMP)  # the retry finds revision 2 running
    assert _image(_deployment(k8s)) == IMAGES[1] and len(k8s.writes(DEPLOYMENT_PATH)) == 1
    Rollback().compensate(cluster, ROLLBACK, before, STAMP)
    assert _image(_deployment(k8s)) == CURRENT and len(k8s.writes(DEPLOYMENT_PATH)) == 2

    before = Rollback().snapshot(cluster, ROLLBACK)  # a second remediation, later
    Rollback().apply(cluster, ROLLBACK, before, STAMP)
    _ship(cluster, "registry.example.com/checkout:1.3")  # the person's fix, after Medic's rollback
    with pytest.raises(ChangedMeanwhile, match="Medic's step left"):
        Rollback().compensate(cluster, ROLLBACK, before, STAMP)
    assert _image(_deployment(k8s)) == "registry.example.com/checkout:1.3"


def test_a_scale_is_undone_only_as_medic_left_it(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    before = Scale().snapshot(cluster, SCALE)
    Scale().apply(cluster, SCALE, before, STAMP)
    cluster.set_replicas(DEPLOYMENT, 3)  # kubectl scale, by a person
    with pytest.raises(ChangedMeanwhile, match="Medic's step left 6"):
        Scale().compensate(cluster, SCALE, before, STAMP)
    assert _deployment(k8s)["spec"]["replicas"] == 3
    assert [w.body["spec"]["replicas"] for w in k8s.writes(SCALE_PATH)] == [6, 3]


def test_the_double_checks_delete_preconditions(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    k8s.add_configmap(NS, CONFIGMAP.name, {"open": "true"})
    stale = k8s.obj("v1", "configmaps", NS, CONFIGMAP.name)["metadata"]["resourceVersion"]
    cluster.merge_patch(CONFIGMAP, {"data": {"open": "false"}})
    core = CoreV1Api(ApiClient(_configuration(k8s.url)))
    options = V1DeleteOptions(preconditions=V1Preconditions(resource_version=stale))
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map(CONFIGMAP.name, NS, body=options)
    assert caught.value.status == 409 and "Precondition failed" in (caught.value.body or "")
    assert k8s.find("v1", "configmaps", NS, CONFIGMAP.name) is not None


def test_a_circuit_is_closed_with_the_resource_version_it_read_and_not_over_an_edit(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    before = CircuitBreak().snapshot(cluster, CIRCUIT)
    CircuitBreak().apply(cluster, CIRCUIT, before, STAMP)
    CircuitBreak().apply(cluster, CIRCUIT, before, STAMP)  # the retry: open already
    assert [w.method for w in k8s.writes()] == ["POST"]
    cluster.merge_patch(CONFIGMAP, {"data": {"open": "false"}})  # a person closes it by hand
    with pytest.raises(ChangedMeanwhile):
        CircuitBreak().compensate(cluster, CIRCUIT, before, STAMP)
    assert k8s.obj("v1", "configmaps", NS, CONFIGMAP.name)["data"]["open"] == "false"
    cluster.merge_patch(CONFIGMAP, {"data": {"open": "true"}})  # and opens it again
    read = k8s.obj("v1", "configmaps", NS, CONFIGMAP.name)["metadata"]["resourceVersion"]
    CircuitBreak().compensate(cluster, CIRCUIT, before, STAMP)
    assert k8s.find("v1", "configmaps", NS, CONFIGMAP.name) is None
    (delete,) = k8s.writes(CONFIGMAP_PATH)[-1:]
    assert delete.method == "DELETE" and delete.body["preconditions"] == {"resourceVersion": read}
    CircuitBreak().compensate(cluster, CIRCUIT, before, STAMP)  # the undo's retry: gone already


def test_a_circuit_someone_created_meanwhile_is_left_as_it_is(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    before = CircuitBreak().snapshot(cluster, CIRCUIT)
    real_get = cluster.get

    def read_then_someone_creates(ref: object) -> object:
        found = real_get(CONFIGMAP)
        if found is None:
            k8s.add_configmap(NS, CONFIGMAP.name, {"open": "false"})
        return found

    cluster.get = read_then_someone_creates  # type: ignore[assignment,method-assign]
    with pytest.raises(ChangedMeanwhile, match="about to write"):
        CircuitBreak().apply(cluster, CIRCUIT, before, STAMP)
    assert k8s.obj("v1", "configmaps", NS, CONFIGMAP.name)["data"] == {"open": "false"}


def test_a_reroute_and_its_undo_carry_preconditions(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    before = Reroute().snapshot(cluster, REROUTE)
    Reroute().apply(cluster, REROUTE, before, STAMP)
    (write,) = k8s.writes(ROUTE_PATH)
    assert write.body["metadata"]["resourceVersion"]
    route = k8s.obj("gateway.networking.k8s.io/v1", "httproutes", NS, "checkout")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]
    rules = route["spec"]["rules"]
    rules[0]["backendRefs"][1]["weight"] = 5  # a person sends some traffic to the canary again
    cluster.merge_patch(Reroute().target(REROUTE), {"spec": {"rules": rules}})
    with pytest.raises(ChangedMeanwhile, match="Medic's step left"):
        Reroute().compensate(cluster, REROUTE, before, STAMP)
    route = k8s.obj("gateway.networking.k8s.io/v1", "httproutes", NS, "checkout")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [100, 5]
    assert len(k8s.writes(ROUTE_PATH)) == 2  # Medic's and the person's


def test_a_conditional_delete(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    k8s.add_configmap(NS, CONFIGMAP.name, {"open": "true"})
    with pytest.raises(ClusterConflict) as caught:
        cluster.delete(CONFIGMAP, expect={"/data": {"open": "false"}})
    assert caught.value.found == {"/data": {"open": "true"}}
    assert k8s.find("v1", "configmaps", NS, CONFIGMAP.name) is not None
    cluster.delete(CONFIGMAP, expect={"/data": {"open": "true"}})
    assert k8s.find("v1", "configmaps", NS, CONFIGMAP.name) is None
    cluster.delete(CONFIGMAP, expect={"/data": {"open": "true"}})  # gone already: not an error
    assert [w.method for w in k8s.writes(CONFIGMAP_PATH)] == ["DELETE"]
