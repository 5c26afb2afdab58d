"""Which incident each alert or anomaly goes to.

Alerts about a catalog service go to that service's incident (``incident-<service>``);
correlation then folds the incidents of dependent services into the incident of their
cause. Alerts naming a service the catalog does not know get a per-service incident of
their own; alerts naming no service stay with their Alertmanager group.

Which service an alert is about is decided by :func:`decide`, in this order: Grafana's DatasourceError
and DatasourceNoData are the alerting pipeline's, an incident per data source whatever labels their rules
gave them (medic.grafana_alerts); the alert's Kubernetes
subject (medic.subject: its workload, or the workloads its pod name could belong to) as the catalog's
``workloads`` list it; the service's own Prometheus ``jobs``; a label (:data:`SERVICE_LABELS`) naming a
catalog service; an alert about the alerting pipeline itself (medic.pipeline_alerts:
``alerting-pipeline``); a ``namespace`` whose workloads the catalog lists under one service only, when no
label names an object (Mimir's and Loki's mixins alert by namespace); a label naming a service the
catalog does not know; a workload the catalog does not know. A label value that names an exporter
(kube-state-metrics, the kubelet, node-exporter...) is never a service, so every team's crash loop is
not folded into one incident named after kube-state-metrics.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from medic.alerts import Alert, AlertmanagerWebhook
from medic.anomaly import SCAN_LABEL, AnomalySignal
from medic.catalog import Catalog
from medic.clusters import lookup_for
from medic.grafana_alerts import RULENAME, datasource_alert, datasource_uid
from medic.incident import AlertBatch, AnomalyBatch
from medic.keys import datasource_incident_id, group_incident_id, service_incident_id
from medic.pipeline_alerts import PIPELINE_SERVICE, pipeline_component, pipeline_named, pipeline_workload
from medic.subject import ObjectKey, OwnerLookup, Subject, is_exporter, resolve_subject
from medic.topology import ServiceContext, context_for, in_cluster, with_hosted, with_nodes, with_reach

# Labels that name the service an alert is about, most specific first (Sloth's SLO alerts name it in
# sloth_service; Loki 3, Alloy, Grafana Beyla and OpenTelemetry's resource attribute service.name in
# service_name, on every log stream and many series). A value naming an exporter is skipped whatever the
# label. A catalog's own ``service_labels`` are tried before these.
SERVICE_LABELS = ("sloth_service", "service", "service_name", "app_kubernetes_io_name", "app", "job")
# OpenTelemetry's service.name when none was set ("unknown_service", "unknown_service:java"), Loki's
# service_name when no label gave one: no service.
_UNKNOWN_SERVICE = "unknown_service"

__all__ = ["SERVICE_LABELS", "Assignment", "Decision", "assign_alerts", "assign_anomalies", "decide"]


@dataclass(frozen=True)
class Decision:
    """The service an alert is about (None: its Alertmanager group decides), and why."""

    service: str | None
    in_catalog: bool
    subject: Subject
    labels: list[str]
    why: str
    related: list[str] = field(default_factory=list)  # a node's services (their pods run on it)
    nodes: list[str] = field(default_factory=list)  # a service's nodes (node/<name>: its pods run there)
    incident: str | None = None  # the incident, where it is not the service's own (a data source's)


def decide(catalog: Catalog, labels: dict[str, str], lookup: OwnerLookup | None = None) -> Decision:
    """Which service an alert with these labels is about, and which labels decided it. Another
    cluster's alert is not looked up in this one (medic/clusters.py): the naming patterns decide."""
    if datasource_alert(labels):  # before its rule's labels: they name the rule's service, not this
        return _datasource(catalog, labels)
    lookup = lookup_for(lookup, labels)
    subject = resolve_subject(labels, lookup)
    owners = [w for w in (subject.workload, *subject.candidates) if w is not None]
    for owner in owners:
        name = catalog.service_of_workload(owner.kind, owner.namespace, owner.name)
        if name:
            why = f"{subject.reason}; the catalog lists {owner} under service {name}"
            if owner != subject.target:  # a later candidate the catalog names: the one acted on too
                rest = [c for c in subject.candidates if c != owner]
                subject = subject.model_copy(update={"candidates": [owner, *rest]})
            return Decision(name, True, subject, subject.decided_by, why, nodes=_nodes(lookup, [owner]))
    job = labels.get("job")
    if job and not is_exporter(job) and (name := catalog.by_job.get(job)):
        why = f"job={job} is service {name}'s own Prometheus job"
        return Decision(name, True, subject, ["job"], why, nodes=_catalog_nodes(catalog, name, lookup))
    order = tuple(dict.fromkeys((*catalog.service_labels, *SERVICE_LABELS)))
    skipped = [k for k in order if is_exporter(labels.get(k))]
    aside = f" ({', '.join(f'{k}={labels[k]}' for k in skipped)} name an exporter)" if skipped else ""
    for label in order:
        value = labels.get(label)
        if label not in skipped and (name := catalog.resolve(value)):
            why = f"{label}={value} names service {name}{aside}"
            return Decision(name, True, subject, [label], why, nodes=_catalog_nodes(catalog, name, lookup))
    pipeline = _pipeline(catalog, labels, subject, owners)  # (after the catalog's own word)
    if pipeline is not None:
        return pipeline
    namespace = labels.get("namespace") or ""
    named = _named_outside(labels, skipped)
    # (not where a label names a service the catalog does not know: Loki's and OpenTelemetry's
    # service_name on a log alert of that namespace is that service's, as before)
    whole = subject.object is None and not skipped and named is None
    owned = catalog.service_of_namespace(namespace) if whole else None
    if owned is not None:
        # About a namespace as a whole: Mimir's and Loki's mixins aggregate many alerts by (cluster,
        # namespace), MimirIngesterUnhealthy among them, which was an incident of its own with no owner.
        why = f"namespace={namespace} holds only service {owned}'s workloads in the catalog"
        nodes = _catalog_nodes(catalog, owned, lookup)
        return Decision(owned, True, subject, ["namespace"], why, nodes=nodes)
    if named is not None and subject.object is None:
        label, value = named
        why = f"{label}={value} names a service the catalog does not know{aside}"
        return Decision(value, False, subject, [label], why)
    service = labels.get("service")
    target = owners[0] if owners else subject.object
    if target is not None and not (subject.object and subject.object.kind == "Service" and not owners):
        name = (
            f"{target.namespace}/{target.name}"
            if target.namespace
            else f"{target.kind.lower()}/{target.name}"
        )
        why = f"{subject.reason}; no catalog service holds {target}, so it is an incident of its own"
        related = sorted(
            {s for w in subject.related if (s := catalog.service_of_workload(w.kind, w.namespace, w.name))}
        )
        if related:
            why += f"; pods of {', '.join(related)} run on it"
        return Decision(name, False, subject, subject.decided_by, why, related)
    if subject.object is not None and subject.object.kind == "Service" and service and not skipped:
        why = f"{subject.reason}; the catalog does not know it"
        return Decision(service, False, subject, subject.decided_by, why)
    why = f"{subject.reason}; no label names a service{aside}, so the Alertmanager group decides"
    return Decision(None, False, subject, [], why)


