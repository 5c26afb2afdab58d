"""Issue 14: every stock alert of the fixtures goes to its own service's incident (by the catalog's
``workloads``), two teams' crash loops are two incidents each bound to its own Deployment, SLO
generators' alerts feed the SLO factor, and `medic explain` says all of it without changing anything."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medic.alerts import AlertmanagerWebhook, AlertStatus, normalise_webhook
from medic.assign import assign_alerts, decide
from medic.catalog import Catalog, Service, Workload, load_catalog
from medic.impact import score_impact
from medic.slo import slo_burn
from medic.topology import context_for
from medic.yamldoc import ConfigError
from remediations.plan import match_runbooks, plan_for
from service.config_files import load_runbooks
from tests.unit.test_subject import K8S_ALERTS, NODE, SLO

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def fixture_catalog() -> Catalog:
    """The shipped catalog, with `payments` running in its own namespace as in the fixtures' cluster."""
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    payments = [
        Workload(namespace="payments", names=["payments"]),
        Workload(namespace="payments", kind="CronJob", names=["payments-reconcile"]),
    ]
    services = [
        s.model_copy(update={"workloads": payments}) if s.name == "payments" else s for s in catalog.services
    ]
    services.append(Service(name="myservice", team="myteam", tier=2))
    services.append(Service(name="http-api", team="foo", tier=2, jobs=["app"]))
    return Catalog(services=services)


def payload(entries: list[dict[str, Any]]) -> AlertmanagerWebhook:
    return AlertmanagerWebhook.model_validate(
        {
            "version": "4",
            "status": "firing",
            "receiver": "medic",
            "groupKey": '{}:{alertname="x"}',
            "groupLabels": {},
            "alerts": [
                {
                    "status": "firing",
                    "labels": e["labels"],
                    "annotations": e["annotations"],
                    "startsAt": NOW.isoformat(),
                }
                for e in entries
            ],
        }
    )


@pytest.mark.parametrize("entry", K8S_ALERTS, ids=lambda e: e["id"])
def test_every_stock_alert_goes_to_its_own_service(entry: dict[str, Any]) -> None:
    decision = decide(fixture_catalog(), entry["labels"])
    want = entry.get("catalog_service")
    if want:
        assert decision.service == want and decision.in_catalog, decision.why
    else:
        assert not decision.in_catalog, decision.why  # a platform object or the cluster: no team's service
    assert "kube-state-metrics" not in (decision.service or "")


def test_two_teams_crash_loops_are_two_incidents_each_bound_to_its_own_deployment() -> None:
    crashes = [e for e in K8S_ALERTS if e["alertname"] == "KubePodCrashLooping"]
    assert len(crashes) == 2
    body = payload(crashes)
    catalog = fixture_catalog()
    assignments = assign_alerts(catalog, body, normalise_webhook(body, received_at=NOW))
    assert sorted(a.incident_id for a in assignments) == ["incident-checkout", "incident-payments"]
    runbooks = load_runbooks(REPO / "runbooks")
    for assignment in assignments:
        (alert,) = assignment.alerts
        assert alert.why and "pod=" in alert.why and "catalog lists Deployment" in alert.why
        # The pair: roll back a fresh release, else restart (which one runs is decided from the cluster).
        matched = match_runbooks(runbooks, alert, alert.service)
        assert {r.name for r in matched} == {"crashloop-restart", "crashloop-after-rollout-rollback"}
        for runbook in matched:
            plan = plan_for(runbook, alert, incident_id=assignment.incident_id, service=alert.service)
            ns = alert.labels["namespace"]
            assert (plan.target.kind, plan.target.namespace, plan.target.name) == (
                "Deployment",
                ns,
                alert.service,
            )
            assert plan.runbook.verify.promql and f'namespace="{ns}"' in plan.runbook.verify.promql


