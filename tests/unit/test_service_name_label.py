"""``service_name`` names a service (medic.assign.SERVICE_LABELS): Loki 3 and Alloy give it to every log
stream (discovered from ``service``, ``app``, the Kubernetes workload..., ``unknown_service`` when
nothing gave one), OpenTelemetry's resource attribute ``service.name`` arrives as it, and a Loki rule
``sum by (service_name) (count_over_time({service_name="checkout"} |= "error" [5m]))`` keeps it. A
field walk-through found such an alert outside the catalog (P5, #incidents); checkout's it is now.

After ``sloth_service`` and ``service`` (an alert saying ``service`` means it), before
``app_kubernetes_io_name``, ``app`` and ``job``. The stock alerts of the fixtures (kubernetes-mixin,
node-mixin, the SLO generators) carry no ``service_name``: each is checked with one added, naming
another service, so that nothing a subject or a more specific label decided changes."""

from datetime import UTC, datetime
from typing import Any

import pytest

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.assign import SERVICE_LABELS, assign_alerts, decide
from medic.catalog import load_catalog
from medic.yamldoc import ConfigError
from tests.support.grafana import grafana_alert, grafana_webhook
from tests.unit.test_assign_kubernetes import fixture_catalog
from tests.unit.test_subject import K8S_ALERTS, NODE, SLO

T0 = datetime(2026, 12, 7, 9, 0, 30, tzinfo=UTC)
LOKI = {"alertname": "Checkout error logs", "grafana_folder": "Checkout", "service_name": "checkout"}


def test_a_loki_rule_by_service_name_is_its_services() -> None:
    payload = AlertmanagerWebhook.model_validate(
        grafana_webhook(
            [grafana_alert(LOKI | {"namespace": "shop"}, annotations={"description": "errors > 50/min"})],
            {"alertname": LOKI["alertname"], "grafana_folder": "Checkout"},
        )
    )
    (share,) = assign_alerts(fixture_catalog(), payload, normalise_webhook(payload, received_at=T0))
    assert share.incident_id == "incident-checkout"
    assert next(iter(share.decided_by.values())) == ["service_name"]


@pytest.mark.parametrize(
    ("labels", "service", "decided"),
    [
        ({"service": "payments", "service_name": "checkout"}, "payments", "service"),
        ({"service_name": "checkout", "app": "payments", "job": "payments"}, "checkout", "service_name"),
        ({"service_name": "unknown_service:java", "app": "payments"}, "payments", "app"),
        # an exporter's name never names a service, whatever the label
        ({"service_name": "kube-state-metrics", "app": "cart"}, "cart", "app"),
    ],
)
def test_service_name_comes_after_service_before_app_and_job(
    labels: dict[str, str], service: str, decided: str
) -> None:
    found = decide(fixture_catalog(), {"alertname": "X", **labels})
    assert (found.service, found.labels) == (service, [decided]), found.why


def test_a_service_name_outside_the_catalog_is_an_incident_of_its_own_unknown_service_none() -> None:
    found = decide(fixture_catalog(), {"alertname": "Errors", "service_name": "billing-worker"})
    assert (found.service, found.in_catalog, found.labels) == ("billing-worker", False, ["service_name"])
    unknown = {"alertname": "Errors", "service_name": "unknown_service"}
    assert decide(fixture_catalog(), unknown).service is None


STOCK = [*K8S_ALERTS, *NODE["alerts"], *SLO["alerts"]]
_LOWER = ("app_kubernetes_io_name", "app", "job")


@pytest.mark.parametrize("entry", STOCK, ids=lambda e: e["id"])
def test_a_stock_alert_keeps_what_its_subject_or_a_more_specific_label_decided(entry: dict[str, Any]) -> None:
    catalog = fixture_catalog()
    labels = entry["labels"]
    assert "service_name" not in labels  # (so without one, nothing changed)
    before = decide(catalog, labels)
    other = "search" if before.service != "search" else "cart"
    after = decide(catalog, {**labels, "service_name": other})
    if before.in_catalog and not set(before.labels) & set(_LOWER):
        assert (after.service, after.labels) == (before.service, before.labels), after.why


def test_a_catalog_names_its_own_service_labels_first() -> None:
    catalog = load_catalog(
        "service_labels: [team_service]\nservices: [{name: checkout, team: c}, {name: cart, team: c}]\n"
    )
    found = decide(catalog, {"alertname": "X", "team_service": "cart", "service": "checkout"})
    assert (found.service, found.labels) == ("cart", ["team_service"])
    nope = {"alertname": "X", "team_service": "nope", "service": "checkout"}
    assert decide(catalog, nope).service == "checkout"
    with pytest.raises(ConfigError, match="service_labels"):
        load_catalog("service_labels: [team-service]\nservices: []\n")
    order = SERVICE_LABELS.index
    assert order("service") < order("service_name") < order("app")
