"""Alerts about the alerting pipeline itself (medic.pipeline_alerts) are one service's,
``alerting-pipeline``, at least P2 when critical. The label sets are those kube-prometheus's rules leave
(tests/fixtures/alerts/monitoring-stack-rules.yaml and its sources: ``count by (namespace,service)``
for AlertmanagerClusterDown, the raw series' target labels for AlertmanagerFailedReload and
PrometheusRuleFailures, ``by (cluster)`` for KubeStateMetricsListErrors, TargetDown's ``by (cluster,
job, namespace, service)``; kube-state-metrics' series for the StatefulSet and pod alerts), with
kube-prometheus's names (alertmanager-main, prometheus-k8s) and kube-prometheus-stack's for two releases
(``kube-prometheus-stack`` and ``prometheus``: fullname ``prometheus-kube-prometheus``). A field review
found one Alertmanager outage spread over 7 incidents, all P4 or P5, none naming Alertmanager, and the
component found or not by the Helm release's name."""

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bench.pipeline_outage import P, names
from medic.alerts import Alert, AlertmanagerWebhook, AlertStatus
from medic.assign import decide
from medic.catalog import Catalog, load_catalog
from medic.incident import AlertBatch, IncidentState
from medic.pipeline_alerts import PIPELINE_ALERTS, PIPELINE_SERVICE
from medic.routing import load_routing
from medic.yamldoc import ConfigError
from service.config_files import check_all, load_catalog_file, load_routing_file
from service.explain import explain_webhook
from service.settings import Settings
from tests.unit.test_api_heartbeats import delivery
from workflows.incident import IncidentInput

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "monitoring-stack-rules.yaml"


def outage(release: str) -> list[dict[str, str]]:
    """Two of three Alertmanagers down, as the rules and kube-state-metrics report it."""
    n = names(release)
    target = {"namespace": "monitoring", "service": n["am"], "job": n["am"], **P}
    return [
        {
            "alertname": "AlertmanagerClusterDown",
            "severity": "critical",
            "namespace": "monitoring",
            "service": n["am"],
            **P,
        },
        {
            "alertname": "AlertmanagerFailedReload",
            "severity": "critical",
            **target,
            "pod": f"{n['am_sts']}-0",
            "container": "alertmanager",
            "endpoint": "web",
            "instance": "10.42.2.7:9093",
        },
        {"alertname": "TargetDown", "severity": "warning", **target},
        {
            "alertname": "KubeStatefulSetReplicasMismatch",
            "severity": "warning",
            "namespace": "monitoring",
            "statefulset": n["am_sts"],
            "job": "kube-state-metrics",
            "service": n["ksm"],
            **P,
        },
        {
            "alertname": "KubePodNotReady",
            "severity": "warning",
            "namespace": "monitoring",
            "pod": f"{n['am_sts']}-1",
            "job": "kube-state-metrics",
            **P,
        },
        {
            "alertname": "PrometheusRuleFailures",
            "severity": "critical",
            "namespace": "monitoring",
            "service": n["prom"],
            "job": n["prom"],
            "pod": f"{n['prom_sts']}-0",
            "container": "prometheus",
            "rule_group": "/etc/prometheus/rules/x.yaml;kubernetes-apps",
            **P,
        },
        {"alertname": "KubeStateMetricsListErrors", "severity": "critical", **P},
        {
            "alertname": "TargetDown",
            "severity": "warning",
            "namespace": "monitoring",
            "service": n["ksm"],
            "job": "kube-state-metrics",
            **P,
        },
    ]