def test_rollout_alerts_bind_the_rollback_to_the_deployment_not_to_kube_state_metrics() -> None:
    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubeDeploymentRolloutStuck/payments/payments"]
    body = payload([entry])
    (assignment,) = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=NOW))
    (alert,) = assignment.alerts
    (runbook,) = match_runbooks(load_runbooks(REPO / "runbooks"), alert, alert.service)
    plan = plan_for(runbook, alert, incident_id=assignment.incident_id, service=alert.service)
    assert runbook.name == "kube-rollout-rollback" and runbook.approval == "always"
    assert str(plan.target) == "deployment/payments/payments"


def test_a_crash_loop_of_a_statefulset_or_daemonset_pod_runs_no_deployment_runbook() -> None:
    runbooks = load_runbooks(REPO / "runbooks")
    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubeContainerWaiting/shop/orders-db-0"]
    labels = {**entry["labels"], "alertname": "KubePodCrashLooping"}
    body = payload([{**entry, "labels": labels}])
    (assignment,) = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=NOW))
    assert match_runbooks(runbooks, assignment.alerts[0], "orders-db") == []


def test_the_shipped_catalog_maps_stock_alerts_with_no_cluster() -> None:
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubePodCrashLooping/shop/checkout"]
    assert decide(catalog, entry["labels"]).service == "checkout"


def test_node_alerts_are_incidents_of_their_node_not_of_monitoring() -> None:
    catalog = fixture_catalog()
    for entry in NODE["alerts"] + [e for e in K8S_ALERTS if e["alertname"].startswith("KubeNode")]:
        decision = decide(catalog, entry["labels"])
        assert decision.service and decision.service.startswith("node/"), decision.why
        assert not decision.in_catalog


@pytest.mark.parametrize("entry", SLO["alerts"], ids=lambda e: e["id"])
def test_slo_alerts_feed_the_slo_factor(entry: dict[str, Any]) -> None:
    catalog = fixture_catalog()
    decision = decide(catalog, entry["labels"])
    burn = slo_burn(entry["labels"], entry["annotations"])
    assert burn is not None and burn.rate >= 1
    if entry["id"].startswith("Sloth"):
        assert decision.service == "myservice" and decision.labels == ["sloth_service"]
    if entry["id"].startswith("Pyrra"):
        assert decision.service == "http-api" and decision.labels == ["job"]
    if decision.service:
        ctx = context_for(catalog, decision.service)
        impact = score_impact(
            severity="critical", services=[ctx], root=ctx, alert_count=1, slo_burn={ctx.name: burn.rate}
        )
        (factor,) = [f for f in impact.factors if f.name == "slo_burn"]
        assert factor.points > 0 and f"{burn.rate:g}x" in factor.detail


def test_pyrra_burn_rate_is_the_slo_window_over_the_exhaustion() -> None:
    (fast,) = [e for e in SLO["alerts"] if e["id"] == "Pyrra/http/5m-1h"]
    burn = slo_burn(fast["labels"], {})
    assert burn is not None and burn.rate == 14.0 and burn.exhaustion == "2d" and burn.window == "1h/5m"


def test_medic_explain_says_which_incident_service_labels_score_and_runbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli import app  # noqa: PLC0415

    crashes = [e for e in K8S_ALERTS if e["alertname"] == "KubePodCrashLooping"]
    path = tmp_path / "payload.json"
    path.write_text(payload(crashes).model_dump_json())
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["explain", str(path), "--json"])
    assert result.exit_code == 0, result.output
    found = {i["incident"]: i for i in json.loads(result.stdout)}
    checkout = found["incident-checkout"]
    assert checkout["service"] == "checkout" and checkout["priority"].startswith("P")
    (alert,) = checkout["alerts"]
    assert alert["decided_by"] == ["namespace", "pod"] and alert["target"] == "Deployment shop/checkout"
    plans = {p["runbook"]: p for p in alert["runbooks"]}
    assert set(plans) == {"crashloop-restart", "crashloop-after-rollout-rollback"}
    assert all(p["target"] == "deployment/shop/checkout" for p in plans.values())
    assert plans["crashloop-after-rollout-rollback"]["only_if"].startswith(
        "only if it rolled out in the last 30"
    )
    assert plans["crashloop-restart"]["only_if"].startswith("unless it rolled out in the last 30")
    # The shipped catalog runs payments in namespace shop: the payments pod's alert is its own incident.
    assert any(i["service"] == "payments/payments" for i in found.values())
    text = CliRunner().invoke(app, ["explain", str(path)])
    assert (
        "nothing was changed" in text.output
        and "crashloop-restart on deployment/shop/checkout" in text.output
    )
    assert AlertStatus.FIRING.value in text.output


