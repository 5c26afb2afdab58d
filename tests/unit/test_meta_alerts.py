"""kube-prometheus's InfoInhibitor is no incident's alert (medic.meta_alerts, the routing policy's
``ignore:``). Its labels are kube-prometheus's rule's: ALERTS{severity="info"}'s (the info alert's own,
and ``alertstate``), alertname and severity overridden. Before, it became an alert of the very incident
its info alert opened. Its resolution still reaches an incident that holds it (one opened before the
rule), and nothing else: such an incident would otherwise stay open for good."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from medic.alerts import Alert, AlertmanagerWebhook, AlertStatus
from medic.catalog import Catalog
from medic.incident import AlertBatch, IncidentState
from medic.meta_alerts import default_ignored, split_ignored
from medic.routing import load_routing
from medic.yamldoc import ConfigError
from service.api import create_app
from service.explain import explain_webhook, render
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink, bearer
from tests.unit.test_api_heartbeats import delivery

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
INFO = {  # the kubernetes-mixin's CPUThrottlingHigh (tests/fixtures/alerts/kubernetes-mixin.json)
    "alertname": "CPUThrottlingHigh",
    "container": "payments",
    "namespace": "payments",
    "pod": "payments-5f7c9d8b4-m8v2n",
    "prometheus": "monitoring/kube-prometheus-stack-prometheus",
    "severity": "info",
}
INHIBITOR = {**INFO, "alertname": "InfoInhibitor", "alertstate": "firing", "severity": "none"}


def alert(labels: dict[str, str], status: AlertStatus = AlertStatus.FIRING, fp: str = "ii") -> Alert:
    return Alert(fingerprint=fp, status=status, labels=labels, starts_at=T0)


def test_infoinhibitor_is_set_aside_and_its_resolution_only_closes() -> None:
    kept, ignored = split_ignored(default_ignored(), [alert(INHIBITOR), alert(INFO, fp="info")])
    assert [a.name for a in kept] == ["CPUThrottlingHigh"]
    assert [(a.name, r.name) for a, r in ignored] == [("InfoInhibitor", "info-inhibitor")]
    kept, ignored = split_ignored(default_ignored(), [alert(INHIBITOR, AlertStatus.RESOLVED)])
    [closing] = kept
    assert closing.closes_only and len(ignored) == 1
    assert split_ignored([], [alert(INHIBITOR)]) == ([alert(INHIBITOR)], [])  # ignore: []


def test_a_resolution_that_only_closes_resolves_an_old_incident_and_touches_no_other() -> None:
    old = IncidentState(id="incident-payments", opened_at=T0)  # opened before the rule: it holds one
    old.apply_alerts(AlertBatch(alerts=[alert(INHIBITOR), alert(INFO, fp="info")], received_at=T0), at=T0)
    later = T0 + timedelta(minutes=5)
    closing = alert(INHIBITOR, AlertStatus.RESOLVED).model_copy(update={"closes_only": True})
    assert old.apply_alerts(AlertBatch(alerts=[closing], received_at=later), at=later)
    assert old.alerts["ii"].status is AlertStatus.RESOLVED
    fresh = IncidentState(id="incident-payments", opened_at=T0)
    fresh.apply_alerts(AlertBatch(alerts=[alert(INFO, fp="info")], received_at=T0), at=T0)
    before = len(fresh.timeline)
    assert not fresh.apply_alerts(AlertBatch(alerts=[closing], received_at=later), at=later)
    assert "ii" not in fresh.alerts and len(fresh.timeline) == before  # no "arrived already resolved"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("ignore: [{name: a, match: {alertname: X}}, {name: a, match: {alertname: Y}}]", "'a' twice"),
        ("ignore: [{name: w, match: {alertname: Watchdog}}]", "matches the alerts of heartbeat 'watchdog'"),
        ("ignore: [{name: Bad_Name, match: {alertname: X}}]", "is not a rule name"),
        ("ignore: [{name: x, match: {}}]", "at least 1 item"),
    ],
)
def test_a_wrong_ignore_rule_is_refused(text: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        load_routing(text)


def test_the_policy_ignores_infoinhibitor_unless_told_otherwise() -> None:
    assert [r.name for r in load_routing("{}").ignore] == ["info-inhibitor"]
    assert load_routing("ignore: []").ignore == []
    custom = load_routing("ignore: [{name: meta, match: {alertname: DeadMansSwitchMeta}}]").ignore
    assert [r.match for r in custom] == [{"alertname": "DeadMansSwitchMeta"}]


async def test_the_webhook_hands_infoinhibitor_to_no_incident() -> None:
    async def ready() -> bool:
        return True

    sink = FakeSink()
    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN))
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        both = await http.post("/webhooks/alertmanager", json=delivery(INHIBITOR, INFO), headers=bearer())
        assert both.status_code == 200 and both.json()["accepted"] == 2
        [(_, batch)] = sink.alerts
        assert [a.name for a in batch.alerts] == ["CPUThrottlingHigh"]
        alone = await http.post("/webhooks/alertmanager", json=delivery(INHIBITOR), headers=bearer())
        assert alone.json() == {"accepted": 1, "incidents": []} and len(sink.alerts) == 1
        gone = await http.post(
            "/webhooks/alertmanager", json=delivery(INHIBITOR, status="resolved"), headers=bearer()
        )
        assert gone.status_code == 200
        [(_, closing)] = sink.alerts[1:]
        assert [(a.name, a.closes_only) for a in closing.alerts] == [("InfoInhibitor", True)]
        metrics = (await http.get("/metrics")).text
    assert 'medic_alerts_ignored_total{rule="info-inhibitor"} 3.0' in metrics


def test_explain_says_infoinhibitor_is_ignored() -> None:
    payload = AlertmanagerWebhook.model_validate(delivery(INHIBITOR, INFO))
    found = explain_webhook(payload, catalog=Catalog(), runbooks=[])
    assert found[0] == {
        "ignored": "info-inhibitor",
        "alertname": "InfoInhibitor",
        "status": "firing",
        "why": default_ignored()[0].why,
    }
    text = render(found)
    assert "InfoInhibitor (firing): no incident, ignored by info-inhibitor" in text
    assert sum(1 for line in text.splitlines() if "CPUThrottlingHigh" in line) == 1
    with_none = explain_webhook(payload, catalog=Catalog(), runbooks=[], ignored=[])
    assert not any("ignored" in entry for entry in with_none)
