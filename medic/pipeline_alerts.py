"""Alerts about the alerting pipeline itself: Prometheus, Alertmanager, the Prometheus Operator and
kube-state-metrics, as their public mixins name them, and about the stack's own workloads and Services.
Unless the catalog says otherwise first (a workload or job it lists, a label naming one of its services
or aliases: medic.assign), they are one service's, ``alerting-pipeline`` (the catalog's service of that
name or alias, else a service outside the catalog), the same service a missing heartbeat
(medic.dead_man) is told to; while a critical one fires, its incident is at least P2.

Before, they were nobody's: their labels name an exporter's own target (``service=kube-prometheus-stack-
alertmanager``), which never names a service, so a dead Alertmanager cluster or Prometheus failing its
rule evaluations was an incident of its Alertmanager group, P4 at most by its score (a critical
severity is 25 of 100 points) and held overnight by the shipped quiet hours, and the pods of the same
Alertmanager were an incident of their own StatefulSet. A field review of kube-prometheus-stack found
one Alertmanager outage spread over 7 incidents, all P4 or P5, none naming Alertmanager.

The names are the rules of kube-prometheus's manifests (prometheus-operator/kube-prometheus):
``alertmanager-prometheusRule.yaml`` @0821adab, ``prometheus-prometheusRule.yaml`` @03d90a10,
``prometheusOperator-prometheusRule.yaml`` @001f3a01, ``kubeStateMetrics-prometheusRule.yaml``
@035b09f4, which kube-prometheus-stack renders as they are. Exact names, not prefixes: an application's
own alert that happens to begin with "Prometheus" stays its service's.
"""

import re

from medic.impact import Impact
from medic.subject import ObjectKey, pod_owner_candidates
from medic.vocab import Priority

__all__ = [
    "PIPELINE_ALERTS",
    "PIPELINE_SERVICE",
    "SEVERITY_FLOOR",
    "pipeline_component",
    "pipeline_floor",
    "pipeline_named",
    "pipeline_workload",
]

PIPELINE_SERVICE = "alerting-pipeline"

_ALERTMANAGER = (
    "AlertmanagerFailedReload",
    "AlertmanagerMembersInconsistent",
    "AlertmanagerFailedToSendAlerts",
    "AlertmanagerClusterFailedToSendAlerts",
    "AlertmanagerConfigInconsistent",
    "AlertmanagerClusterDown",
    "AlertmanagerClusterCrashlooping",
)
_PROMETHEUS = (
    "PrometheusBadConfig",
    "PrometheusSDRefreshFailure",
    "PrometheusKubernetesListWatchFailures",
    "PrometheusNotificationQueueRunningFull",
    "PrometheusErrorSendingAlertsToSomeAlertmanagers",
    "PrometheusNotConnectedToAlertmanagers",
    "PrometheusTSDBReloadsFailing",
    "PrometheusTSDBCompactionsFailing",
    "PrometheusNotIngestingSamples",
    "PrometheusDuplicateTimestamps",
    "PrometheusOutOfOrderTimestamps",
    "PrometheusRemoteStorageFailures",
    "PrometheusRemoteWriteBehind",
    "PrometheusRemoteWriteDesiredShards",
    "PrometheusRuleFailures",
    "PrometheusMissingRuleEvaluations",
    "PrometheusTargetLimitHit",
    "PrometheusLabelLimitHit",
    "PrometheusScrapeBodySizeLimitHit",
    "PrometheusScrapeSampleLimitHit",
    "PrometheusTargetSyncFailure",
    "PrometheusHighQueryLoad",
    "PrometheusErrorSendingAlertsToAnyAlertmanager",
)
_OPERATOR = (
    "PrometheusOperatorListErrors",
    "PrometheusOperatorWatchErrors",
    "PrometheusOperatorSyncFailed",
    "PrometheusOperatorReconcileErrors",
    "PrometheusOperatorNodeLookupErrors",
    "PrometheusOperatorNotReady",
    "PrometheusOperatorRejectedResources",
    "PrometheusOperatorStatusUpdateErrors",  # (the operator's mixin since, monitoring-mixins' site)
    "ConfigReloaderSidecarErrors",
)
_KUBE_STATE_METRICS = (
    "KubeStateMetricsListErrors",
    "KubeStateMetricsWatchErrors",
    "KubeStateMetricsShardingMismatch",
    "KubeStateMetricsShardsMissing",
)
PIPELINE_ALERTS: dict[str, str] = {
    **dict.fromkeys(_ALERTMANAGER, "Alertmanager"),
    **dict.fromkeys(_PROMETHEUS, "Prometheus"),
    **dict.fromkeys(_OPERATOR, "the Prometheus Operator"),
    **dict.fromkeys(_KUBE_STATE_METRICS, "kube-state-metrics"),
}
"""Each rule's name -> the component it is about."""