def test_a_workload_listed_under_two_services_is_a_check_error() -> None:
    text = (
        "services:\n"
        "  - {name: a, team: t, workloads: [{namespace: shop, names: [web]}]}\n"
        "  - {name: b, team: t, workloads: [{namespace: shop, names: [web]}]}\n"
    )
    with pytest.raises(ConfigError, match=r"catalog.yaml:3: .*Deployment shop/web is already listed under a"):
        load_catalog(text)


async def test_the_webhook_resolves_subjects_through_the_cluster_lookup_when_given() -> None:
    """A pod the cluster says a StatefulSet owns goes to that StatefulSet's service, not to the
    Deployment its name suggests; and the webhook hands the subject on to the incident."""
    import httpx  # noqa: PLC0415
    from pydantic import SecretStr  # noqa: PLC0415

    from medic.subject import ObjectKey  # noqa: PLC0415
    from service.api import create_app  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.unit.test_api import FakeReader, FakeSink  # noqa: PLC0415

    class Cluster:
        def owner(self, obj: ObjectKey) -> ObjectKey | None:
            return (
                ObjectKey(kind="StatefulSet", namespace="shop", name="orders-db")
                if obj.kind == "Pod"
                else None
            )

        def node_for_address(self, address: str) -> str | None:
            return None

        def workloads_on_node(self, node: str) -> list[ObjectKey]:
            return []

        def nodes_of(self, workload: ObjectKey) -> list[str]:
            return []

    async def ready() -> bool:
        return True

    sink = FakeSink()
    settings = Settings(_env_file=None, webhook_token=SecretStr("t0ken-for-the-test"))
    app = create_app(
        settings, catalog=fixture_catalog(), sink=sink, reader=FakeReader(), ready=ready, owners=Cluster()
    )
    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubePodCrashLooping/shop/checkout"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        response = await http.post(
            "/webhooks/alertmanager",
            content=payload([entry]).model_dump_json(),
            headers={"Authorization": "Bearer t0ken-for-the-test", "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["incidents"] == ["incident-orders-db"]
    ((_, batch),) = sink.alerts
    (alert,) = batch.alerts
    assert alert.subject is not None and alert.subject.workload == ObjectKey(
        kind="StatefulSet", namespace="shop", name="orders-db"
    )
    assert alert.why and "(cluster)" in alert.why


def test_medic_explain_reads_a_grafana_payload_and_refuses_what_is_not_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli import app  # noqa: PLC0415

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    grafana = REPO / "tests" / "fixtures" / "alertmanager" / "keep_grafana12_webhook_firing.json"
    result = CliRunner().invoke(app, ["explain", str(grafana), "--json"])
    assert result.exit_code == 0, result.output
    ((entry,),) = [json.loads(result.stdout)]  # a contact point's Test button: no incident
    assert entry["ignored"] == "grafana-test-notification" and entry["alertname"] == "TestAlert"
    bad = tmp_path / "bad.json"
    bad.write_text('{"alerts": []}')
    refused = CliRunner().invoke(app, ["explain", str(bad)])
    assert refused.exit_code == 1 and "not an Alertmanager or Grafana webhook body" in refused.output


def test_workloads_by_name_regex_and_first_listed_wins_by_name() -> None:
    catalog = Catalog(
        services=[
            Service(name="web", team="t", workloads=[Workload(namespace="shop", name_regex="web-v[0-9]+")]),
            Service(
                name="api",
                team="t",
                workloads=[Workload(namespace="shop", kind="StatefulSet", names=["api"])],
            ),
        ]
    )
    assert catalog.service_of_workload("Deployment", "shop", "web-v2") == "web"
    assert catalog.service_of_workload("Deployment", "shop", "web-v2x") is None
    assert catalog.service_of_workload("Deployment", "shop", "api") is None  # kind matters
    assert catalog.service_of_workload("StatefulSet", "shop", "api") == "api"
    assert catalog.service_of_workload("StatefulSet", "other", "api") is None  # so does the namespace
    with pytest.raises(ValueError, match="not a valid regex"):
        Workload(namespace="shop", name_regex="web-(")


def test_a_node_incident_names_the_services_whose_pods_run_on_it() -> None:
    from tests.unit.test_subject import FakeCluster  # noqa: PLC0415

    (entry,) = [e for e in NODE["alerts"] if e["id"].startswith("NodeFilesystemSpaceFillingUp/")]
    decision = decide(fixture_catalog(), entry["labels"], FakeCluster())
    assert decision.service == "node/ip-10-0-1-12.eu-west-1.compute.internal"
    assert decision.related == ["checkout", "orders-db"]  # fluent-bit is a platform DaemonSet: no service
    assert "pods of checkout, orders-db run on it" in decision.why


def test_hpa_maxed_out_raises_the_hpas_maximum_within_bounds_with_approval_and_undoes_it() -> None:
    from remediations.actions import default_registry  # noqa: PLC0415
    from tests.support.fakes import FakeCluster  # noqa: PLC0415

    (entry,) = [e for e in K8S_ALERTS if e["id"] == "KubeHpaMaxedOut/shop/checkout"]
    body = payload([entry])
    (assignment,) = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=NOW))
    (alert,) = assignment.alerts
    (runbook,) = match_runbooks(load_runbooks(REPO / "runbooks"), alert, alert.service)
    assert runbook.name == "kube-hpa-maxed-out" and runbook.approval == "always"
    plan = plan_for(runbook, alert, incident_id=assignment.incident_id, service=alert.service)
    assert str(plan.target) == "horizontalpodautoscaler/shop/checkout"
    (step,) = plan.steps
    cluster = FakeCluster()
    cluster.objects[str(plan.target)] = {"spec": {"minReplicas": 3, "maxReplicas": 10}}
    action = default_registry().for_step(step)
    before = action.snapshot(cluster, step)
    assert before == {"replicas": 10, "min_replicas": 3}
    assert "maxReplicas" in action.describe(step, before) and "from 10 to 15" in action.describe(step, before)
    action.apply(cluster, step, before, "stamp")
    assert cluster.objects[str(plan.target)]["spec"] == {"minReplicas": 3, "maxReplicas": 15}
    action.apply(cluster, step, before, "stamp")  # a retry of a write that landed writes nothing
    assert len(cluster.writes) == 1
    action.compensate(cluster, step, before)
    assert cluster.objects[str(plan.target)]["spec"] == {"minReplicas": 3, "maxReplicas": 10}
    cluster.objects[str(plan.target)]["spec"]["maxReplicas"] = 28  # bounded: 28 * 1.5 -> 30, not 42
    assert action.apply(cluster, step, action.snapshot(cluster, step), "s2") == {"replicas": 30}


