"""Grafana's DatasourceError and DatasourceNoData (medic.grafana_alerts) are about the data source: one
incident per data source, the alerting pipeline's, titled by the data source and its rules, its error
on the timeline and in the score. A field walk-through (a team on the LGTM stack, Grafana-managed
alerting, Mimir unreachable: 20 rules, 4 per service, labelled ``service`` and ``severity: critical``)
found 4 incidents "DatasourceError on cart (+1 more service)", 3 teams paged, cart named the root
cause, checkout's real latency alert folded into it, and nothing naming mimir-prod or the error.

The payloads are Grafana 12's (tests/support/grafana.py, citing grafana/grafana's state/compat.go and
state/state.go for the label sets)."""

from datetime import UTC, datetime

import pytest

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.assign import assign_alerts, decide
from medic.catalog import Catalog, load_catalog
from medic.incident import IncidentState
from medic.keys import datasource_incident_id
from medic.pipeline_alerts import PIPELINE_SERVICE
from medic.runbook import load_runbook
from medic.yamldoc import ConfigError
from remediations.plan import match_runbooks
from service.explain import explain_webhook
from tests.support.grafana import datasource_error, datasource_nodata, grafana_alert, grafana_webhook
from tests.unit.test_assign_kubernetes import fixture_catalog

T0 = datetime(2026, 12, 7, 9, 0, 30, tzinfo=UTC)
SERVICES = ["checkout", "cart", "payments", "search", "auth"]
CATALOG = load_catalog(
    """
services:
  - {name: checkout, team: checkout, tier: 1, calls: [cart, payments]}
  - {name: cart, team: checkout, tier: 1}
  - {name: payments, team: payments, tier: 1}
  - {name: search, team: search}
  - {name: auth, team: identity}
  - {name: monitoring, team: sre, aliases: [alerting-pipeline]}
"""
)


def storm(*, severity: str | None = "critical") -> list[AlertmanagerWebhook]:
    """Mimir unreachable: every rule goes to Error; the policy groups by folder and service."""
    out = []
    for svc in SERVICES:
        labels = {"grafana_folder": svc.title(), "service": svc} | (
            {"severity": severity} if severity else {}
        )
        alerts = [datasource_error(f"{svc} rule {i}", labels) for i in range(4)]
        group = {"alertname": "DatasourceError", "grafana_folder": svc.title(), "service": svc}
        out.append(AlertmanagerWebhook.model_validate(grafana_webhook(alerts, group)))
    return out


def latency() -> AlertmanagerWebhook:
    labels = {"alertname": "Checkout p99 latency", "grafana_folder": "Checkout", "service": "checkout"}
    alert = grafana_alert(labels | {"severity": "critical"})
    return AlertmanagerWebhook.model_validate(grafana_webhook([alert], {"alertname": labels["alertname"]}))


def incident_of(payloads: list[AlertmanagerWebhook], *, current: bool = True) -> dict[str, IncidentState]:
    incidents: dict[str, IncidentState] = {}
    for payload in payloads:
        for share in assign_alerts(CATALOG, payload, normalise_webhook(payload, received_at=T0)):
            state = incidents.setdefault(
                share.incident_id,
                IncidentState(id=share.incident_id, opened_at=T0, current_reads=current, pipeline_floor=True),
            )
            state.apply_alerts(share.alert_batch(T0), at=T0)
    return incidents