def _pipeline(
    catalog: Catalog, labels: dict[str, str], subject: Subject, owners: list[ObjectKey]
) -> Decision | None:
    """An alert about the alerting pipeline itself (medic.pipeline_alerts): its service's, the catalog's
    ``alerting-pipeline`` (by name or alias) or one of that name outside the catalog."""
    component = pipeline_component(labels)
    own = owners[0] if owners and pipeline_workload(owners[0]) else None  # the most likely owner only
    if own is None and (subject.object is None or subject.object.kind == "Service"):
        own = pipeline_named(labels)  # its pods and Services are "an exporter's own target" to medic.subject
    if component is None and own is None:
        return None
    if own is not None and own.kind == "Service" and (listed := catalog.by_job.get(own.name)):
        why = f"{own} is the alerting pipeline's own; the catalog lists job {own.name} under service {listed}"
        return Decision(listed, True, subject, subject.decided_by or ["job"], why)
    if own is not None and (listed := catalog.service_of_workload(own.kind, own.namespace, own.name)):
        why = f"{own} is the alerting pipeline's own; the catalog lists it under service {listed}"
        return Decision(listed, True, subject, subject.decided_by or ["namespace"], why)
    name = catalog.resolve(PIPELINE_SERVICE)
    if component is not None:
        what, decided = f"{labels['alertname']} is one of {component}'s own alerts", ["alertname"]
    else:
        assert own is not None
        what, decided = f"{own} is the alerting pipeline's own", subject.decided_by or ["namespace"]
    where = f"service {name}" if name else f"{PIPELINE_SERVICE}, a service outside the catalog"
    return Decision(name or PIPELINE_SERVICE, name is not None, subject, decided, f"{what}: {where}")