def test_the_shipped_kubernetes_sample_is_two_incidents_with_the_shipped_catalog() -> None:
    """`medic fire service/samples/kube-crashloop.json` on `medic dev`: no cluster, stock labels."""
    body = AlertmanagerWebhook.model_validate_json(
        (REPO / "service" / "samples" / "kube-crashloop.json").read_text()
    )
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    assignments = assign_alerts(catalog, body, normalise_webhook(body, received_at=NOW))
    assert sorted(a.incident_id for a in assignments) == ["incident-checkout", "incident-payments"]
    assert all(
        a.alerts[0].labels["service"] == "kube-prometheus-stack-kube-state-metrics" for a in assignments
    )


def test_an_incident_scores_a_sloth_page_alerts_burn_with_its_window() -> None:
    from medic.incident import AlertBatch, IncidentState  # noqa: PLC0415

    (entry,) = [e for e in SLO["alerts"] if e["id"] == "Sloth/myservice/page"]
    catalog = fixture_catalog()
    body = payload([entry])
    (assignment,) = assign_alerts(catalog, body, normalise_webhook(body, received_at=NOW))
    state = IncidentState(id=assignment.incident_id, opened_at=NOW)
    state.apply_alerts(assignment.alert_batch(NOW), at=NOW)
    assert isinstance(assignment.alert_batch(NOW), AlertBatch)
    assert state.impact_detail is not None
    (factor,) = [f for f in state.impact_detail.factors if f.name == "slo_burn"]
    assert factor.value == 1.0  # 14.4x against a page burn rate of 14.4x
    assert (
        "14.4x" in factor.detail
        and "SLO requests-availability" in factor.detail
        and "over 5m" in factor.detail
    )