# The stack's workloads, Services and scrape jobs, in the forms the operator and the charts give them
# (never a bare "prometheus", nor any name that merely begins with one: a Pushgateway, a team's own
# relay or Prometheus stay theirs):
#   kube-prometheus and OpenShift: alertmanager-main, prometheus-k8s, prometheus-user-workload; the
#   operator's governing Services alertmanager-operated, prometheus-operated; OpenShift's thanos-querier
#   and thanos-ruler(-user-workload);
#   kube-prometheus-stack: StatefulSets alertmanager-<fullname>-alertmanager and
#   prometheus-<fullname>-prometheus; Services and Deployments <fullname>-alertmanager, -prometheus,
#   -operator, where the fullname ends in kube-prometheus(-stack); <release>-kube-state-metrics,
#   <release>-prometheus-node-exporter; and the bare kube-state-metrics, prometheus-operator,
#   node-exporter (kube-prometheus);
#   Mimir's alertmanager and ruler (the LGTM stack's alerting path).
_STACK = re.compile(
    r"^(alertmanager|prometheus)-(main|k8s|operated|user-workload)$"
    r"|^alertmanager-.+-alertmanager$|^prometheus-.+-prometheus$"
    r"|(^|-)kube-prometheus(-stack)?-(alertmanager|prometheus|operator)$"
    r"|(^|-)(kube-state-metrics|prometheus-operator|prometheus-node-exporter|node-exporter)$"
    r"|^thanos-(querier|ruler|ruler-user-workload)$|(^|-)mimir-(alertmanager|ruler)$"
)
_KSM_NAME = re.compile(r"(^|-)kube-state-metrics$")
# Labels naming the Kubernetes object an alert is about (kube-state-metrics' series carry them).
_OBJECT_LABELS = (
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "replicaset",
    "job_name",
    "cronjob",
    "node",
    "persistentvolumeclaim",
    "persistentvolume",
    "horizontalpodautoscaler",
    "resourcequota",
    "poddisruptionbudget",
    "ingress",
)


# An alerting pipeline in trouble is at least this priority, by severity (a missing heartbeat's
# finding's, a pipeline alert's own): while it fails, other alerts may reach no one, whatever the
# catalog says of the service told.
SEVERITY_FLOOR = {"critical": Priority.P2, "error": Priority.P3, "warning": Priority.P4}


def pipeline_floor(impact: Impact, alerts: list[tuple[str, str]]) -> Impact:
    """``impact`` raised to the floor of the worst pipeline alert among ``alerts`` (name, canonical
    severity), saying which."""
    for name, severity in alerts:
        component, floor = PIPELINE_ALERTS.get(name), SEVERITY_FLOOR.get(severity)
        if component is not None and floor is not None:
            impact = impact.at_least(floor, f"{name}: {component} is failing, other alerts may reach no one")
    return impact


def pipeline_component(labels: dict[str, str]) -> str | None:
    """The component a pipeline alert is about (``Alertmanager``...), None for any other alert."""
    return PIPELINE_ALERTS.get(labels.get("alertname", ""))


def pipeline_workload(owner: ObjectKey) -> bool:
    """Whether a workload or Service is one of the alerting pipeline's own (its pods not ready, crash
    looping, its target down)."""
    return owner.kind in ("StatefulSet", "Deployment", "DaemonSet", "Service") and bool(
        _STACK.search(owner.name)
    )


def pipeline_named(labels: dict[str, str]) -> ObjectKey | None:
    """The pipeline's own object an alert's labels name when nothing else names a subject (the stack's
    pods and Services are an exporter's own target to medic.subject, and never a service): a
    StatefulSet, Deployment or DaemonSet by its label or its pod's name, or, with no object label at
    all, the Service (or else the scrape job) the labels name (TargetDown of Alertmanager's Service)."""
    ns = labels.get("namespace", "")
    for kind, label in (
        ("StatefulSet", "statefulset"),
        ("Deployment", "deployment"),
        ("DaemonSet", "daemonset"),
    ):
        if (name := labels.get(label)) and pipeline_workload(
            key := ObjectKey(kind=kind, namespace=ns, name=name)
        ):
            return key
    if pod := labels.get("pod"):
        owners = pod_owner_candidates(ns, pod)[:1]  # the most likely owner only
        for key in owners:
            if _KSM_NAME.search(key.name) and labels.get("job") == "kube-state-metrics":
                break  # kube-state-metrics' own pod, on a series it reports about another object
            if pipeline_workload(key):
                return key
    if any(label in labels for label in _OBJECT_LABELS):
        return None  # service and job name the exporter that reported another object
    name = labels.get("service") or labels.get("job")  # a job only where no Service is named
    if name and pipeline_workload(key := ObjectKey(kind="Service", namespace=ns, name=name)):
        return key
    return None
