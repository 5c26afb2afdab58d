"""Grafana's dashboard, panel and silence links and its query's values reach the incident, its cards and
its timeline (a Grafana-alerting team's walk-through, 2026-12-07: they were thrown away, the card linked
only the rule's page and no card showed the value that fired). The payload is the reference Grafana 12
webhook (../shared/reference/alertmanager/keep_grafana12_webhook_firing.json: grafana/alerting's
templates.ExtendedAlert fields silenceURL, dashboardURL, panelURL, values)."""

import json
from datetime import UTC, datetime
from typing import Any

from activities.adapters.teams import adaptive_card
from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.cards import IncidentCard, render_card
from medic.incident import AlertBatch, IncidentState
from tests.conftest import reference_payloads

NOW = datetime(2026, 5, 5, 13, 5, tzinfo=UTC)


def _grafana() -> dict[str, Any]:
    return reference_payloads()["keep_grafana12_webhook_firing.json"]


def test_grafanas_links_and_values_are_kept_and_said() -> None:
    (alert,) = normalise_webhook(AlertmanagerWebhook.model_validate(_grafana()), received_at=NOW)
    assert alert.source == "grafana"
    assert alert.links == {
        "dashboard": "https://grafana.example.com/d/dashboard_uid",
        "panel": "https://grafana.example.com/d/dashboard_uid?viewPanel=1",
        "silence": "https://grafana.example.com/alerting/silence/new",
    }
    assert alert.values == "B=22, C=1"
    state = IncidentState(id="incident-x", opened_at=NOW)
    state.apply_alerts(AlertBatch(alerts=[alert], received_at=NOW), at=NOW)
    (fired,) = [e.message for e in state.timeline if e.kind == "alert.firing"]
    assert fired.endswith("Values: B=22, C=1.")
    card = IncidentCard(
        incident_id="incident-x",
        title="t",
        status="open",
        priority="P3",
        impact=40,
        opened_at=NOW,
        links=next(iter(state.alerts.values())).links,
    )
    slack = json.dumps(render_card(card).blocks)
    for name, url in (
        ("Dashboard", "d/dashboard_uid"),
        ("Panel", "viewPanel=1"),
        ("Silence in Grafana", "silence/new"),
    ):
        assert name in slack and url in slack
    teams = json.dumps(adaptive_card(card))
    assert "Silence in Grafana" in teams and "viewPanel=1" in teams


def test_links_and_values_of_another_shape_are_left_out_never_refused() -> None:
    payload = _grafana()
    alert = payload["alerts"][0]
    alert["dashboardURL"] = "https://grafana.example.com/d/x?" + "var-a=b&" * 1000  # 8 KB of variables
    alert["panelURL"] = "javascript:alert(1)"
    alert["silenceURL"] = 5
    alert["values"] = {"A": "n/a", "B": True, "C": 1.5, "D": 10**400, "E": 0}
    (normal,) = normalise_webhook(AlertmanagerWebhook.model_validate(payload), received_at=NOW)
    assert normal.links == {} and normal.values == "C=1.5, E=0"
    alert["values"] = ["not", "a", "map"]
    (normal,) = normalise_webhook(AlertmanagerWebhook.model_validate(payload), received_at=NOW)
    assert normal.values is None
