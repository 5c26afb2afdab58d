"""Issue 14: the subject of a stock alert is the object in trouble, never the exporter that was scraped.
Driven by tests/fixtures/alerts (label sets of the public kubernetes-mixin, node-mixin, Sloth and Pyrra
rules as kube-prometheus-stack delivers them)."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medic.assign import SERVICE_LABELS, decide
from medic.catalog import Catalog, Service, Workload
from medic.subject import ObjectKey, is_exporter, pod_owner_candidates, resolve_subject

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


KMIX = _load("kubernetes-mixin.json")
NODE = _load("node-mixin.json")
SLO = _load("slo-generators.json")
K8S_ALERTS = KMIX["alerts"] + KMIX["variants"]
ALL_ALERTS = K8S_ALERTS + NODE["alerts"] + NODE["variants"] + SLO["alerts"]
TOPOLOGY = KMIX["topology"]


def _key(raw: dict[str, Any] | None, namespace: str = "") -> ObjectKey | None:
    if raw is None or raw["kind"] == "Cluster":
        return None
    return ObjectKey(kind=raw["kind"], namespace=raw.get("namespace") or namespace, name=raw["name"])


class FakeCluster:
    """The fixtures' topology as the cluster would answer (kube_pod_owner, scaleTargetRef, ...)."""

    def __init__(self) -> None:
        self.owners: dict[ObjectKey, ObjectKey] = {}
        for pod in TOPOLOGY["pods"]:
            ns = pod["namespace"]
            self.owners[ObjectKey(kind="Pod", namespace=ns, name=pod["pod"])] = _key(pod["workload"], ns)  # type: ignore[assignment]
        for job in TOPOLOGY["jobs"]:
            ns = job["namespace"]
            owner = ObjectKey(kind=job["owner_kind"], namespace=ns, name=job["owner_name"])
            self.owners[ObjectKey(kind="Job", namespace=ns, name=job["job_name"])] = owner
        for hpa in TOPOLOGY["horizontalpodautoscalers"]:
            ns = hpa["namespace"]
            owner = ObjectKey(kind=hpa["scaletargetref_kind"], namespace=ns, name=hpa["scaletargetref_name"])
            self.owners[
                ObjectKey(kind="HorizontalPodAutoscaler", namespace=ns, name=hpa["horizontalpodautoscaler"])
            ] = owner
        for pvc in TOPOLOGY["persistentvolumeclaims"]:
            ns = pvc["namespace"]
            key = ObjectKey(kind="PersistentVolumeClaim", namespace=ns, name=pvc["persistentvolumeclaim"])
            self.owners[key] = _key(pvc["workload"], ns)  # type: ignore[assignment]
        for svc in TOPOLOGY["services"]:
            ns = svc["namespace"]
            self.owners[ObjectKey(kind="Service", namespace=ns, name=svc["service"])] = _key(
                svc["selects"], ns
            )  # type: ignore[assignment]
        self.nodes = {n["internal_ip"]: n["node"] for n in TOPOLOGY["nodes"]}
        self.asked: list[ObjectKey] = []

    def owner(self, obj: ObjectKey) -> ObjectKey | None:
        self.asked.append(obj)
        return self.owners.get(obj)

    def node_for_address(self, address: str) -> str | None:
        return self.nodes.get(address)

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        found: list[ObjectKey] = []
        for pod in TOPOLOGY["pods"]:
            owner = _key(pod["workload"], pod["namespace"])
            if pod["node"] == node and owner is not None and owner not in found:
                found.append(owner)
        return found

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        return sorted(
            {p["node"] for p in TOPOLOGY["pods"] if _key(p["workload"], p["namespace"]) == workload}
        )


@pytest.mark.parametrize("entry", K8S_ALERTS, ids=lambda e: e["id"])
def test_subject_without_a_cluster_is_the_fixtures_subject_and_owner(entry: dict[str, Any]) -> None:
    subject = resolve_subject(entry["labels"])
    assert subject.object == _key(entry["subject"]), subject.reason
    workload = entry.get("workload")
    if workload and entry["subject"]["kind"] != "Service":  # a Service's selector needs the cluster
        assert subject.target == _key(workload), subject.reason
    assert set(subject.decided_by) <= set(entry["subject_labels"]), subject.reason
    assert not set(subject.decided_by) & (set(entry["exporter_labels"]) - set(entry["subject_labels"]))


@pytest.mark.parametrize("entry", K8S_ALERTS + NODE["alerts"], ids=lambda e: e["id"])
def test_subject_with_a_cluster_asks_it_for_the_owner_and_the_node(entry: dict[str, Any]) -> None:
    cluster = FakeCluster()
    subject = resolve_subject(entry["labels"], cluster)
    assert subject.object == _key(entry["subject"]), subject.reason
    if entry.get("workload") and not is_exporter(entry["subject"]["name"]):  # an exporter's own target
        assert subject.workload == _key(entry["workload"]), subject.reason
        assert "(cluster)" in subject.reason or subject.object == subject.workload


def test_node_exporter_alerts_without_a_cluster_name_the_node_by_address() -> None:
    entry = NODE["alerts"][0]
    subject = resolve_subject(entry["labels"])
    assert subject.object == ObjectKey(kind="Node", name=entry["labels"]["instance"].split(":")[0])
    assert "address only" in subject.reason


