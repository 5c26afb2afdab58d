"""Issue 14: the owner lookup over the real ``kubernetes`` client, against a small read-only API double
built from the fixtures' cluster (tests/fixtures/alerts/kubernetes-mixin.json ``topology``), and the
bounded cache in front of it. Objects carry what the API sends for these reads (``metadata.
ownerReferences`` with ``controller: true``, ``spec.scaleTargetRef``, ``spec.volumes``, ``status.
addresses``), in the shapes of https://kubernetes.io/docs/reference/kubernetes-api/."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from kubernetes.client import Configuration

from activities.adapters.kube_owners import KubernetesOwners
from medic.assign import decide
from medic.subject import ObjectKey, resolve_subject
from service.owners import CachedOwners
from tests.doubles._base import serve_in_thread
from tests.unit.test_assign_kubernetes import fixture_catalog
from tests.unit.test_subject import K8S_ALERTS, NODE, TOPOLOGY


def _meta(namespace: str, name: str, owner: tuple[str, str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
    if owner:
        api, kind, owner_name = owner
        meta["ownerReferences"] = [
            {
                "apiVersion": api,
                "kind": kind,
                "name": owner_name,
                "uid": f"uid-{owner_name}",
                "controller": True,
            }
        ]
    return meta


_API = {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}


def cluster_api() -> tuple[FastAPI, list[str]]:
    pods: dict[tuple[str, str], dict[str, Any]] = {}
    for p in TOPOLOGY["pods"]:
        owner = (_API[p["owner_kind"]], p["owner_kind"], p["owner_name"])
        volumes = [
            {"name": c, "persistentVolumeClaim": {"claimName": c}}
            for c in p.get("persistentvolumeclaims", [])
        ]
        labels = {"app": p["workload"]["name"]}
        pods[(p["namespace"], p["pod"])] = {
            "kind": "Pod",
            "metadata": {**_meta(p["namespace"], p["pod"], owner), "labels": labels},
            "spec": {
                "nodeName": p["node"],
                "volumes": volumes,
                "containers": [{"name": c} for c in p["containers"]],
            },
        }
    replicasets = {
        (r["namespace"], r["replicaset"]): {
            "kind": "ReplicaSet",
            "metadata": _meta(r["namespace"], r["replicaset"], ("apps/v1", r["owner_kind"], r["owner_name"])),
        }
        for r in TOPOLOGY["replicasets"]
    }
    jobs = {
        (j["namespace"], j["job_name"]): {
            "kind": "Job",
            "metadata": _meta(j["namespace"], j["job_name"], ("batch/v1", j["owner_kind"], j["owner_name"])),
        }
        for j in TOPOLOGY["jobs"]
    }
    hpas = {
        (h["namespace"], h["horizontalpodautoscaler"]): {
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(h["namespace"], h["horizontalpodautoscaler"]),
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": h["scaletargetref_kind"],
                    "name": h["scaletargetref_name"],
                },
                "minReplicas": h["min_replicas"],
                "maxReplicas": h["max_replicas"],
            },
        }
        for h in TOPOLOGY["horizontalpodautoscalers"]
    }
    services = {
        (s["namespace"], s["service"]): {
            "kind": "Service",
            "metadata": _meta(s["namespace"], s["service"]),
            "spec": {"selector": {"app": s["selects"]["name"]}},
        }
        for s in TOPOLOGY["services"]
    }
    nodes = [
        {
            "metadata": {"name": n["node"]},
            "status": {"addresses": [{"type": "InternalIP", "address": n["internal_ip"]}]},
        }
        for n in TOPOLOGY["nodes"]
    ]
    # Workloads as apps/v1 answers a GET: their pods carry app=<name>, which is the selector.
    workloads = {
        (p["workload"]["kind"], p["namespace"], p["workload"]["name"]): {
            "kind": p["workload"]["kind"],
            "metadata": _meta(p["namespace"], p["workload"]["name"]),
            "spec": {"selector": {"matchLabels": {"app": p["workload"]["name"]}}},
        }
        for p in TOPOLOGY["pods"]
    }
    asked: list[str] = []
    app = FastAPI()

    def one(
        table: dict[tuple[str, str], dict[str, Any]], namespace: str, name: str, path: str
    ) -> JSONResponse:
        asked.append(path)
        if (namespace, name) not in table:
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            }
            return JSONResponse(status, status_code=404)
        return JSONResponse(table[(namespace, name)])

    @app.get("/api/v1/namespaces/{namespace}/pods/{name}")
    def pod(namespace: str, name: str) -> JSONResponse:
        return one(pods, namespace, name, f"pod {namespace}/{name}")

    @app.get("/api/v1/namespaces/{namespace}/pods")
    def list_pods(namespace: str, labelSelector: str = "") -> JSONResponse:  # noqa: N803 - the API's name
        asked.append(f"pods {namespace}")
        wanted = dict(pair.split("=", 1) for pair in labelSelector.split(",") if pair)
        items = [
            p
            for (ns, _), p in pods.items()
            if ns == namespace and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]
        return JSONResponse({"kind": "PodList", "metadata": {}, "items": items})

    @app.get("/apis/apps/v1/namespaces/{namespace}/{plural}/{name}")
    def workload(namespace: str, plural: str, name: str) -> JSONResponse:
        kinds = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
        if plural == "replicasets":
            return one(replicasets, namespace, name, f"replicaset {namespace}/{name}")
        table = {(ns, n): w for (k, ns, n), w in workloads.items() if k == kinds.get(plural)}
        return one(table, namespace, name, f"{plural} {namespace}/{name}")

    @app.get("/apis/apps/v1/namespaces/{namespace}/replicasets/{name}")
    def replicaset(namespace: str, name: str) -> JSONResponse:
        return one(replicasets, namespace, name, f"replicaset {namespace}/{name}")

    @app.get("/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    def job(namespace: str, name: str) -> JSONResponse:
        return one(jobs, namespace, name, f"job {namespace}/{name}")

    @app.get("/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}")
    def hpa(namespace: str, name: str) -> JSONResponse:
        return one(hpas, namespace, name, f"hpa {namespace}/{name}")

    @app.get("/api/v1/namespaces/{namespace}/services/{name}")
    def service(namespace: str, name: str) -> JSONResponse:
        return one(services, namespace, name, f"service {namespace}/{name}")

    @app.get("/api/v1/pods")
    def pods_on_node(fieldSelector: str = "") -> JSONResponse:  # noqa: N803 - the API's name
        asked.append(f"pods {fieldSelector}")
        node = fieldSelector.removeprefix("spec.nodeName=")
        items = [p for p in pods.values() if p["spec"]["nodeName"] == node]
        return JSONResponse({"kind": "PodList", "metadata": {}, "items": items})

    @app.get("/api/v1/nodes")
    def list_nodes() -> JSONResponse:
        asked.append("nodes")
        return JSONResponse({"kind": "NodeList", "metadata": {}, "items": nodes})

    return app, asked


@pytest.fixture
def cluster() -> Iterator[tuple[KubernetesOwners, list[str]]]:
    app, asked = cluster_api()
    with serve_in_thread(app) as url:
        configuration = Configuration()
        configuration.host = url
        owners = KubernetesOwners(configuration)
        try:
            yield owners, asked
        finally:
            owners.close()


@pytest.mark.parametrize("entry", K8S_ALERTS + NODE["alerts"], ids=lambda e: e["id"])
def test_the_cluster_resolves_every_fixture_subject(
    cluster: tuple[KubernetesOwners, list[str]], entry: dict[str, Any]
) -> None:
    owners, _ = cluster
    subject = resolve_subject(entry["labels"], owners)
    want = entry.get("workload")
    if want and subject.object and subject.object.kind != "Node" and "kube-state-metrics" not in want["name"]:
        assert subject.workload == ObjectKey(
            kind=want["kind"], namespace=want["namespace"], name=want["name"]
        )
        assert "(cluster)" in subject.reason or subject.object == subject.workload
    if entry["subject"]["kind"] == "Node":
        assert subject.object == ObjectKey(kind="Node", name=entry["subject"]["name"]), subject.reason


def test_a_pod_the_patterns_would_misread_is_resolved_by_the_cluster(
    cluster: tuple[KubernetesOwners, list[str]],
) -> None:
    """The CronJob's pod without a cluster: a CronJob by its name; with it: the same, through its Job."""
    owners, asked = cluster
    key = ObjectKey(kind="Pod", namespace="shop", name="orders-db-backup-29123460-vb9zq")
    assert owners.owner(key) == ObjectKey(kind="CronJob", namespace="shop", name="orders-db-backup")
    assert asked == ["pod shop/orders-db-backup-29123460-vb9zq", "job shop/orders-db-backup-29123460"]
    assert owners.owner(ObjectKey(kind="Pod", namespace="shop", name="gone-abcde")) is None