def _named_outside(labels: dict[str, str], skipped: list[str]) -> tuple[str, str] | None:
    """The label naming a service the catalog does not know: ``service``, else ``service_name`` (Loki's,
    OpenTelemetry's), unless it names an exporter or no service at all (``unknown_service``)."""
    for label in ("service", "service_name"):
        value = labels.get(label)
        if value and label not in skipped and not value.startswith(_UNKNOWN_SERVICE):
            return label, value
    return None


def _datasource(catalog: Catalog, labels: dict[str, str]) -> Decision:
    """Grafana's DatasourceError or DatasourceNoData (medic.grafana_alerts): the alerting pipeline's
    service, in the incident of its data source; no Kubernetes subject (its rule's labels name what the
    rule watches, not what fails)."""
    name = catalog.resolve(PIPELINE_SERVICE)
    uid, alertname = datasource_uid(labels), labels["alertname"]
    source = f"data source {uid}" if uid else "its data source"
    rule_service = next((f"{k}={labels[k]}" for k in SERVICE_LABELS if labels.get(k)), "")
    aside = f"; its rule's {rule_service} is not what fails" if rule_service else ""
    subject = Subject(reason="a Grafana data source alert, about no Kubernetes object")
    decided = ["alertname", RULENAME] + (["datasource_uid"] if uid else [])
    served = catalog.by_datasource.get(uid) if uid else None
    if served is not None:
        # The service behind the data source fails (a Mimir whose ingesters crash): its incident, so its
        # own alerts, firing minutes later, and this are one incident, told once.
        why = (
            f"{alertname} is Grafana's: it cannot evaluate rule {labels[RULENAME]!r} ({source}){aside}: "
            f"the catalog lists data source {uid} under service {served}"
        )
        return Decision(served, True, subject, decided, why)
    where = f"service {name}" if name else f"{PIPELINE_SERVICE}, a service outside the catalog"
    why = (
        f"{alertname} is Grafana's: it cannot evaluate rule {labels[RULENAME]!r} ({source}){aside}: "
        f"{where}, one incident per data source"
    )
    return Decision(
        name or PIPELINE_SERVICE,
        name is not None,
        subject,
        decided,
        why,
        incident=datasource_incident_id(uid, alertname),
    )


def _nodes(lookup: OwnerLookup | None, workloads: list[ObjectKey]) -> list[str]:
    """The nodes (as node incidents are named) the workloads' pods run on, when there is a cluster."""
    if lookup is None:
        return []
    return sorted({f"node/{node}" for w in workloads for node in lookup.nodes_of(w)})


def _catalog_nodes(catalog: Catalog, service: str, lookup: OwnerLookup | None) -> list[str]:
    """A service named by a label: the nodes of the workloads the catalog lists by name for it."""
    if lookup is None or service not in catalog.by_name:
        return []
    workloads = [
        ObjectKey(kind=w.kind, namespace=w.namespace, name=name)
        for w in catalog.by_name[service].workloads
        for name in w.names
    ]
    return _nodes(lookup, workloads)


@dataclass
class Assignment:
    """One incident's share of a delivery."""

    incident_id: str
    service: ServiceContext | None
    alerts: list[Alert] = field(default_factory=list)
    signals: list[AnomalySignal] = field(default_factory=list)
    # The labels that decided each alert's service, by fingerprint (`medic explain` says them): the
    # subject's own labels only when its owner decided (a pod's name that no Deployment's pods can have
    # leaves the service to its `service` label).
    decided_by: dict[str, list[str]] = field(default_factory=dict)

    def alert_batch(self, received_at: datetime, truncated: int = 0) -> AlertBatch:
        return AlertBatch(
            alerts=self.alerts,
            received_at=received_at,
            truncated=truncated,
            contexts=[self.service] if self.service else [],
        )

    def anomaly_batch(self, received_at: datetime) -> AnomalyBatch:
        return AnomalyBatch(
            signals=self.signals, received_at=received_at, contexts=[self.service] if self.service else []
        )