def test_the_reason_names_the_deciding_labels_and_the_exporter_labels_set_aside() -> None:
    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubeDeploymentReplicasMismatch/shop/checkout"]
    subject = resolve_subject(entry["labels"])
    assert subject.decided_by == ["namespace", "deployment"]
    assert "deployment=checkout" in subject.reason
    assert {"pod", "container", "job", "service"} <= set(subject.ignored)


# ---- properties -------------------------------------------------------------------------------

_EXPORTER_VALUES = st.sampled_from(
    [
        "kube-state-metrics",
        "kube-prometheus-stack-kube-state-metrics",
        "kubelet",
        "kube-prometheus-stack-kubelet",
        "node-exporter",
        "kube-prometheus-stack-prometheus-node-exporter",
        "kube-prometheus-stack-operator",
        "prometheus-operator",
        "kube-prometheus-stack-coredns",
        "apiserver",
    ]
)


def _trap_catalog(names: list[str]) -> Catalog:
    """A catalog whose services are *named* like exporters: an exporter label still must not pick them."""
    services = [Service(name=f"svc-{i}", team="t", aliases=[n]) for i, n in enumerate(sorted(set(names)))]
    services.append(
        Service(
            name="checkout",
            team="shop",
            workloads=[Workload(namespace="shop", names=["checkout"])],
        )
    )
    return Catalog(services=services)


@given(
    entry=st.sampled_from(ALL_ALERTS),
    values=st.lists(_EXPORTER_VALUES, min_size=4, max_size=4),
)
def test_no_exporter_label_ever_names_a_service(entry: dict[str, Any], values: list[str]) -> None:
    labels = dict(entry["labels"])
    for label, value in zip(("job", "service", "container", "app"), values, strict=True):
        labels[label] = value
    labels["pod"] = (
        f"{values[0]}-6d8f7b9c4-wq2zp" if "pod" not in entry.get("subject_labels", []) else labels["pod"]
    )
    catalog = _trap_catalog(values)
    decision = decide(catalog, labels)
    assert decision.service is None or not decision.service.startswith("svc-"), decision.why
    assert decision.service is None or not is_exporter(decision.service), decision.why


_RAND = "bcdfghjklmnpqrstvwxz2456789"
_NAME = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda n: "--" not in n)


@given(
    name=_NAME,
    rs_hash=st.text(alphabet=_RAND, min_size=5, max_size=10),
    suffix=st.text(alphabet=_RAND, min_size=5, max_size=5),
    ordinal=st.integers(min_value=0, max_value=500),
    minutes=st.integers(min_value=10_000_000, max_value=99_999_999),
)
def test_pod_names_give_their_controller_without_a_cluster(
    name: str, rs_hash: str, suffix: str, ordinal: int, minutes: int
) -> None:
    deploy = ObjectKey(kind="Deployment", namespace="ns", name=name)
    sts = ObjectKey(kind="StatefulSet", namespace="ns", name=name)
    daemon = ObjectKey(kind="DaemonSet", namespace="ns", name=name)
    cron = ObjectKey(kind="CronJob", namespace="ns", name=name)
    assert pod_owner_candidates("ns", f"{name}-{rs_hash}-{suffix}")[0] == deploy
    assert pod_owner_candidates("ns", f"{name}-{ordinal}")[0] == sts
    assert daemon in pod_owner_candidates("ns", f"{name}-{suffix}")
    assert pod_owner_candidates("ns", f"{name}-{minutes}-{suffix}")[0] == cron


@given(name=_NAME, rs_hash=st.text(alphabet=_RAND, min_size=5, max_size=10))
def test_a_cluster_answer_wins_over_the_name_pattern(name: str, rs_hash: str) -> None:
    """A pod named like a Deployment's that the cluster says a StatefulSet owns is the StatefulSet's."""
    pod = f"{name}-{rs_hash}-bcdfg"
    owner = ObjectKey(kind="StatefulSet", namespace="ns", name="other")

    class Cluster:
        def owner(self, obj: ObjectKey) -> ObjectKey | None:
            return owner if obj == ObjectKey(kind="Pod", namespace="ns", name=pod) else None

        def node_for_address(self, address: str) -> str | None:
            return None

        def workloads_on_node(self, node: str) -> list[ObjectKey]:
            return []

        def nodes_of(self, workload: ObjectKey) -> list[str]:
            return []

    subject = resolve_subject({"alertname": "X", "namespace": "ns", "pod": pod}, Cluster())
    assert subject.target == owner


def test_service_labels_are_documented_in_order() -> None:
    assert SERVICE_LABELS[0] == "sloth_service"


@pytest.mark.parametrize("entry", NODE["alerts"], ids=lambda e: e["id"])
def test_a_node_subject_knows_the_workloads_running_on_it_from_the_cluster(entry: dict[str, Any]) -> None:
    cluster = FakeCluster()
    subject = resolve_subject(entry["labels"], cluster)
    owners = {(p["namespace"], p["pod"]): _key(p["workload"], p["namespace"]) for p in TOPOLOGY["pods"]}
    expected = []
    for ref in entry["related_workloads"]:
        namespace, pod = ref.split("/", 1)
        owner = owners[(namespace, pod)]
        if owner not in expected:
            expected.append(owner)
    assert subject.related == expected
    assert resolve_subject(entry["labels"]).related == []  # no cluster: no relations