@pytest.mark.parametrize("release", ["kube-prometheus", "kube-prometheus-stack", "prometheus"])
def test_an_alertmanager_outage_is_the_alerting_pipelines_whatever_the_release_is_called(
    release: str,
) -> None:
    for labels in outage(release):
        found = decide(Catalog(), labels)
        assert (found.service, found.in_catalog) == (PIPELINE_SERVICE, False), (labels, found.why)
        assert "alerting-pipeline, a service outside the catalog" in found.why


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        # a team's crash loop reported by kube-state-metrics (its own Service in the labels): the team's
        (
            {
                "alertname": "KubePodCrashLooping",
                "namespace": "shop",
                "pod": "checkout-7d9f8b6c5d-x2k4q",
                "container": "checkout",
                "service": "kube-prometheus-stack-kube-state-metrics",
                "job": "kube-state-metrics",
                **P,
            },
            "shop/checkout",
        ),
        # Grafana's pod in namespace monitoring is not the alerting pipeline
        (
            {
                "alertname": "KubePodCrashLooping",
                "namespace": "monitoring",
                "pod": "kube-prometheus-stack-grafana-5d8f7c6b9-k2m4p",
                "container": "grafana",
                "service": "kube-prometheus-stack-kube-state-metrics",
                "job": "kube-state-metrics",
                **P,
            },
            None,
        ),
        # the kubelet's target down is the cluster's, as before
        (
            {
                "alertname": "TargetDown",
                "severity": "warning",
                "namespace": "kube-system",
                "service": "kube-prometheus-stack-kubelet",
                "job": "kubelet",
                **P,
            },
            None,
        ),
        # an application's own alert that begins with "Prometheus" stays its own
        ({"alertname": "PrometheusExporterSlow", "service": "checkout", **P}, "checkout"),
    ],
)
def test_other_alerts_stay_where_they_were(labels: dict[str, str], service: str | None) -> None:
    assert decide(Catalog(), labels).service == service


def test_the_catalog_claims_the_pipeline_by_alias_and_its_own_workloads_first() -> None:
    catalog = load_catalog(
        """
services:
  - name: monitoring
    team: sre
    aliases: [alerting-pipeline]
  - name: am-team
    team: am
    workloads: [{namespace: monitoring, kind: StatefulSet, names: [alertmanager-main]}]
"""
    )
    cluster_down, reload = outage("kube-prometheus")[:2]
    assert (decide(catalog, cluster_down).service, decide(catalog, cluster_down).in_catalog) == (
        "monitoring",
        True,
    )
    assert decide(catalog, reload).service == "am-team"  # its pod's StatefulSet, as the catalog lists it


def test_a_critical_pipeline_alert_is_at_least_p2_and_says_why() -> None:
    incident = IncidentState(id="incident-svc-alerting-pipeline", opened_at=T0, pipeline_floor=True)
    alerts = [
        Alert(
            fingerprint=str(i),
            status=AlertStatus.FIRING,
            labels=labels,
            starts_at=T0,
            service=PIPELINE_SERVICE,
        )
        for i, labels in enumerate(outage("kube-prometheus-stack")[2:5])  # warnings only
    ]
    incident.apply_alerts(AlertBatch(alerts=alerts, received_at=T0), at=T0)
    assert incident.priority in ("P4", "P5")
    critical = Alert(
        fingerprint="c", status=AlertStatus.FIRING, labels=outage("kube-prometheus")[0], starts_at=T0
    )
    incident.apply_alerts(AlertBatch(alerts=[critical], received_at=T0), at=T0)
    assert incident.priority == "P2"
    assert incident.impact_detail is not None
    assert "at least P2: AlertmanagerClusterDown: Alertmanager is failing" in incident.impact_detail.explain()
    # explain scores it as the incident does
    payload = AlertmanagerWebhook.model_validate(delivery(*outage("prometheus")))
    [found] = explain_webhook(payload, catalog=Catalog(), runbooks=[])
    assert found["service"] == PIPELINE_SERVICE and found["priority"] == "P2"


def test_the_names_are_the_mixins_rules() -> None:
    """Every rule of the copied kube-prometheus file that is about the pipeline is known by name."""
    copied = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert copied - {"TargetDown"} <= set(PIPELINE_ALERTS)
    assert len(PIPELINE_ALERTS) == 7 + 23 + 9 + 4  # alertmanager, prometheus, operator, kube-state-metrics


def test_check_says_when_the_heartbeats_service_is_not_where_the_pipelines_alerts_go() -> None:
    catalog = load_catalog("services:\n  - {name: monitoring, team: sre}\n")
    text = "heartbeats:\n  - {name: watchdog, match: {alertname: Watchdog}, service: monitoring}\n"
    with pytest.raises(ConfigError) as err:
        load_routing(text, source="routing.yaml", catalog=catalog)
    (said,) = err.value.problems
    assert said.warning and "give monitoring the alias 'alerting-pipeline'" in said.message
    aliased = load_catalog("services:\n  - {name: monitoring, team: sre, aliases: [alerting-pipeline]}\n")
    load_routing(text, catalog=aliased)  # one incident for both: nothing to say


