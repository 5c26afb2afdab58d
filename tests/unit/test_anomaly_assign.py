"""A scan's finding goes to the service its series is about, as an alert on the same series does. On
kube-prometheus-stack every kubelet series carries the ServiceMonitor's `service="kube-prometheus-stack-
kubelet"`: a scan of `kubelet_volume_stats_available_bytes` (its default `service_label`) put orders-db's
volume filling up into an ownerless P5 incident named after the kubelet, while the kubernetes-mixin's
KubePersistentVolumeFillingUp on that volume goes to orders-db (a field walk-through)."""

from datetime import UTC, datetime, timedelta

from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.assign import assign_anomalies, decide
from tests.unit.test_assign_kubernetes import fixture_catalog
from tests.unit.test_subject import K8S_ALERTS

(FILLING,) = [e for e in K8S_ALERTS if e["id"] == "KubePersistentVolumeFillingUp/shop/data-orders-db-0"]
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _finding(service: str, series: dict[str, str]) -> AnomalySignal:
    return AnomalySignal(
        source="medic-forecast",
        service=service,
        series={**series, SCAN_LABEL: "pvc-free"},
        value=1.07e9,
        expected=ExpectedBand(lower=0.0, upper=5e10),
        score=0.9,
        window=TimeWindow(start=AT, end=AT + timedelta(minutes=15)),
    )


def test_a_volume_scan_goes_to_the_service_the_alert_on_that_volume_goes_to() -> None:
    catalog = fixture_catalog()
    series = {k: v for k, v in FILLING["labels"].items() if k not in ("alertname", "severity")}
    assert decide(catalog, FILLING["labels"]).service == "orders-db"  # where the alert goes
    [found] = assign_anomalies(catalog, [_finding(series["service"], series)])
    assert found.incident_id == "incident-orders-db" and found.service is not None
    assert found.service.name == "orders-db"
    assert [s.service for s in found.signals] == ["orders-db"]


def test_a_finding_naming_a_catalog_service_keeps_it() -> None:
    catalog = fixture_catalog()
    series = {"service": "checkout", "namespace": "shop", "persistentvolumeclaim": "data-orders-db-0"}
    [found] = assign_anomalies(catalog, [_finding("checkout", series)])
    assert found.incident_id == "incident-checkout"


def test_a_service_the_catalog_lacks_is_kept_and_only_an_exporters_name_is_decided_again() -> None:
    """A scan pinned to `service: billing` (not in the catalog), or a label naming a real service the
    catalog lacks, stays that service's incident (outside the catalog), whatever its pod and job labels
    would say; a finding posted to the anomaly webhook names its own service (a review)."""
    catalog = fixture_catalog()
    series = {"service": "billing", "namespace": "shop", "pod": "cart-7d9f8b6c5d-x2k4q", "job": "app"}
    [pinned] = assign_anomalies(catalog, [_finding("billing", series)])
    assert pinned.incident_id.startswith("incident-svc-billing")
    theirs = _finding("kube-prometheus-stack-kubelet", {"persistentvolumeclaim": "data-orders-db-0"})
    theirs = theirs.model_copy(
        update={"series": {"persistentvolumeclaim": "data-orders-db-0", "namespace": "shop"}}
    )
    [webhook] = assign_anomalies(catalog, [theirs])
    assert webhook.incident_id.startswith("incident-svc-kube-prometheus-stack-kubelet")
