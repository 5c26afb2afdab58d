"""What people receive when the monitoring stack itself fails: the incidents Medic opens for the
stock alerts of an Alertmanager, Prometheus, Prometheus Operator or kube-state-metrics outage, their
priority, and whether anyone is paged, under the shipped catalog and routing policy (at 11:00 and at
22:00 Berlin, inside the shipped quiet hours).

    python -m bench.pipeline_outage

The label sets are those kube-prometheus's rules leave (tests/fixtures/alerts/monitoring-stack-rules.yaml
and the sources medic/pipeline_alerts.py cites; kube-state-metrics' series for the StatefulSet and pod
alerts), for three installs: kube-prometheus (alertmanager-main, prometheus-k8s), kube-prometheus-stack
installed as ``kube-prometheus-stack`` and as ``prometheus`` (fullname ``prometheus-kube-prometheus``).
Alerts are grouped as the shipped receiver groups them (``group_by: [alertname, service]``), one
delivery per group. Only public entry points are used (``explain_webhook``, ``plan_notifications``),
so the same script measures an older checkout (``PYTHONPATH=<checkout> python bench/pipeline_outage.py``).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medic.alerts import AlertmanagerWebhook
from medic.catalog import load_catalog
from medic.routing import load_routing, plan_notifications
from medic.topology import ServiceContext
from service.explain import explain_webhook

ROOT = Path(__file__).resolve().parents[1]
AT = {"11:00": datetime(2026, 12, 7, 10, 0, tzinfo=UTC), "22:00": datetime(2026, 12, 7, 21, 0, tzinfo=UTC)}
P = {"prometheus": "monitoring/k8s"}


def names(release: str) -> dict[str, str]:
    """Jobs, Services and StatefulSets as each install names them (tests/unit/test_pipeline_alerts.py
    uses them too)."""
    if release == "kube-prometheus":
        return {
            "am": "alertmanager-main",
            "prom": "prometheus-k8s",
            "am_sts": "alertmanager-main",
            "prom_sts": "prometheus-k8s",
            "ksm": "kube-state-metrics",
            "op": "prometheus-operator",
        }
    full = release if "kube-prometheus-stack" in release else f"{release}-kube-prometheus"
    return {
        "am": f"{full}-alertmanager",
        "prom": f"{full}-prometheus",
        "am_sts": f"alertmanager-{full}-alertmanager",
        "prom_sts": f"prometheus-{full}-prometheus",
        "ksm": f"{release}-kube-state-metrics",
        "op": f"{full}-operator",
    }


def scenarios(release: str) -> dict[str, list[dict[str, str]]]:
    n, ns = names(release), {"namespace": "monitoring"}
    am = {
        **ns,
        "service": n["am"],
        "job": n["am"],
        "pod": f"{n['am_sts']}-0",
        "container": "alertmanager",
        **P,
    }
    prom = {
        **ns,
        "service": n["prom"],
        "job": n["prom"],
        "pod": f"{n['prom_sts']}-0",
        "container": "prometheus",
        **P,
    }
    ksm = {**ns, "service": n["ksm"], "job": "kube-state-metrics", **P}

    def a(name: str, severity: str, **labels: str) -> dict[str, str]:
        return {"alertname": name, "severity": severity, **labels}

    return {
        "Alertmanager: 2 of 3 replicas down": [
            a("AlertmanagerClusterDown", "critical", **ns, service=n["am"], **P),
            a("AlertmanagerClusterCrashlooping", "critical", **ns, service=n["am"], **P),
            a("AlertmanagerMembersInconsistent", "critical", **am),
            a("TargetDown", "warning", **ns, service=n["am"], job=n["am"], **P),
            a("KubeStatefulSetReplicasMismatch", "warning", **ksm, statefulset=n["am_sts"]),
            a("KubePodNotReady", "warning", **ns, pod=f"{n['am_sts']}-1", job="kube-state-metrics", **P),
            a(
                "PrometheusErrorSendingAlertsToSomeAlertmanagers",
                "warning",
                **prom,
                alertmanager="http://10.0.0.8:9093",
            ),
        ],
        "Prometheus: rules failing, remote write behind": [
            a("PrometheusRuleFailures", "critical", **prom, rule_group="/etc/prometheus/rules/x.yaml;apps"),
            a(
                "PrometheusMissingRuleEvaluations",
                "warning",
                **prom,
                rule_group="/etc/prometheus/rules/x.yaml;apps",
            ),
            a(
                "PrometheusRemoteStorageFailures",
                "critical",
                **prom,
                remote_name="mimir",
                url="https://mimir/push",
            ),
            a(
                "PrometheusRemoteWriteBehind",
                "critical",
                **prom,
                remote_name="mimir",
                url="https://mimir/push",
            ),
            a("PrometheusBadConfig", "critical", **prom),
        ],
        "Prometheus cannot reach Alertmanager (HA pair, one still sends)": [
            a("PrometheusNotConnectedToAlertmanagers", "warning", **prom),
            a("PrometheusErrorSendingAlertsToAnyAlertmanager", "critical", **prom),
            a("PrometheusNotificationQueueRunningFull", "warning", **prom),
        ],
        "kube-state-metrics failing its lists": [
            a("KubeStateMetricsListErrors", "critical", **P),
            a("KubeStateMetricsWatchErrors", "critical", **P),
            a("TargetDown", "warning", **{k: v for k, v in ksm.items() if k != "pod"}),
        ],
    }


def deliveries(alerts: list[dict[str, str]]) -> list[AlertmanagerWebhook]:
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for labels in alerts:
        groups.setdefault((labels["alertname"], labels.get("service", "")), []).append(labels)
    return [
        AlertmanagerWebhook.model_validate(
            {
                "version": "4",
                "status": "firing",
                "receiver": "medic",
                "groupKey": f'{{}}:{{alertname="{key[0]}", service="{key[1]}"}}',
                "groupLabels": {"alertname": key[0], "service": key[1]},
                "alerts": [
                    {
                        "status": "firing",
                        "labels": labels,
                        "annotations": {},
                        "startsAt": "2026-12-07T09:55:00Z",
                    }
                    for labels in group
                ],
            }
        )
        for key, group in groups.items()
    ]


def measure(release: str, outage: list[dict[str, str]]) -> dict[str, Any]:
    catalog = load_catalog((ROOT / "catalog.yaml").read_text())
    policy = load_routing((ROOT / "routing.yaml").read_text())
    incidents: dict[str, tuple[str | None, str]] = {}
    for payload in deliveries(outage):
        for found in explain_webhook(payload, catalog=catalog, runbooks=[]):
            if "incident" in found:
                before = incidents.get(found["incident"], (None, "P5"))
                incidents[found["incident"]] = (found["service"], min(before[1], found["priority"]))
    paged = {}
    for when, at in AT.items():
        count = 0
        for service, priority in incidents.values():
            owner = catalog.by_name.get(service or "")
            ctx = ServiceContext(name=owner.name, team=owner.team, routing=owner.routing) if owner else None
            plan = plan_notifications(
                policy, priority=priority, owner=ctx, services=[ctx] if ctx else [], at=at
            )
            first = [k for lvl in plan.escalation[:1] for k in lvl.routing_key_names]
            pages = bool(first or plan.pagerduty) and plan.hold_until is None
            count += pages
        paged[when] = count
    return {
        "incidents": len(incidents),
        "priorities": sorted(p for _, p in incidents.values()),
        "named": sorted({s or "(its Alertmanager group)" for s, _ in incidents.values()}),
        "paged": paged,
    }


def main() -> None:
    print("| outage | install | incidents | priorities | services | incidents paging at 11:00 / 22:00 |")
    print("|---|---|---|---|---|---|")
    for release in ("kube-prometheus", "kube-prometheus-stack", "prometheus"):
        for title, outage in scenarios(release).items():
            got = measure(release, outage)
            print(
                f"| {title} | {release} | {got['incidents']} | {', '.join(got['priorities'])} | "
                f"{'; '.join(got['named'])} | {got['paged']['11:00']} / {got['paged']['22:00']} |"
            )


if __name__ == "__main__":
    main()
