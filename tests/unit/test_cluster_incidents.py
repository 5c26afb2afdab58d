"""One Medic serving several clusters (kube-prometheus-stack with ``externalLabels: {cluster: ...}`` in
prod-eu, prod-us and staging, one Alertmanager): with MEDIC_INCIDENTS_PER_CLUSTER each cluster's alerts
of a service are that cluster's incident, a node's too, and a routing rule can match the cluster
(staging to chat only). Before, the three clusters' checkout crash loops were one ``incident-checkout``,
and prod-eu's and staging's ``worker-1`` one node incident (a central Medic's walk-through, 2026-12-07).

Label sets: kube-prometheus-stack's kubernetes-apps and kubernetes-system-kubelet rules (KubePodCrashLooping,
KubeNodeNotReady: prometheus-community/helm-charts, charts/kube-prometheus-stack/templates/prometheus/
rules-1.14/kubernetes-apps.yaml; kubernetes-monitoring/kubernetes-mixin alerts/kubelet.libsonnet), as
kube-state-metrics' ServiceMonitor labels them, plus the Prometheus' external ``cluster`` label."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.assign import assign_alerts, assign_anomalies
from medic.catalog import Catalog, load_catalog
from medic.keys import INCIDENT_ID_PATTERN, service_incident_id
from medic.routing import load_routing, plan_notifications
from medic.topology import in_cluster
from remediations.budget import budget_key, budget_scope, budget_workflow_id
from remediations.plan import RemediationPlan
from remediations.ports import ObjectRef
from service.config_files import load_runbooks
from tests.support.shop import SHOP_YAML, ctx

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KSM = {
    "job": "kube-state-metrics",
    "endpoint": "http",
    "instance": "10.42.0.15:8080",
    "service": "kube-prometheus-stack-kube-state-metrics",
    "prometheus": "monitoring/kube-prometheus-stack-prometheus",
}
# the shop, its checkout run as Deployment shop/checkout in every cluster
CATALOG: Catalog = load_catalog(
    SHOP_YAML.replace(
        '    routing: {slack_channel: "#checkout-oncall"',
        "    workloads: [{namespace: shop, names: [checkout]}]\n"
        + '    routing: {slack_channel: "#checkout-oncall"',
    ),
    source="shop.yaml",
)


def crash(cluster: str, pod: str) -> dict[str, object]:
    labels = KSM | {
        "alertname": "KubePodCrashLooping",
        "namespace": "shop",
        "pod": pod,
        "container": "checkout",
        "reason": "CrashLoopBackOff",
        "severity": "warning",
        "cluster": cluster,
    }
    return {"status": "firing", "labels": labels, "startsAt": "2026-12-07T11:40:00Z"}


def node(cluster: str | None, name: str) -> dict[str, object]:
    labels = KSM | {
        "alertname": "KubeNodeNotReady",
        "namespace": "monitoring",
        "pod": "kube-prometheus-stack-kube-state-metrics-6d8f7b9c4-wq2zp",
        "container": "kube-state-metrics",
        "node": name,
        "condition": "Ready",
        "status": "true",
        "severity": "warning",
    }
    if cluster:
        labels["cluster"] = cluster
    return {"status": "firing", "labels": labels, "startsAt": "2026-12-07T11:40:00Z"}


def assigned(per_cluster: str, *alerts: dict[str, object]) -> dict[str, list[str | None]]:
    payload = AlertmanagerWebhook.model_validate(
        {"version": "4", "status": "firing", "receiver": "medic", "groupLabels": {}, "alerts": list(alerts)}
    )
    out = assign_alerts(CATALOG, payload, normalise_webhook(payload, received_at=AT), per_cluster=per_cluster)
    for a in out:
        assert INCIDENT_ID_PATTERN.fullmatch(a.incident_id), a.incident_id
        assert a.service is not None
    return {a.incident_id: [x.labels.get("cluster") for x in a.alerts] for a in out}


ALERTS = (
    crash("prod-eu", "checkout-7d9f8b6c5d-x2k4q"),
    crash("prod-us", "checkout-6d8f7b9c4-wq2zp"),
    crash("staging", "checkout-5f7c9d8b4-m8v2n"),
    node("prod-eu", "worker-1"),
    node("staging", "worker-1"),
    node(None, "worker-2"),
)


def test_per_cluster_each_clusters_checkout_and_node_is_its_own_incident() -> None:
    found = assigned("cluster", *ALERTS)
    assert found == {
        "incident-prod-eu--checkout": ["prod-eu"],
        "incident-prod-us--checkout": ["prod-us"],
        "incident-staging--checkout": ["staging"],
        service_incident_id("node/worker-1", in_catalog=False, cluster="prod-eu"): ["prod-eu"],
        service_incident_id("node/worker-1", in_catalog=False, cluster="staging"): ["staging"],
        service_incident_id("node/worker-2", in_catalog=False): [None],  # names no cluster: as before
    }


def test_off_by_default_one_incident_per_service_whatever_the_cluster() -> None:
    found = assigned("", *ALERTS)
    assert found["incident-checkout"] == ["prod-eu", "prod-us", "staging"]
    assert len(found) == 3


def test_ids_stay_within_the_pattern_for_any_cluster_name() -> None:
    for cluster in ("prod-eu", "Prod_EU.1", "x" * 253, "-"):
        for name, listed in (("checkout", True), ("node/worker-1", False), ("y" * 63, True)):
            made = service_incident_id(name, in_catalog=listed, cluster=cluster)
            assert INCIDENT_ID_PATTERN.fullmatch(made), made
            assert made != service_incident_id(name, in_catalog=listed)
    # one cluster's incidents, whatever their service: a Temporal UI view (WorkflowId STARTS_WITH)
    for name, listed in (("checkout", True), ("node/worker-1", False), ("y" * 63, True)):
        assert service_incident_id(name, in_catalog=listed, cluster="prod-eu").startswith(
            "incident-prod-eu--"
        )
    assert service_incident_id("checkout", cluster="Prod_EU.1") != service_incident_id(
        "checkout", cluster="prod-eu-1"
    )


def test_a_routing_rule_matches_the_incidents_cluster() -> None:
    policy = load_routing(
        """
