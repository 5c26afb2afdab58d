"""Alerts about a namespace as a whole. Grafana Mimir's and Loki's mixins aggregate many alerts by
``(cluster, namespace)`` only (grafana/mimir operations/mimir-mixin-compiled/alerts.yaml:
``MimirIngesterUnhealthy: min by (cluster, namespace) (cortex_ring_members{state="Unhealthy",
name="ingester"}) > 0``; grafana/loki production/loki-mixin-compiled/alerts.yaml:
``LokiTooManyCompactorsRunning: sum(...) by (namespace, cluster) > 1``). In a walk-through of a Mimir outage
on kube-prometheus-stack, MimirIngesterUnhealthy, the alert that names the cause, was an incident of its own
with no owner (P4, the fallback channel) beside Mimir's incident. Where the catalog lists the workloads of
one service only in that namespace, it is that service's."""

from medic.assign import decide
from medic.catalog import load_catalog
from tests.unit.test_subject import K8S_ALERTS, FakeCluster

CATALOG = load_catalog(
    """
services:
  - name: mimir
    team: observability
    workloads:
      - {namespace: mimir, kind: StatefulSet, name_regex: "mimir-.+"}
      - {namespace: mimir, kind: Deployment, name_regex: "mimir-.+"}
  - name: monitoring
    team: observability
    workloads:
      - {namespace: monitoring, kind: StatefulSet, names: [prometheus-kube-prometheus-stack-prometheus]}
  - name: checkout
    team: checkout
    workloads: [{namespace: shop, names: [checkout]}]
  - name: cart
    team: checkout
    workloads: [{namespace: shop, names: [cart]}]
""",
    source="catalog.yaml",
)
EXTERNAL = {"cluster": "prod-eu-1", "prometheus": "monitoring/kube-prometheus-stack-prometheus"}


def test_a_mimir_mixin_alert_by_namespace_is_the_service_that_owns_the_namespace() -> None:
    labels = {"alertname": "MimirIngesterUnhealthy", "namespace": "mimir", "severity": "critical", **EXTERNAL}
    decision = decide(CATALOG, labels)
    assert (decision.service, decision.in_catalog, decision.labels) == ("mimir", True, ["namespace"])
    assert "namespace=mimir holds only service mimir's workloads" in decision.why
    loki_shaped = {"alertname": "LokiTooManyCompactorsRunning", "namespace": "mimir", "severity": "warning"}
    assert decide(CATALOG, loki_shaped).service == "mimir"


def test_a_namespace_of_several_services_or_of_none_decides_nothing() -> None:
    for namespace in ("shop", "loki"):
        labels = {"alertname": "SomethingByNamespace", "namespace": namespace, "severity": "critical"}
        assert decide(CATALOG, labels).service is None, namespace


def test_an_object_or_an_exporters_namespace_still_decides_as_before() -> None:
    node = next(e for e in K8S_ALERTS if e["id"].startswith("KubeNodeNotReady/"))
    assert node["labels"]["namespace"] == "monitoring"  # kube-state-metrics' own namespace, not the node's
    assert decide(CATALOG, node["labels"], FakeCluster()).service.startswith("node/")  # type: ignore[union-attr]
    kubelet = {"alertname": "TargetDown", "job": "kubelet", "namespace": "monitoring",
               "service": "kube-prometheus-stack-kubelet", "severity": "warning"}  # fmt: skip
    assert decide(CATALOG, kubelet).service != "monitoring"


def test_a_label_naming_a_service_outside_the_catalog_is_that_service_not_the_namespaces() -> None:
    """docs/catalog.md: a namespace decides "with no label naming an object or a service". A Loki log
    alert (``sum by (namespace, service_name)``) about an OpenTelemetry service the catalog does not know,
    in a namespace of one catalog service, went into that catalog service's incident, scored and routed as
    it, instead of an incident of its own as before."""
    for label in ("service_name", "service"):
        labels = {"alertname": "HighErrorLogs", "namespace": "mimir", label: "mimir-tenant-proxy"}
        decision = decide(CATALOG, labels)
        assert (decision.service, decision.in_catalog) == ("mimir-tenant-proxy", False), (label, decision.why)
    named = {"alertname": "HighErrorLogs", "namespace": "mimir", "service_name": "mimir"}
    assert decide(CATALOG, named).service == "mimir"  # a catalog name still decides
    unknown = {"alertname": "X", "namespace": "mimir", "service_name": "unknown_service:java"}
    assert decide(CATALOG, unknown).service == "mimir"  # OpenTelemetry's "no service set" names none