def test_an_unreachable_cluster_means_unknown_and_the_patterns_decide() -> None:
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens on the discard port
    owners = KubernetesOwners(configuration, timeout=0.5)
    try:
        (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubePodCrashLooping/shop/checkout"]
        decision = decide(fixture_catalog(), entry["labels"], owners)
        assert decision.service == "checkout" and "by its name" in decision.why
    finally:
        owners.close()


def test_the_cache_asks_once_per_object_and_stays_bounded(
    cluster: tuple[KubernetesOwners, list[str]],
) -> None:
    owners, asked = cluster
    now = [0.0]
    cached = CachedOwners(owners, max_entries=2, ttl=60.0, clock=lambda: now[0])
    pod = ObjectKey(kind="Pod", namespace="payments", name="payments-5f7c9d8b4-m8v2n")
    deployment = ObjectKey(kind="Deployment", namespace="payments", name="payments")
    for _ in range(50):  # a storm of one pod's alerts
        assert cached.owner(pod) == deployment
    assert asked.count("pod payments/payments-5f7c9d8b4-m8v2n") == 1
    assert cached.node_for_address("10.0.1.12") == "ip-10-0-1-12.eu-west-1.compute.internal"
    assert cached.owner(ObjectKey(kind="Pod", namespace="shop", name="gone-abcde")) is None
    assert len(cached) == 2  # the oldest entry went
    now[0] = 61.0  # expired: asked again (the pod may have been replaced)
    assert cached.owner(pod) == deployment
    assert asked.count("pod payments/payments-5f7c9d8b4-m8v2n") == 2


def test_the_workloads_on_a_node_come_from_its_pods_owners(
    cluster: tuple[KubernetesOwners, list[str]],
) -> None:
    owners, asked = cluster
    found = CachedOwners(owners).workloads_on_node("ip-10-0-2-34.eu-west-1.compute.internal")
    assert sorted(str(o) for o in found) == [
        "CronJob payments/payments-reconcile",
        "DaemonSet logging/fluent-bit",
        "DaemonSet monitoring/kube-prometheus-stack-prometheus-node-exporter",
        "Deployment monitoring/kube-prometheus-stack-kube-state-metrics",
        "Deployment payments/payments",
    ]
    assert "pods spec.nodeName=ip-10-0-2-34.eu-west-1.compute.internal" in asked


def test_a_services_nodes_are_where_its_workloads_pods_run(
    cluster: tuple[KubernetesOwners, list[str]],
) -> None:
    """Two reads: the workload's selector, then the pods it selects; cached like every other answer."""
    owners, asked = cluster
    cached = CachedOwners(owners)
    checkout = ObjectKey(kind="Deployment", namespace="shop", name="checkout")
    want = sorted(
        {
            p["node"]
            for p in TOPOLOGY["pods"]
            if p["namespace"] == "shop" and p["workload"]["name"] == "checkout"
        }
    )
    assert want and cached.nodes_of(checkout) == want
    assert cached.nodes_of(checkout) == want
    assert asked == ["deployments shop/checkout", "pods shop"]
    assert cached.nodes_of(ObjectKey(kind="Deployment", namespace="shop", name="gone")) == []
    assert cached.nodes_of(ObjectKey(kind="CronJob", namespace="shop", name="orders-db-backup")) == []
