"""The Kubernetes adapter against the API double, through the real ``kubernetes`` client (37.x).

Besides the adapter, these pin down what the client does: without ``_content_type`` a typed PATCH with
a dict body goes out as ``application/strategic-merge-patch+json`` (``CustomObjectsApi`` defaults to
merge patch); a create carries no Content-Type at all; typed responses are pydantic models that reject
incomplete objects and drop unknown fields.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
from kubernetes.client import ApiClient, AppsV1Api, Configuration, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config as kube_config_module

from activities.adapters.kubernetes import CHANGE_CAUSE, MERGE_PATCH, KubernetesCluster
from activities.adapters.kubernetes import _selector as adapter_selector
from medic.ports import PermanentError, TransientError
from medic.runbook import CircuitBreakStep
from remediations.actions import CircuitBreak
from remediations.ports import Cluster, ClusterError, ObjectRef
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import selector_matches

NS = "shop"
IMAGES = ["registry.example.com/checkout:1.0", "registry.example.com/checkout:1.1"]
CURRENT = "registry.example.com/checkout:1.2"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_ROUTE = "/apis/apps/v1/namespaces/{namespace}/{workload}/{name}"
CUSTOM_ROUTE = "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", namespace=NS, name="checkout")
STATEFULSET = ObjectRef(api_version="apps/v1", kind="StatefulSet", namespace=NS, name="ledger")
HPA = ObjectRef(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler", namespace=NS, name="checkout")
CONFIGMAP = ObjectRef(api_version="v1", kind="ConfigMap", namespace=NS, name="medic-circuit-payments")
DESTINATION_RULE = ObjectRef(
    api_version="networking.istio.io/v1beta1",
    kind="DestinationRule",
    namespace=NS,
    name="medic-circuit-payments",
)
HTTPROUTE = ObjectRef(
    api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute", namespace=NS, name="checkout"
)
VIRTUALSERVICE = ObjectRef(
    api_version="networking.istio.io/v1beta1", kind="VirtualService", namespace=NS, name="checkout"
)


def _route_rules(stable: int, canary: int) -> list[dict[str, Any]]:
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                {"group": "", "kind": "Service", "name": "checkout-stable", "port": 8080, "weight": stable},
                {"group": "", "kind": "Service", "name": "checkout-canary", "port": 8080, "weight": canary},
            ],
        }
    ]


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    double = KubernetesDouble()
    double.add_deployment(NS, "checkout", replicas=2, history=IMAGES, image=CURRENT)
    double.add_statefulset(NS, "ledger", replicas=3)
    double.add_hpa(NS, "checkout", min_replicas=2, max_replicas=10)
    double.add_custom(
        "gateway.networking.k8s.io",
        "v1",
        "httproutes",
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "checkout", "namespace": NS},
            "spec": {
                "parentRefs": [{"name": "public", "namespace": "gateways"}],
                "hostnames": ["shop.example.com"],
                "rules": [*_route_rules(90, 10), {"backendRefs": [{"name": "checkout-legacy", "port": 80}]}],
            },
        },
    )
    double.add_custom(
        "networking.istio.io",
        "v1beta1",
        "virtualservices",
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "VirtualService",
            "metadata": {"name": "checkout", "namespace": NS},
            "spec": {
                "hosts": ["checkout"],
                "http": [
                    {
                        "route": [
                            {"destination": {"host": "checkout", "subset": "v1"}, "weight": 100},
                            {"destination": {"host": "checkout-canary", "subset": "v2"}, "weight": 0},
                        ]
                    }
                ],
            },
        },
    )
    with double.serve():
        yield double


def _configuration(url: str) -> Configuration:
    configuration = Configuration()
    configuration.host = url
    return configuration


@pytest.fixture
def cluster(k8s: KubernetesDouble) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster(_configuration(k8s.url), timeout=2.0, connect_timeout=1.0)
    port: Cluster = adapter  # the adapter implements the port
    assert port is adapter
    yield adapter
    adapter.close()


def _deployment(k8s: KubernetesDouble) -> dict[str, Any]:
    return k8s.obj("apps/v1", "deployments", NS, "checkout")


def _image(obj: dict[str, Any]) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


# -- reading -------------------------------------------------------------------------------------------------


def test_get_returns_the_objects_as_plain_dicts(cluster: KubernetesCluster) -> None:
    deployment = cluster.get(DEPLOYMENT)
    assert deployment is not None
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "checkout"}}
    assert _image(deployment) == CURRENT
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"] == 3
    statefulset = cluster.get(STATEFULSET)
    assert statefulset is not None and statefulset["spec"]["replicas"] == 3
    hpa = cluster.get(HPA)
    assert hpa is not None and hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 10
    route = cluster.get(HTTPROUTE)
    assert route is not None and route["spec"]["rules"][0]["backendRefs"][1]["weight"] == 10
    virtualservice = cluster.get(VIRTUALSERVICE)
    assert virtualservice is not None and virtualservice["spec"]["http"][0]["route"][0]["weight"] == 100


def test_get_of_a_missing_object_is_none(cluster: KubernetesCluster) -> None:
    assert cluster.get(DESTINATION_RULE) is None
    assert cluster.get(CONFIGMAP) is None
    assert cluster.get(DEPLOYMENT.model_copy(update={"name": "gone"})) is None


def test_a_missing_resource_type_is_not_a_missing_object(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    # What the API answers when the CRD is not installed: a 404 that names no object.
    k8s.faults.push("http_error", status=404, route=CUSTOM_ROUTE)
    with pytest.raises(ClusterError, match="could not find the requested resource"):
        cluster.get(DESTINATION_RULE)
    with pytest.raises(ClusterError, match="unsupported kind"):
        cluster.get(DESTINATION_RULE.model_copy(update={"api_version": "networking.istio.io/v1alpha3"}))


def test_typed_reads_drop_fields_the_client_does_not_know(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    k8s.tamper("apps/v1", "deployments", NS, "checkout", lambda d: d["spec"].update(futureField=True))
    deployment = cluster.get(DEPLOYMENT)
    assert deployment is not None and "futureField" not in deployment["spec"]


def test_the_client_rejects_incomplete_objects() -> None:
    incomplete = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": 1},
    }
    with pytest.raises(pydantic.ValidationError, match="selector"):
        ApiClient().deserialize(json.dumps(incomplete), "V1Deployment", "application/json")


# -- scale ---------------------------------------------------------------------------------------------------


def test_scale_reads_and_sets_replicas_idempotently(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    assert cluster.get_replicas(DEPLOYMENT) == 2
    cluster.set_replicas(DEPLOYMENT, 5)
    assert cluster.get_replicas(DEPLOYMENT) == 5
    after_first = _deployment(k8s)
    assert after_first["spec"]["replicas"] == 5 and after_first["metadata"]["generation"] == 4
    assert [rs["spec"]["replicas"] for rs in k8s.replicasets(NS, "checkout")] == [0, 0, 5]
    cluster.set_replicas(DEPLOYMENT, 5)
    assert _deployment(k8s)["metadata"] == after_first["metadata"]  # same resourceVersion, generation
    path = "/apis/apps/v1/namespaces/shop/deployments/checkout/scale"
    writes = k8s.writes(path)
    assert [(w.method, w.content_type, w.body) for w in writes] == [
        ("PATCH", MERGE_PATCH, {"spec": {"replicas": 5}})
    ] * 2
    assert k8s.writes() == writes


def test_scale_to_zero_and_statefulsets(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    cluster.set_replicas(DEPLOYMENT, 0)
    assert cluster.get_replicas(DEPLOYMENT) == 0  # the Scale's spec.replicas is omitted when 0
    assert cluster.get_replicas(STATEFULSET) == 3
    cluster.set_replicas(STATEFULSET, 1)
    assert cluster.get_replicas(STATEFULSET) == 1
    assert k8s.obj("apps/v1", "statefulsets", NS, "ledger")["status"]["replicas"] == 1
    with pytest.raises(ClusterError, match="scale subresource"):
        cluster.get_replicas(HPA)


@pytest.mark.parametrize(
    ("strategy", "updated", "held"),
    [
        ({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, 3, 0),
        ({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}, 1, 2),
        ({"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}, 0, 3),
        ({"type": "OnDelete", "rollingUpdate": None}, 0, 3),
    ],
)
def test_a_statefulset_updates_its_pods_as_its_strategy_says(
    cluster: KubernetesCluster, k8s: KubernetesDouble, strategy: dict[str, Any], updated: int, held: int
) -> None:
    """As the StatefulSet controller does (https://kubernetes.io/docs/concepts/workloads/controllers/
    statefulset/#update-strategies; apps/v1 StatefulSetStatus): a new pod template reaches the pods from
    the highest ordinal down to the partition, none under OnDelete, and currentRevision moves only once
    every pod runs the update revision. The double had every pod updated at once, whatever the strategy."""
    cluster.merge_patch(STATEFULSET, {"spec": {"updateStrategy": strategy}})
    before = k8s.obj("apps/v1", "statefulsets", NS, "ledger")["status"]
    cluster.merge_patch(
        STATEFULSET, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "t"}}}}}
    )
    status = k8s.obj("apps/v1", "statefulsets", NS, "ledger")["status"]
    # currentReplicas: the pods on currentRevision, the update revision itself once all run it
    assert (status["updatedReplicas"], status["currentReplicas"]) == (updated, held or 3)
    assert status["updateRevision"] != before["updateRevision"]
    assert (status["currentRevision"] == status["updateRevision"]) == (held == 0)
    cluster.set_replicas(STATEFULSET, 4)  # a pod scaled out starts on the update revision
    assert k8s.obj("apps/v1", "statefulsets", NS, "ledger")["status"]["updatedReplicas"] == (
        updated + 1 if held else 4
    )


def test_a_statefulsets_fixed_fields_are_refused_as_the_api_does(k8s: KubernetesDouble) -> None:
    """422 Invalid with the API's cause (``field: spec``, FieldValueInvalid, "Forbidden: updates to
    statefulset spec for fields other than ..."), where the double took a new podManagementPolicy or
    volumeClaimTemplates and answered 200."""
    configuration = Configuration()
    configuration.host = k8s.url
    apps = AppsV1Api(ApiClient(configuration))
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set(
            "ledger", NS, {"spec": {"podManagementPolicy": "Parallel"}}, _content_type=MERGE_PATCH
        )
    body = json.loads(err.value.body or "{}")
    assert (err.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'StatefulSet.apps "ledger" is invalid: spec: Forbidden: updates to statefulset spec for fields other '
        "than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    )
    assert [c["field"] for c in body["details"]["causes"]] == ["spec"]
    # rollingUpdate only with a rolling update (a merge patch of the type alone keeps the partition)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set(
            "ledger", NS, {"spec": {"updateStrategy": {"type": "OnDelete"}}}, _content_type=MERGE_PATCH
        )
    assert json.loads(err.value.body or "{}")["message"] == (
        'StatefulSet.apps "ledger" is invalid: spec.updateStrategy.rollingUpdate: Invalid value: '
        """{"partition":0}: only allowed for updateStrategy 'RollingUpdate'"""
    )
    # what may change, does
    on_delete = {"type": "OnDelete", "rollingUpdate": None}
    apps.patch_namespaced_stateful_set(
        "ledger", NS, {"spec": {"updateStrategy": on_delete}}, _content_type=MERGE_PATCH
    )


def test_an_invalid_replica_count_is_a_cluster_error(cluster: KubernetesCluster) -> None:
    with pytest.raises(ClusterError, match=r"422.*must be greater than or equal to 0"):
        cluster.set_replicas(DEPLOYMENT, -1)


def test_hpa_min_replicas_merge_patch(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    before = k8s.obj("autoscaling/v2", "horizontalpodautoscalers", NS, "checkout")
    patched = cluster.merge_patch(HPA, {"spec": {"minReplicas": 4}})
    assert patched["spec"]["minReplicas"] == 4 and patched["spec"]["maxReplicas"] == 10
    after = k8s.obj("autoscaling/v2", "horizontalpodautoscalers", NS, "checkout")
    assert after["spec"] == before["spec"] | {"minReplicas": 4}
    assert [(w.method, w.content_type) for w in k8s.writes()] == [("PATCH", MERGE_PATCH)]
    with pytest.raises(ClusterError, match=r"spec\.maxReplicas.*minReplicas"):
        cluster.merge_patch(HPA, {"spec": {"minReplicas": 20}})


# -- restart and rollout -------------------------------------------------------------------------------------


def _restart(cluster: KubernetesCluster, stamp: str) -> None:
    cluster.merge_patch(
        DEPLOYMENT, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    )


def test_restart_with_the_same_stamp_makes_one_revision(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    _restart(cluster, "2024-05-01T12:00:00Z")
    first = _deployment(k8s)
    assert first["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == "2024-05-01T12:00:00Z"
    assert cluster.rollout(DEPLOYMENT).revision == 4
    _restart(cluster, "2024-05-01T12:00:00Z")
    assert _deployment(k8s)["metadata"] == first["metadata"]
    assert sorted(k8s.revisions(NS, "checkout")) == [1, 2, 3, 4]
    assert len(k8s.writes()) == 2


def test_rollout_lists_revisions_newest_first(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    info = cluster.rollout(DEPLOYMENT)
    assert (info.revision, info.previous) == (3, [2, 1])
    assert k8s.revisions(NS, "checkout") == {1: IMAGES[0], 2: IMAGES[1], 3: CURRENT}
    listed = k8s.requests("GET /apis/apps/v1/namespaces/{namespace}/replicasets")
    assert [r.query for r in listed] == ["labelSelector=app%3Dcheckout"]
    with pytest.raises(ClusterError, match="Deployments"):
        cluster.rollout(STATEFULSET)


def test_rollout_says_when_the_running_release_rolled_out(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """The age of the ReplicaSet that runs the current revision; after a rollback re-uses an old one, not
    known (its creationTimestamp is that of the old release)."""
    (running,) = [
        rs
        for rs in k8s.replicasets(NS, "checkout")
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    ]
    info = cluster.rollout(DEPLOYMENT)
    assert info.since is not None
    assert info.since == datetime.fromisoformat(
        running["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    )
    cluster.rollback(DEPLOYMENT, 2)
    assert cluster.rollout(DEPLOYMENT).since is None


def test_rollback_and_forward_again(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    cluster.rollback(DEPLOYMENT, 2)
    deployment = _deployment(k8s)
    assert _image(deployment) == IMAGES[1]
    assert deployment["metadata"]["annotations"][CHANGE_CAUSE] == "medic rollback to revision 2"
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    info = cluster.rollout(DEPLOYMENT)
    assert (info.revision, info.previous) == (4, [3, 1])  # revision 2's ReplicaSet is now revision 4
    assert len(k8s.replicasets(NS, "checkout")) == 3
    (patch,) = k8s.writes()
    assert patch.content_type == MERGE_PATCH
    assert patch.body["metadata"]["resourceVersion"]  # a precondition
    # Repeating it (an activity retry) finds revision 2 in the revision history and writes nothing.
    cluster.rollback(DEPLOYMENT, 2)
    assert len(k8s.writes()) == 1
    cluster.rollback(DEPLOYMENT, 3)
    assert _image(_deployment(k8s)) == CURRENT
    info = cluster.rollout(DEPLOYMENT)
    assert (info.revision, info.previous) == (5, [4, 1])
    assert k8s.revisions(NS, "checkout") == {1: IMAGES[0], 4: IMAGES[1], 5: CURRENT}


def test_rollback_restores_the_template_exactly(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    _restart(cluster, "2024-05-01T12:00:00Z")
    cluster.rollback(DEPLOYMENT, 3)
    template = _deployment(k8s)["spec"]["template"]
    assert "annotations" not in template["metadata"]  # revision 3 had none
    assert k8s.writes()[-1].body["spec"]["template"] == {"metadata": {"annotations": None}}
    assert cluster.rollout(DEPLOYMENT).revision == 5


def test_a_stale_resource_version_is_a_conflict(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    stale = _deployment(k8s)["metadata"]["resourceVersion"]
    cluster.set_replicas(DEPLOYMENT, 4)
    with pytest.raises(ClusterError, match=r"409.*has been modified"):
        cluster.merge_patch(DEPLOYMENT, {"metadata": {"resourceVersion": stale, "labels": {"tier": "web"}}})
    assert "tier" not in _deployment(k8s)["metadata"]["labels"]


@pytest.mark.parametrize(
    ("labels", "selects"),
    [({"app": "checkout", "track": "canary"}, True), ({"app": "checkout", "track": "stable"}, False)],
)
def test_selectors_the_adapter_sends_are_understood(labels: dict[str, str], selects: bool) -> None:
    selector = {
        "matchLabels": {"app": "checkout"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["canary", "beta"]},
            {"key": "tier", "operator": "DoesNotExist"},
            {"key": "app", "operator": "Exists"},
        ],
    }
    query = adapter_selector(selector)
    assert query == "app=checkout,track in (canary,beta),!tier,app"
    assert selector_matches(query, labels) is selects


def test_rollback_to_an_unknown_revision(cluster: KubernetesCluster) -> None:
    with pytest.raises(ClusterError, match="no revision 9"):
        cluster.rollback(DEPLOYMENT, 9)


def test_rollback_retries_a_conflict(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    k8s.faults.push("http_error", status=409, route=f"PATCH {WORKLOAD_ROUTE}")
    cluster.rollback(DEPLOYMENT, 1)
    assert _image(_deployment(k8s)) == IMAGES[0]
    assert [w.method for w in k8s.writes()] == ["PATCH", "PATCH"]
    k8s.faults.push("http_error", status=409, times=3, route=f"PATCH {WORKLOAD_ROUTE}")
    with pytest.raises(TransientError, match="kept changing"):
        cluster.rollback(DEPLOYMENT, 3)


# -- create, patch, delete -----------------------------------------------------------------------------------


def test_configmap_create_patch_delete(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP.name,
            "namespace": NS,
            "labels": {"app.kubernetes.io/managed-by": "medic"},
        },
        "data": {"open": "true", "upstream": "payments"},
    }
    created = cluster.create(CONFIGMAP, body)
    assert created["data"] == body["data"] and created["metadata"]["uid"]
    with pytest.raises(ClusterError, match=r"409.*already exists"):
        cluster.create(CONFIGMAP, body)
    cluster.merge_patch(CONFIGMAP, {"data": {"open": "false", "upstream": None}})
    assert k8s.obj("v1", "configmaps", NS, CONFIGMAP.name)["data"] == {"open": "false"}
    cluster.delete(CONFIGMAP)
    assert cluster.get(CONFIGMAP) is None
    with pytest.raises(ClusterError, match=r"404.*not found"):
        cluster.delete(CONFIGMAP)
    with pytest.raises(ClusterError, match="404"):
        cluster.merge_patch(CONFIGMAP, {"data": {"open": "true"}})


def test_a_body_the_client_refuses_is_never_sent(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    with pytest.raises(ClusterError, match="ValidationError"):
        cluster.create(CONFIGMAP, {"metadata": {"name": CONFIGMAP.name}, "dataa": {"open": "true"}})
    assert k8s.writes() == []


def test_destination_rule_create_patch_delete(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    spec = {
        "host": "payments",
        "trafficPolicy": {
            "connectionPool": {"http": {"http1MaxPendingRequests": 10}},
            "outlierDetection": {"consecutive5xxErrors": 5, "interval": "5s", "baseEjectionTime": "30s"},
        },
    }
    cluster.create(DESTINATION_RULE, {"metadata": {"labels": {"medic.io/circuit": "payments"}}, "spec": spec})
    stored = k8s.obj("networking.istio.io/v1beta1", "destinationrules", NS, DESTINATION_RULE.name)
    assert stored["kind"] == "DestinationRule" and stored["spec"] == spec
    assert stored["metadata"]["generation"] == 1
    patched = cluster.merge_patch(
        DESTINATION_RULE, {"spec": {"trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 3}}}}
    )
    assert patched["spec"]["trafficPolicy"]["outlierDetection"] == {
        "consecutive5xxErrors": 3,
        "interval": "5s",
        "baseEjectionTime": "30s",
    }
    assert patched["metadata"]["generation"] == 2
    cluster.delete(DESTINATION_RULE)
    assert cluster.get(DESTINATION_RULE) is None
    assert [w.method for w in k8s.writes()] == ["POST", "PATCH", "DELETE"]
    with pytest.raises(ClusterError, match="names"):
        cluster.create(DESTINATION_RULE, {"metadata": {"name": "other"}, "spec": spec})


def test_httproute_weights_merge_patch_replaces_the_rules(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    cluster.merge_patch(HTTPROUTE, {"spec": {"rules": _route_rules(0, 100)}})
    route = k8s.obj("gateway.networking.k8s.io/v1", "httproutes", NS, "checkout")
    assert route["spec"]["rules"] == _route_rules(0, 100)  # the legacy rule is gone: lists are replaced
    assert route["spec"]["hostnames"] == ["shop.example.com"]
    with pytest.raises(ClusterError, match=r"422.*weight"):
        cluster.merge_patch(HTTPROUTE, {"spec": {"rules": _route_rules(-1, 100)}})


def test_virtualservice_weights(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    http = [
        {
            "route": [
                {"destination": {"host": "checkout", "subset": "v1"}, "weight": 20},
                {"destination": {"host": "checkout-canary", "subset": "v2"}, "weight": 80},
            ]
        }
    ]
    cluster.merge_patch(VIRTUALSERVICE, {"spec": {"http": http}})
    assert k8s.obj("networking.istio.io/v1beta1", "virtualservices", NS, "checkout")["spec"]["http"] == http


# -- what the client sends by default ------------------------------------------------------------------------


def test_without_a_content_type_typed_patches_go_out_as_strategic_merge(k8s: KubernetesDouble) -> None:
    with ApiClient(_configuration(k8s.url)) as client:
        # Typed APIs: the first listed type (json-patch) is turned into strategic merge for a dict body.
        AppsV1Api(client).patch_namespaced_deployment(
            "checkout",
            NS,
            {"spec": {"template": {"spec": {"containers": [{"name": "checkout", "image": "x:2"}]}}}},
        )
        # CustomObjectsApi lists merge-patch only.
        CustomObjectsApi(client).patch_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", NS, "httproutes", "checkout", {"spec": {"hostnames": []}}
        )
        # And custom resources refuse strategic merge, as the API server does.
        with pytest.raises(ApiException) as refused:
            CustomObjectsApi(client).patch_namespaced_custom_object(
                "gateway.networking.k8s.io",
                "v1",
                NS,
                "httproutes",
                "checkout",
                {"spec": {"hostnames": ["a.example.com"]}},
                _content_type="application/strategic-merge-patch+json",
            )
        assert refused.value.status == 415
    assert [w.content_type for w in k8s.writes()] == [
        "application/strategic-merge-patch+json",
        MERGE_PATCH,
        "application/strategic-merge-patch+json",
    ]
    container = _deployment(k8s)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "x:2" and container["ports"]  # merged by name, not replaced


def test_create_sends_no_content_type(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    cluster.create(CONFIGMAP, {"data": {"open": "true"}})
    (post,) = k8s.requests("POST /api/v1/namespaces/{namespace}/configmaps")
    assert "content-type" not in post.headers


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 409, 422])
def test_refusals_are_cluster_errors(cluster: KubernetesCluster, k8s: KubernetesDouble, status: int) -> None:
    message = (
        'deployments.apps "checkout" is forbidden: User "system:serviceaccount:medic:medic" cannot patch'
    )
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": status}
    k8s.faults.push("http_error", status=status, body=body, route=WORKLOAD_ROUTE)
    with pytest.raises(ClusterError, match=f"{status}.*cannot patch"):
        cluster.merge_patch(DEPLOYMENT, {"metadata": {"labels": {"tier": "web"}}})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(cluster: KubernetesCluster, k8s: KubernetesDouble, status: int) -> None:
    k8s.faults.push("server_error", status=status)
    with pytest.raises(TransientError, match=str(status)) as raised:
        cluster.get(DEPLOYMENT)
    assert raised.value.retry_after is None
    assert k8s.count() == 1  # no retry inside the client


def test_rate_limits_are_transient_with_retry_after(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    k8s.faults.push("rate_limit", retry_after=7)
    with pytest.raises(TransientError, match="429") as raised:
        cluster.set_replicas(DEPLOYMENT, 3)
    assert raised.value.retry_after == 7.0
    k8s.faults.push("rate_limit", retry_after=None)
    with pytest.raises(TransientError) as raised:
        cluster.rollout(DEPLOYMENT)
    assert raised.value.retry_after is None


def test_timeouts_are_transient(k8s: KubernetesDouble) -> None:
    adapter = KubernetesCluster(_configuration(k8s.url), timeout=0.3, connect_timeout=0.3)
    k8s.faults.push("delay", seconds=2.0)
    with pytest.raises(TransientError, match="unreachable"):
        adapter.get(DEPLOYMENT)
    k8s.faults.push("delay", seconds=2.0)
    with pytest.raises(TransientError):
        adapter.merge_patch(HPA, {"spec": {"minReplicas": 3}})
    assert k8s.count() == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = KubernetesCluster(_configuration(f"http://127.0.0.1:{port}"), timeout=1.0, connect_timeout=1.0)
    with pytest.raises(TransientError, match="unreachable"):
        adapter.get_replicas(DEPLOYMENT)


# -- configuration -------------------------------------------------------------------------------------------


def test_from_settings_reads_the_kubeconfig(k8s: KubernetesDouble, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "double", "cluster": {"server": k8s.url}}],
                "users": [{"name": "medic", "user": {"token": "medic-token"}}],
                "contexts": [{"name": "double", "context": {"cluster": "double", "user": "medic"}}],
                "current-context": "double",
            }
        )
    )
    adapter = KubernetesCluster.from_settings(kubeconfig)
    assert adapter.get_replicas(DEPLOYMENT) == 2
    assert k8s.requests()[-1].headers["authorization"] == "Bearer medic-token"
    with pytest.raises(PermanentError, match="cannot load kubeconfig"):
        KubernetesCluster.from_settings(tmp_path / "missing")


def test_from_settings_without_any_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kube_config_module, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(PermanentError, match="in-cluster"):
        KubernetesCluster.from_settings(None)


def test_undoing_a_circuit_break_restores_the_configmap_exactly(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """The undo is a merge patch computed from the recorded state: what the action added goes too."""
    k8s.add_configmap(NS, "medic-circuit-payments", {"owner": "payments-team"})
    step = CircuitBreakStep(action="circuit_break", namespace=NS, upstream="payments", mode="configmap")
    action = CircuitBreak()
    before = action.snapshot(cluster, step)
    action.apply(cluster, step, before, "2026-11-23T12:00:00Z")
    assert k8s.obj("v1", "configmaps", NS, "medic-circuit-payments")["data"]["open"] == "true"
    action.compensate(cluster, step, before)
    assert k8s.obj("v1", "configmaps", NS, "medic-circuit-payments")["data"] == {"owner": "payments-team"}


def test_custom_objects_are_listed_and_a_crd_not_installed_lists_none(k8s: KubernetesDouble) -> None:
    """A LIST of a custom resource (CustomObjectsApi.list_namespaced_custom_object): the namespace's items;
    a CRD that is not installed answers 404 without details.name, which is none, not an error."""
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": NS},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
    }
    k8s.add_custom("argoproj.io", "v1alpha1", "rollouts", rollout)
    configuration = Configuration()
    configuration.host = k8s.url
    with KubernetesDouble(crds=()).serve() as bare_url:
        bare = Configuration()
        bare.host = bare_url
        assert KubernetesCluster(bare).custom_objects("argoproj.io/v1alpha1", "Rollout", NS) == []
    cluster = KubernetesCluster(configuration)
    (found,) = cluster.custom_objects("argoproj.io/v1alpha1", "Rollout", NS)
    assert found["spec"]["workloadRef"]["name"] == "checkout"
    assert cluster.custom_objects("argoproj.io/v1alpha1", "Rollout", "elsewhere") == []
    assert cluster.custom_objects("keda.sh/v1alpha1", "ScaledObject", NS) == []
    listed = k8s.requests()[-3]
    assert (listed.method, listed.path) == ("GET", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts")