def test_a_datasource_error_storm_is_one_incident_of_its_data_source_checkouts_alert_stays_apart() -> None:
    incidents = incident_of([*storm(), latency()])
    mimir = datasource_incident_id("mimir-prod", "DatasourceError")
    assert mimir.startswith("incident-datasource-mimir-prod-")
    assert sorted(incidents) == ["incident-checkout", mimir]
    ds = incidents[mimir]
    assert ds.services == ["monitoring"] and ds.root_causes[0].service == "monitoring"
    rules = "20 rules fail (checkout rule 0, checkout rule 1, +18 more)"
    assert ds.title == f"DatasourceError on data source mimir-prod: {rules}"
    assert ds.priority == "P2"  # its rules are critical: alerting on them is blind
    assert ds.impact_detail is not None
    explained = ds.impact_detail.explain()
    assert (
        "at least P2: DatasourceError: Grafana cannot evaluate rule 'checkout rule 0' (data source mimir-prod"
        in explained
    )
    assert "connection refused" in explained
    fired = [e.message for e in ds.timeline if e.kind == "alert.firing"]
    assert fired[0].startswith(
        "DatasourceError fired (rule 'checkout rule 0', data source mimir-prod): [sse.dataQueryError]"
    )
    checkout = incidents["incident-checkout"]
    assert checkout.title == "Checkout p99 latency on checkout" and checkout.alert_count == 1


def test_without_severity_labels_a_datasource_error_is_still_p3_told_now() -> None:
    (ds,) = incident_of(storm(severity=None)).values()
    assert ds.priority == "P3"  # not held over quiet hours as P4/P5, not a page either


def test_nodata_of_many_rules_is_one_incident_the_alerting_pipelines() -> None:
    payloads = [
        AlertmanagerWebhook.model_validate(
            grafana_webhook(
                [datasource_nodata(f"{svc} request rate", {"grafana_folder": svc.title(), "service": svc})],
                {"alertname": "DatasourceNoData", "grafana_folder": svc.title(), "service": svc},
            )
        )
        for svc in SERVICES[:3]
    ]
    (ds,) = incident_of(payloads).values()
    assert ds.id.startswith("incident-datasource-datasourcenodata-")
    assert (
        ds.title
        == "DatasourceNoData: 3 rules get no data (checkout request rate, cart request rate, +1 more)"
    )
    assert ds.priority == "P4"  # by its rules' severity (none: a warning), as a pipeline alert


def test_decide_says_why_and_the_catalog_decides_the_pipelines_name() -> None:
    labels = datasource_error("cart rule 0", {"service": "cart", "severity": "critical"})["labels"]
    found = decide(CATALOG, labels)
    assert (found.service, found.in_catalog, found.labels) == (
        "monitoring",
        True,
        ["alertname", "rulename", "datasource_uid"],
    )
    assert "its rule's service=cart is not what fails" in found.why
    assert found.subject.target is None  # no Kubernetes object: no runbook acts on the rule's pod
    outside = decide(Catalog(), labels)
    assert (outside.service, outside.in_catalog) == (PIPELINE_SERVICE, False)


def test_a_rule_of_ones_own_named_datasourceerror_stays_its_services() -> None:
    """Grafana always sets ``rulename``; a Prometheus rule of that name does not."""
    assert decide(CATALOG, {"alertname": "DatasourceError", "service": "cart"}).service == "cart"


@pytest.mark.parametrize(
    ("match", "matched"), [("labels: {service: cart}", False), ("alertname: [DatasourceError]", True)]
)
def test_only_a_runbook_naming_it_matches_a_datasource_alert(match: str, matched: bool) -> None:
    runbook = load_runbook(
        f"""
name: r
description: x
match: {{{match}}}
steps:
  - action: restart
    risk: low
    target: {{kind: Deployment, namespace: shop, name: cart}}
verify: {{alerts_resolved: true, for_seconds: 60, deadline_seconds: 900}}
""",
        source="r.yaml",
    )
    payload = storm()[1]
    (alert,) = normalise_webhook(payload, received_at=T0)[:1]
    assert bool(match_runbooks([runbook], alert, "cart")) is matched


def test_an_incident_begun_before_keeps_its_title_and_priority() -> None:
    """current_reads False (an incident opened before this release): its title and priority are
    published and decided its pages; its replay must read them as they were."""
    (ds,) = incident_of(storm(severity=None), current=False).values()
    assert ds.title.startswith("DatasourceError on monitoring")
    assert ds.impact_detail is not None and "cannot evaluate" not in ds.impact_detail.explain()
    assert all("mimir-prod" not in e.message for e in ds.timeline)


