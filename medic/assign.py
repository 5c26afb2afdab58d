"""Which incident each alert or anomaly goes to.

Alerts about a catalog service go to that service's incident (``incident-<service>``);
correlation then folds the incidents of dependent services into the incident of their
cause. Alerts naming a service the catalog does not know get a per-service incident of
their own; alerts naming no service stay with their Alertmanager group.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from medic.alerts import Alert, AlertmanagerWebhook
from medic.anomaly import AnomalySignal
from medic.catalog import Catalog
from medic.incident import AlertBatch, AnomalyBatch
from medic.keys import group_incident_id, service_incident_id
from medic.topology import ServiceContext, context_for

# Labels that name the service an alert is about, most specific first.
SERVICE_LABELS = ("service", "app_kubernetes_io_name", "app", "job")

__all__ = ["Assignment", "assign_alerts", "assign_anomalies"]


@dataclass
class Assignment:
    """One incident's share of a delivery."""

    incident_id: str
    service: ServiceContext | None
    alerts: list[Alert] = field(default_factory=list)
    signals: list[AnomalySignal] = field(default_factory=list)

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


def _catalog_service(catalog: Catalog, labels: dict[str, str]) -> str | None:
    for label in SERVICE_LABELS:
        name = catalog.resolve(labels.get(label))
        if name:
            return name
    return None


def _key(catalog: Catalog, service: str) -> tuple[str, ServiceContext]:
    """The incident key and catalog slice of a service (the slice is memoised on the catalog)."""
    name = catalog.resolve(service)
    if name:
        return service_incident_id(name), context_for(catalog, name)
    return service_incident_id(service, in_catalog=False), context_for(catalog, service)


def assign_alerts(catalog: Catalog, payload: AlertmanagerWebhook, alerts: list[Alert]) -> list[Assignment]:
    out: dict[str, Assignment] = {}
    for alert in alerts:
        service = _catalog_service(catalog, alert.labels) or alert.labels.get("service")
        assigned = alert
        if service:
            incident_id, ctx = _key(catalog, service)
            assigned = alert.model_copy(update={"service": ctx.name})
        else:
            incident_id, ctx = (
                group_incident_id(
                    receiver=payload.receiver,
                    group_key=payload.groupKey,
                    group_labels=payload.groupLabels,
                ),
                None,
            )
        out.setdefault(incident_id, Assignment(incident_id, ctx)).alerts.append(assigned)
    return list(out.values())


def assign_anomalies(catalog: Catalog, signals: list[AnomalySignal]) -> list[Assignment]:
    out: dict[str, Assignment] = {}
    grouped: dict[str, list[AnomalySignal]] = defaultdict(list)
    for signal in signals:
        grouped[signal.service].append(signal)
    for service, group in grouped.items():
        incident_id, ctx = _key(catalog, service)
        assignment = out.setdefault(incident_id, Assignment(incident_id, ctx))
        assignment.signals.extend(s.model_copy(update={"service": ctx.name}) for s in group)
    return list(out.values())
