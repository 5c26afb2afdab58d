"""Issue 13: conditional writes through the real client against the API double. A step writes only while
the target holds what the plan read; the write carries the resourceVersion it read, which the API server
(and the double) take as a precondition: 409 Conflict when the object changed in between."""

import json

import pytest
from kubernetes.client import ApiClient, AppsV1Api
from kubernetes.client.exceptions import ApiException

from activities.adapters.kubernetes import MERGE_PATCH, KubernetesCluster
from medic.ports import TransientError
from medic.runbook import RestartStep, ScaleStep, Target
from remediations.actions import Restart, Scale
from remediations.ports import ClusterConflict
from remediations.preconditions import ChangedMeanwhile
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.test_kubernetes import DEPLOYMENT, HPA, NS, _configuration, _deployment, cluster, k8s

__all__ = ["cluster", "k8s"]  # the fixtures, shared with test_kubernetes.py

SCALE_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/checkout/scale"
SCALE_ROUTE = "/apis/apps/v1/namespaces/{namespace}/{workload}/{name}/scale"
SCALE = ScaleStep(action="scale", target=Target(namespace=NS, name="checkout"), replicas=6)


def test_the_double_answers_a_stale_resource_version_on_the_scale_subresource_with_409(
    k8s: KubernetesDouble, cluster: KubernetesCluster
) -> None:
    stale = _deployment(k8s)["metadata"]["resourceVersion"]
    cluster.set_replicas(DEPLOYMENT, 3)
    apps = AppsV1Api(ApiClient(_configuration(k8s.url)))
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale(
            "checkout",
            NS,
            {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 6}},
            _content_type=MERGE_PATCH,
        )
    status = json.loads(caught.value.body or "{}")
    assert (caught.value.status, status["kind"], status["reason"]) == (409, "Status", "Conflict")
    assert "the object has been modified" in status["message"]
    assert _deployment(k8s)["spec"]["replicas"] == 3


def test_a_conditional_scale_writes_with_the_resource_version_it_read(
    k8s: KubernetesDouble, cluster: KubernetesCluster
) -> None:
    read = _deployment(k8s)["metadata"]["resourceVersion"]
    cluster.set_replicas(DEPLOYMENT, 6, expect=2)
    (write,) = k8s.writes(SCALE_PATH)
    assert write.body == {"metadata": {"resourceVersion": read}, "spec": {"replicas": 6}}
    assert _deployment(k8s)["spec"]["replicas"] == 6


def test_a_retried_scale_over_a_persons_change_writes_nothing(
    k8s: KubernetesDouble, cluster: KubernetesCluster
) -> None:
    """The scenario of the issue: Medic's 6 landed, its answer was lost, a person scaled to 3, and
    Temporal retries the step. The retry finds 3, writes nothing and says what it found."""
    before = Scale().snapshot(cluster, SCALE)
    cluster.set_replicas(DEPLOYMENT, 6, expect=2)  # the first attempt (its answer lost)
    cluster.set_replicas(DEPLOYMENT, 3)  # kubectl scale, by a person
    with pytest.raises(ChangedMeanwhile, match=r"replicas is 3 \(the plan found 2 and would set 6\)"):
        Scale().apply(cluster, SCALE, before, "t1")
    assert [w.body["spec"]["replicas"] for w in k8s.writes(SCALE_PATH)] == [6, 3]  # no third write
    assert _deployment(k8s)["spec"]["replicas"] == 3


def test_a_changed_field_is_a_conflict_and_a_changed_status_is_not(
    k8s: KubernetesDouble, cluster: KubernetesCluster
) -> None:
    cluster.set_replicas(DEPLOYMENT, 3)
    with pytest.raises(ClusterConflict) as caught:
        cluster.set_replicas(DEPLOYMENT, 6, expect=2)
    assert caught.value.found == {"/spec/replicas": 3}
    # A 409 from a change elsewhere in the object (a controller writing status) reads again and writes.
    k8s.faults.push("http_error", status=409, route=f"PATCH {SCALE_ROUTE}")
    cluster.set_replicas(DEPLOYMENT, 6, expect=3)
    assert _deployment(k8s)["spec"]["replicas"] == 6
    k8s.faults.push("http_error", status=409, times=3, route=f"PATCH {SCALE_ROUTE}")
    with pytest.raises(TransientError, match="kept changing"):
        cluster.set_replicas(DEPLOYMENT, 7, expect=6)


def test_hpa_and_restart_preconditions_over_the_api(
    k8s: KubernetesDouble, cluster: KubernetesCluster
) -> None:
    hpa_step = SCALE.model_copy(update={"hpa": "checkout"})
    before = Scale().snapshot(cluster, hpa_step)
    assert before == {"replicas": 2, "max_replicas": 10}
    cluster.merge_patch(HPA, {"spec": {"maxReplicas": 12}})  # a person raises the ceiling
    with pytest.raises(ChangedMeanwhile, match="max_replicas is 12"):
        Scale().apply(cluster, hpa_step, before, "t1")
    assert k8s.obj("autoscaling/v2", "horizontalpodautoscalers", NS, "checkout")["spec"]["minReplicas"] == 2

    restart = RestartStep(action="restart", target=SCALE.target)
    before = Restart().snapshot(cluster, restart)
    assert before == {"restarted_at": None}  # no annotation yet: expected missing, and it is
    Restart().apply(cluster, restart, before, "2026-01-01T00:00:00Z")
    Restart().apply(cluster, restart, before, "2026-01-01T00:00:00Z")  # a retry: nothing to write
    annotations = _deployment(k8s)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "2026-01-01T00:00:00Z"
    patches = [w for w in k8s.writes() if w.path.endswith("/deployments/checkout")]
    assert len(patches) == 1 and patches[0].body["metadata"]["resourceVersion"]