def test_explain_scores_and_names_the_data_source_incident() -> None:
    [found] = explain_webhook(storm()[0], catalog=CATALOG, runbooks=[])
    assert found["incident"].startswith("incident-datasource-mimir-prod-")
    assert found["service"] == "monitoring" and found["priority"] == "P2"


def test_a_grafana_rules_severity_is_its_label_and_none_reads_as_a_warning() -> None:
    """Grafana sends no severity of its own (docs/notifications.md: label the rules); the label decides."""
    shipped = fixture_catalog()  # checkout: tier 1, critical to the business
    labelled = explain_webhook(latency(), catalog=shipped, runbooks=[])[0]
    body = latency().model_dump(mode="json", exclude_none=True)
    body["alerts"][0]["labels"].pop("severity")
    bare = explain_webhook(AlertmanagerWebhook.model_validate(body), catalog=shipped, runbooks=[])[0]
    assert (labelled["priority"], bare["priority"]) == ("P2", "P3")  # it pages only when labelled
    assert "severity 10" in bare["score_explained"]  # a warning's points


MIMIR_CATALOG = load_catalog(
    """
services:
  - {name: checkout, team: checkout, tier: 1}
  - name: mimir
    team: observability
    tier: 1
    datasources: [mimir-prod]
    workloads: [{namespace: mimir, kind: StatefulSet, name_regex: "mimir-.+"}]
  - {name: monitoring, team: observability, aliases: [alerting-pipeline], calls: [mimir]}
"""
)


def test_a_data_source_the_catalog_lists_under_its_service_fails_in_that_services_incident() -> None:
    """A walk-through of a Mimir outage (kube-prometheus-stack, Grafana-managed rules on Mimir): the rules'
    DatasourceErrors (5 m pending) were an incident of data source mimir-prod, the alerting pipeline's, and
    paged its team; Mimir's own alerts (for: 15m) opened Mimir's incident 10 minutes later and paged the
    same team again; the two never joined (the later cause says hello to ``incident-monitoring``, not to
    a data source's incident). A data source the catalog lists under a service is that service's."""
    payloads = [*storm(), latency()]
    found: dict[str, list[str]] = {}
    for payload in payloads:
        for share in assign_alerts(MIMIR_CATALOG, payload, normalise_webhook(payload, received_at=T0)):
            found.setdefault(share.incident_id, []).extend(a.name for a in share.alerts)
    assert sorted(found) == ["incident-checkout", "incident-mimir"]
    assert found["incident-mimir"] == ["DatasourceError"] * 20
    labels = storm()[0].alerts[0].labels
    decision = decide(MIMIR_CATALOG, labels)
    assert (decision.service, decision.incident) == ("mimir", None)
    assert "the catalog lists data source mimir-prod under service mimir" in decision.why
    # Later, Mimir's own alert joins the same incident, which keeps the data source's title until then.
    state = IncidentState(id="incident-mimir", opened_at=T0, current_reads=True, pipeline_floor=True)
    for payload in storm():
        for share in assign_alerts(MIMIR_CATALOG, payload, normalise_webhook(payload, received_at=T0)):
            state.apply_alerts(share.alert_batch(T0), at=T0)
    assert state.title.startswith("DatasourceError on data source mimir-prod: 20 rules fail")
    assert state.priority == "P2" and state.root_causes[0].service == "mimir"
    other = {**labels, "datasource_uid": "loki-prod"}  # not listed: the pipeline's, as before
    assert decide(MIMIR_CATALOG, other).incident == datasource_incident_id("loki-prod", "DatasourceError")


def test_a_data_source_listed_under_two_services_is_a_check_error() -> None:
    with pytest.raises(ConfigError, match="data source 'mimir-prod' is already listed under mimir"):
        load_catalog(
            """
services:
  - {name: mimir, team: o, datasources: [mimir-prod]}
  - {name: mimir-b, team: o, datasources: [mimir-prod]}
"""
        )