def _key(catalog: Catalog, service: str, cluster: str = "") -> tuple[str, ServiceContext]:
    """The incident key and catalog slice of a service (the slice is memoised on the catalog); with a
    ``cluster``, that cluster's incident of the service (MEDIC_INCIDENTS_PER_CLUSTER)."""
    name = catalog.resolve(service)
    if name:
        return service_incident_id(name, cluster=cluster), in_cluster(context_for(catalog, name), cluster)
    ctx = in_cluster(context_for(catalog, service), cluster)
    return service_incident_id(service, in_catalog=False, cluster=cluster), ctx


def assign_alerts(
    catalog: Catalog,
    payload: AlertmanagerWebhook,
    alerts: list[Alert],
    lookup: OwnerLookup | None = None,
    *,
    per_cluster: str = "",
) -> list[Assignment]:
    """Each alert's incident. ``per_cluster`` (MEDIC_INCIDENTS_PER_CLUSTER: the cluster label's name)
    makes a service's incident one per value of that label: prod-eu's checkout and staging's are two
    incidents, and each correlates only with its own cluster's (an alert without the label: as before)."""
    out: dict[str, Assignment] = {}
    for alert in alerts:
        decision = decide(catalog, alert.labels, lookup)
        service = decision.service
        assigned = alert.model_copy(update={"subject": decision.subject, "why": decision.why})
        if service:
            cluster = alert.labels.get(per_cluster, "") if per_cluster and decision.incident is None else ""
            incident_id, ctx = _key(catalog, service, cluster)
            incident_id = decision.incident or incident_id
            assigned = assigned.model_copy(update={"service": ctx.name})
            if decision.nodes:
                ctx = with_nodes(ctx, decision.nodes)
            if decision.related and not decision.in_catalog:
                # A node's incident carries the services on it, so it can absorb their incidents.
                ctx = with_hosted(ctx, decision.related)
        else:
            incident_id, ctx = (
                group_incident_id(
                    receiver=payload.receiver,
                    group_key=payload.groupKey,
                    group_labels=payload.groupLabels,
                ),
                None,
            )
        assignment = out.setdefault(incident_id, Assignment(incident_id, ctx))
        if ctx is not None and assignment.service is not None and ctx.hosts:
            assignment.service = with_hosted(assignment.service, ctx.hosts)
        if ctx is not None and assignment.service is not None and ctx.nodes:
            assignment.service = with_nodes(assignment.service, ctx.nodes)
        assignment.alerts.append(assigned)
        assignment.decided_by[alert.fingerprint] = decision.labels
    for assignment in out.values():
        if assignment.service is not None and assignment.service.hosts:
            assignment.service = with_reach(assignment.service, catalog)  # a node's: what it takes down
    return list(out.values())


def _anomaly_service(catalog: Catalog, signal: AnomalySignal) -> str:
    """The service a finding is about: the one its signal names when the catalog knows it, else the one
    its series' labels decide as an alert's do. A kube-prometheus-stack series names the exporter that
    was scraped (`service="kube-prometheus-stack-kubelet"` on every kubelet series), so a volume filling
    up went to an ownerless P5 incident named after the kubelet, where the alert on the same volume goes
    to the StatefulSet's service by its PersistentVolumeClaim."""
    own = SCAN_LABEL in signal.series  # Medic's scans and predictions: a webhook's finding says its own
    if not own or catalog.resolve(signal.service) or not signal.series:
        return signal.service
    if not (is_exporter(signal.service) or signal.service == "unknown"):
        return signal.service  # a service the catalog lacks (a scan's `service:`, a label's value)
    decision = decide(catalog, dict(signal.series))
    return decision.service if decision.in_catalog and decision.service else signal.service


def assign_anomalies(
    catalog: Catalog, signals: list[AnomalySignal], *, per_cluster: str = ""
) -> list[Assignment]:
    """Each finding's incident; ``per_cluster`` as for :func:`assign_alerts`: a finding whose series
    names its cluster (a scan of a Prometheus holding every cluster's series) joins that cluster's
    incident of the service, where the alerts of that cluster are."""
    out: dict[str, Assignment] = {}
    grouped: dict[tuple[str, str], list[AnomalySignal]] = defaultdict(list)
    for signal in signals:
        cluster = signal.series.get(per_cluster, "") if per_cluster else ""
        grouped[_anomaly_service(catalog, signal), cluster].append(signal)
    for (service, cluster), group in grouped.items():
        incident_id, ctx = _key(catalog, service, cluster)
        assignment = out.setdefault(incident_id, Assignment(incident_id, ctx))
        assignment.signals.extend(s.model_copy(update={"service": ctx.name}) for s in group)
    return list(out.values())