rules:
  - {name: staging, match: {cluster: [staging]}}
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true}
"""
    )
    staging = in_cluster(ctx("checkout"), "staging")
    prod = in_cluster(ctx("checkout"), "prod-eu")
    plan = plan_notifications(policy, priority="P1", owner=staging, services=[staging], at=AT)
    assert plan.rule == "staging" and plan.pagerduty is None
    plan = plan_notifications(policy, priority="P1", owner=prod, services=[prod], at=AT)
    assert plan.rule == "page" and plan.pagerduty == "checkout"
    unscoped = ctx("checkout")  # an incident of no one cluster (the setting off): never the staging rule
    plan = plan_notifications(policy, priority="P1", owner=unscoped, services=[unscoped], at=AT)
    assert plan.rule == "page"


def test_a_plan_of_a_named_cluster_holds_that_clusters_lock_and_budget() -> None:
    """Medics of prod-eu and prod-us in one Temporal namespace: each cluster's shop/checkout is its own
    lock (the remediation's workflow id) and its own hourly budget; a worker naming no cluster keeps the
    ids it had (a remediation already running holds its lock through an upgrade)."""
    target = ObjectRef(api_version="apps/v1", kind="Deployment", namespace="shop", name="checkout")
    plan = RemediationPlan(
        runbook=load_runbooks(RUNBOOKS)[0],
        steps=[],
        incident_id="incident-prod-eu--checkout",
        service="checkout",
        alertname="KubePodCrashLooping",
        fingerprints=["f"],
        target=target,
    )
    ids = {c: plan.model_copy(update={"cluster": c}).workflow_id for c in ("", "prod-eu", "prod-us")}
    assert ids[""] == "remediate-deployment-shop-checkout-2b1bb843"  # as before
    assert len(set(ids.values())) == 3 and ids["prod-eu"].startswith(
        "remediate-prod-eu-deployment-shop-checkout-"
    )
    assert budget_key("checkout", "shop") == "service:checkout"
    keys = {budget_key("checkout", "shop", c) for c in ("prod-eu", "prod-us")}
    assert len({budget_workflow_id(k) for k in keys}) == 2
    assert budget_scope(budget_key("checkout", "shop", "prod-eu")) == "on this service"
    assert budget_scope(budget_key(None, "shop", "prod-eu")) == "in namespace shop (no service)"


def test_a_scans_finding_of_one_cluster_joins_that_clusters_incident() -> None:
    """A scan of a Prometheus holding every cluster's series (Mimir): checkout's error ratio in prod-us
    went to `incident-checkout` while prod-us' alerts were in `incident-prod-us--checkout`."""
    window = TimeWindow(start=AT, end=AT + timedelta(minutes=15))

    def finding(cluster: str | None) -> AnomalySignal:
        series = {"__name__": "http_requests_errors_ratio", "service": "checkout", SCAN_LABEL: "errors"}
        return AnomalySignal(
            source="medic-scan",
            service="checkout",
            series=series | ({"cluster": cluster} if cluster else {}),
            value=0.2,
            expected=ExpectedBand(lower=0.0, upper=0.01),
            score=0.9,
            window=window,
        )

    signals = [finding("prod-us"), finding("staging"), finding(None)]
    found = {a.incident_id: len(a.signals) for a in assign_anomalies(CATALOG, signals, per_cluster="cluster")}
    assert found == {"incident-prod-us--checkout": 1, "incident-staging--checkout": 1, "incident-checkout": 1}
    assert [a.incident_id for a in assign_anomalies(CATALOG, signals)] == ["incident-checkout"]
