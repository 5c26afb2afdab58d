"""Parsing every real payload in shared/reference, and what the parser infers."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from medic.alerts import AlertmanagerWebhook, AlertStatus, normalise_webhook
from medic.assign import assign_alerts
from medic.catalog import Catalog
from medic.fingerprint import label_fingerprint
from medic.keys import INCIDENT_ID_PATTERN, group_incident_id
from tests.conftest import reference_payloads

PAYLOADS = reference_payloads()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_reference_payloads_are_present() -> None:
    assert len(PAYLOADS) >= 5


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_every_reference_payload_parses(name: str) -> None:
    raw: dict[str, Any] = PAYLOADS[name]
    payload = AlertmanagerWebhook.model_validate(raw)
    alerts = normalise_webhook(payload, received_at=NOW)
    assert len(alerts) == len(raw["alerts"])
    for alert, item in zip(alerts, raw["alerts"], strict=True):
        assert alert.labels == item["labels"]
        assert len(alert.fingerprint) == 16
        assert alert.starts_at.tzinfo is not None
        assert alert.ends_at is None or alert.ends_at.year > 1
    incident = group_incident_id(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        group_labels=payload.groupLabels,
    )
    assert INCIDENT_ID_PATTERN.match(incident), incident


def test_fingerprint_matches_prometheus_test_vectors() -> None:
    """Vectors from prometheus/common model TestMetricToFingerprint (the function Alertmanager uses)."""
    assert int(label_fingerprint({}), 16) == 14695981039346656037
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert int(label_fingerprint(labels), 16) == 5799056148416392346


def test_sent_fingerprint_is_kept() -> None:
    """A sender's fingerprint wins over our computed one (Grafana, for one, hashes differently)."""
    raw = PAYLOADS["prometheus_msteams_card_grafana_inspired_payload.json"]
    alerts = normalise_webhook(AlertmanagerWebhook.model_validate(raw), received_at=NOW)
    assert [a.fingerprint for a in alerts] == [item["fingerprint"] for item in raw["alerts"]]


def test_missing_fingerprint_and_status_are_inferred() -> None:
    raw = PAYLOADS["prometheus_msteams_prom_post_request.json"]
    assert "fingerprint" not in raw["alerts"][0] and "status" not in raw["alerts"][0]
    (alert,) = normalise_webhook(AlertmanagerWebhook.model_validate(raw), received_at=NOW)
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == label_fingerprint(raw["alerts"][0]["labels"])
    assert alert.generator_url is None
    # startsAt with an offset and nanoseconds becomes UTC.
    assert alert.starts_at == datetime(2018, 3, 7, 11, 33, 21, 873077, tzinfo=UTC)


def test_resolved_payload_resolves_every_alert_even_with_zero_ends_at() -> None:
    raw = PAYLOADS["alertmonitor_resolved.json"]
    alerts = normalise_webhook(AlertmanagerWebhook.model_validate(raw), received_at=NOW)
    assert {a.status for a in alerts} == {AlertStatus.RESOLVED}


def test_status_inferred_from_past_ends_at_when_per_alert_status_missing() -> None:
    raw = dict(PAYLOADS["prometheus_msteams_prom_post_request.json"])
    alert = dict(raw["alerts"][0], endsAt="2026-11-23T11:00:00Z")
    raw["alerts"] = [alert]
    (parsed,) = normalise_webhook(AlertmanagerWebhook.model_validate(raw), received_at=NOW)
    assert parsed.status is AlertStatus.RESOLVED


def test_grafana_webhook_is_recognised() -> None:
    payload = AlertmanagerWebhook.model_validate(PAYLOADS["keep_grafana12_webhook_firing.json"])
    assert payload.is_grafana
    (alert,) = normalise_webhook(payload, received_at=NOW)
    assert alert.source == "grafana"
    assert alert.fingerprint == "c4edaaf9f9f839b0"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("alerts"), "alerts"),
        (lambda d: d.update(alerts=[]), "alerts"),
        (lambda d: d["alerts"][0].pop("labels"), "alerts.0.labels"),
        (lambda d: d["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda d: d["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda d: d.update(status="burning"), "status"),
        (lambda d: d["alerts"][0].update(labels={"alertname": 3}), "alerts.0.labels.alertname"),
    ],
)
def test_malformed_payloads_name_the_field(mutate: Any, field: str) -> None:
    import copy  # noqa: PLC0415

    raw = copy.deepcopy(PAYLOADS["alertmonitor_firing_3alerts.json"])
    mutate(raw)
    with pytest.raises(ValidationError) as err:
        AlertmanagerWebhook.model_validate(raw)
    locations = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert field in locations, locations


def test_group_id_is_deterministic_and_distinguishes_groups() -> None:
    a = group_incident_id(receiver="r", group_key='{}:{alertname="A"}', group_labels={"alertname": "A"})
    b = group_incident_id(receiver="r", group_key='{}:{alertname="A"}', group_labels={"alertname": "A"})
    c = group_incident_id(receiver="r", group_key='{}:{alertname="B"}', group_labels={"alertname": "A"})
    d = group_incident_id(receiver="other", group_key='{}:{alertname="A"}', group_labels={"alertname": "A"})
    assert a == b
    assert len({a, c, d}) == 3
    assert a.startswith("incident-a-")


def test_one_group_is_one_incident_whatever_alert_comes_first() -> None:
    """Alerts naming no service go to their Alertmanager group's incident: deliveries of the same group
    whose first alert differs must land in the same one (or a resolution goes to the wrong one)."""
    base = {"version": "4", "status": "firing", "receiver": "ops", "groupKey": '{}:{cluster="a"}'}

    def delivery(*names: str) -> list[str]:
        raw = base | {
            "groupLabels": {"cluster": "a"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": n, "cluster": "a"},
                    "startsAt": "2026-11-23T12:00:00Z",
                }
                for n in names
            ],
        }
        payload = AlertmanagerWebhook.model_validate(raw)
        alerts = normalise_webhook(payload, received_at=NOW)
        return [a.incident_id for a in assign_alerts(Catalog(), payload, alerts)]

    assert delivery("DiskFull") == delivery("CPUHigh", "DiskFull")