def test_a_routing_file_with_warnings_only_runs_as_medic_check_passes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``medic check`` (the chart's init container) passes a file whose problems are warnings; the
    worker and the API loaded the same file with the catalog and stopped at start on them (a heartbeat's
    service outside the catalog did it). They run it now, saying the warnings in the log."""
    (tmp_path / "catalog.yaml").write_text("services:\n  - {name: monitoring, team: sre}\n")
    (tmp_path / "routing.yaml").write_text(
        "heartbeats:\n  - {name: watchdog, match: {alertname: Watchdog}, service: monitoring}\n"
    )
    settings = Settings(_env_file=None, catalog=tmp_path / "catalog.yaml", routing=tmp_path / "routing.yaml")
    with caplog.at_level(logging.WARNING, logger="service.config_files"):
        policy = load_routing_file(settings.routing_file, load_catalog_file(settings.catalog))
    assert [h.service for h in policy.heartbeats] == ["monitoring"]
    assert "give monitoring the alias 'alerting-pipeline'" in caplog.text
    checked, problems = check_all(settings)
    assert [p.warning for p in problems] == [True]
    assert f"{tmp_path / 'routing.yaml'}: 0 routing rules, 0 escalation chains" in checked


KSM = {  # kube-state-metrics' own scrape labels, on a series it reports about another object
    "job": "kube-state-metrics",
    "service": "kube-prometheus-stack-kube-state-metrics",
    "pod": "kube-prometheus-stack-kube-state-metrics-6c9b7f8d4-q8w2x",
    "container": "kube-state-metrics",
    **P,
}


@pytest.mark.parametrize(
    "labels",
    [
        # names that merely look like the stack's (a review): a Pushgateway, a team's relay or own
        # Prometheus, an exporter's Service, a bare "prometheus" job, a pod whose hash is all digits
        {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "prometheus-pushgateway-0", **P},
        {
            "alertname": "KubeStatefulSetReplicasMismatch",
            "namespace": "shop",
            "statefulset": "alertmanager-webhook-relay",
            **KSM,
        },
        {
            "alertname": "KubeStatefulSetReplicasMismatch",
            "namespace": "shop",
            "statefulset": "prometheus-shop",
            **KSM,
        },
        {
            "alertname": "TargetDown",
            "namespace": "db",
            "service": "postgres-prometheus",
            "job": "postgres-prometheus",
            **P,
        },
        {
            "alertname": "TargetDown",
            "namespace": "shop",
            "service": "shop-prometheus",
            "job": "shop-prometheus",
            **P,
        },
        {"alertname": "HighErrorRate", "namespace": "shop", "service": "payments-alertmanager", **P},
        {"alertname": "CheckoutErrors", "namespace": "shop", "service": "checkout", "job": "prometheus", **P},
        {
            "alertname": "KubePodNotReady",
            "namespace": "shop",
            "pod": "prometheus-msteams-7d9f8b6c5d-24567",
            **P,
        },
        # kube-state-metrics' own pod on a quota or volume alert (the kubernetes-mixin's shapes)
        {
            "alertname": "KubeQuotaAlmostFull",
            "namespace": "shop",
            "resourcequota": "compute",
            "type": "hard",
            "resource": "cpu",
            **KSM,
        },
        {"alertname": "KubePersistentVolumeErrors", "persistentvolume": "pv-7", "phase": "Failed", **KSM},
        {"alertname": "KubeQuotaExceeded", "namespace": "shop", **KSM},
    ],
)
def test_what_only_looks_like_the_stack_is_not_captured(labels: dict[str, str]) -> None:
    assert decide(Catalog(), labels).service != PIPELINE_SERVICE, decide(Catalog(), labels).why


@pytest.mark.parametrize(
    "labels",
    [
        {
            "alertname": "TargetDown",
            "namespace": "openshift-monitoring",
            "service": "thanos-querier",
            "job": "thanos-querier",
            **P,
        },
        {
            "alertname": "KubeStatefulSetReplicasMismatch",
            "namespace": "openshift-user-workload-monitoring",
            "statefulset": "prometheus-user-workload",
            **KSM,
        },
        {
            "alertname": "KubeStatefulSetReplicasMismatch",
            "namespace": "mimir",
            "statefulset": "mimir-alertmanager",
            **KSM,
        },
        {
            "alertname": "TargetDown",
            "namespace": "mimir",
            "service": "mimir-alertmanager",
            "job": "mimir/alertmanager",
            **P,
        },
        {
            "alertname": "TargetDown",
            "namespace": "monitoring",
            "service": "prometheus-operated",
            "job": "prometheus-operated",
            **P,
        },
        {
            "alertname": "PrometheusOperatorStatusUpdateErrors",
            "controller": "prometheus",
            "namespace": "monitoring",
            **P,
        },
    ],
)
def test_openshift_mimir_and_the_operators_other_names_are_the_pipeline(labels: dict[str, str]) -> None:
    assert decide(Catalog(), labels).service == PIPELINE_SERVICE


def test_the_catalogs_word_comes_first_by_alias_label_and_job() -> None:
    catalog = load_catalog(
        """
services:
  - name: monitoring
    team: sre
    aliases: [alertmanager-main]
    jobs: [kube-prometheus-stack-alertmanager]
  - name: checkout
    team: shop
"""
    )
    cluster_down = {
        "alertname": "AlertmanagerClusterDown",
        "namespace": "monitoring",
        "service": "alertmanager-main",
        **P,
    }
    target = {
        "alertname": "TargetDown",
        "namespace": "monitoring",
        "service": "kube-prometheus-stack-alertmanager",
        "job": "kube-prometheus-stack-alertmanager",
        **P,
    }
    app = {
        "alertname": "CheckoutErrors",
        "severity": "critical",
        "service": "checkout",
        "job": "prometheus",
        **P,
    }
    assert [decide(catalog, labels).service for labels in (cluster_down, target, app)] == [
        "monitoring",
        "monitoring",
        "checkout",
    ]


def test_the_floor_lasts_while_a_pipeline_alert_fires() -> None:
    incident = IncidentState(id="incident-alerting-pipeline", opened_at=T0, pipeline_floor=True)
    reload = outage("kube-prometheus")[1]
    firing = Alert(fingerprint="r", status=AlertStatus.FIRING, labels=reload, starts_at=T0)
    info = Alert(
        fingerprint="i",
        status=AlertStatus.FIRING,
        labels={"alertname": "X", "severity": "info"},
        starts_at=T0,
    )
    incident.apply_alerts(AlertBatch(alerts=[firing, info], received_at=T0), at=T0)
    assert incident.priority == "P2"
    over = firing.model_copy(update={"status": AlertStatus.RESOLVED, "ends_at": T0})
    incident.apply_alerts(AlertBatch(alerts=[over], received_at=T0), at=T0)
    assert incident.priority != "P2" and incident.is_firing  # a reload that failed once is over


def test_an_incident_started_before_the_floor_scores_as_it_did() -> None:
    """Replayed, an incident started before this release must ask for the same plans: its workflow input
    carries no ``pipeline_floor``, and a critical pipeline alert leaves its priority as it was (a final
    read found the floor unpatched: a replay would have re-planned where the history did not)."""
    old = IncidentState(id="incident-svc-alerting-pipeline", opened_at=T0)
    critical = Alert(
        fingerprint="c", status=AlertStatus.FIRING, labels=outage("kube-prometheus")[0], starts_at=T0
    )
    old.apply_alerts(AlertBatch(alerts=[critical], received_at=T0), at=T0)
    assert old.priority != "P2"
    assert IncidentInput(incident_id="x").pipeline_floor is False  # what an old history's input reads as


def test_node_exporters_pods_are_the_stacks() -> None:
    for pod in ("node-exporter-x7k2p", "kube-prometheus-stack-prometheus-node-exporter-x7k2p"):
        labels = {"alertname": "KubePodNotReady", "namespace": "monitoring", "pod": pod, **P}
        assert decide(Catalog(), labels).service == PIPELINE_SERVICE, pod