def test_the_fire_sample_acts_on_the_deployment_of_each_of_its_pods() -> None:
    """The sample's second pod, checkout-7d9f8b6c5-q8w1z, has a '1', which Kubernetes' pod suffixes
    never have (SafeEncodeString: "bcdfghjklmnpqrstvwxz2456789"): `medic explain` on it acted on the Pod,
    not the Deployment, and still said `decided: namespace, pod`."""
    from service.explain import explain_payload  # noqa: PLC0415

    sample = REPO / "service" / "samples" / "alertmanager.json"
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    (incident,) = explain_payload(sample, catalog=catalog, runbooks=[])
    assert incident["incident"] == "incident-checkout" and len(incident["alerts"]) == 2
    for alert in incident["alerts"]:
        assert alert["target"] == "Deployment shop/checkout", alert
        assert alert["decided_by"] == ["namespace", "pod"]


def test_explain_names_the_labels_that_decided_the_service() -> None:
    """A pod name no Deployment's pods can have decides nothing: the `service` label does, and
    `decided_by` said `namespace, pod` all the same (the subject's labels, not the service's)."""
    from service.explain import explain_webhook  # noqa: PLC0415

    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    labels = {"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}
    entries = [
        {"labels": {**labels, "pod": "checkout-7d9f8b6c5-q8w1z"}, "annotations": {}},
        {"labels": {**labels, "pod": "checkout-7d9f8b6c5-q8w4z"}, "annotations": {}},
    ]
    (incident,) = explain_webhook(payload(entries), catalog=catalog, runbooks=[])
    odd, valid = incident["alerts"]
    assert odd["target"] == "Pod shop/checkout-7d9f8b6c5-q8w1z" and odd["decided_by"] == ["service"]
    assert valid["target"] == "Deployment shop/checkout" and valid["decided_by"] == ["namespace", "pod"]


def test_a_statefulsets_hpa_goes_to_its_service_without_a_cluster() -> None:
    """KubeHpaMaxedOut of the HPA `cache`, with no cluster to ask: the HPA was taken to scale Deployment
    shop/cache only, so the catalog's StatefulSet shop/cache (service cache) was never tried, and the alert
    opened an incident of its own outside the catalog (P5, nobody's team), bound to a Deployment that does
    not exist (a runbook author's walk-through, 2026-12-07)."""
    catalog = load_catalog((REPO / "catalog.yaml").read_text())
    assert catalog.service_of_workload("StatefulSet", "shop", "cache") == "cache"
    labels = {
        "alertname": "KubeHpaMaxedOut",
        "namespace": "shop",
        "horizontalpodautoscaler": "cache",
        "job": "kube-state-metrics",
        "severity": "warning",
    }
    decision = decide(catalog, labels)
    assert (decision.service, decision.in_catalog) == ("cache", True)
    assert str(decision.subject.target) == "StatefulSet shop/cache"  # ${target.kind} binds StatefulSet
    # a Deployment's HPA, as before
    checkout = decide(catalog, labels | {"horizontalpodautoscaler": "checkout"})
    assert checkout.service == "checkout" and str(checkout.subject.target) == "Deployment shop/checkout"
