"""One Alertmanager, many clusters: a runbook matched by an alert from another cluster does not act on
this one's namesake workload, and the cluster lookup is not asked about another cluster's pods and nodes.

The alerts are the kubernetes-mixin's (tests/fixtures/alerts) as a multi-cluster setup labels them: the
mixin aggregates ``by (cluster, ...)`` (its ``clusterLabel``), and Prometheus' ``external_labels`` or
Mimir's ruler add the label, so each alert carries ``cluster``."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from activities.remediate import MatchRequest, RemediationActivities
from medic.alerts import Alert
from medic.assign import decide
from medic.clusters import ClusterScope, ScopedLookup
from medic.subject import ObjectKey
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.plan import RemediationPlan
from service.config_files import load_runbooks
from service.settings import Settings
from tests.unit.test_assign_kubernetes import fixture_catalog
from tests.unit.test_runbooks import crashloop_alert
from tests.unit.test_subject import K8S_ALERTS

REPO = Path(__file__).resolve().parents[2]
(CRASHLOOP,) = [e for e in K8S_ALERTS if e["id"] == "KubePodCrashLooping/shop/checkout"]


def crashloop(**extra: str) -> Alert:
    """The kubernetes-mixin's KubePodCrashLooping for shop/checkout, with ``extra`` labels."""
    return crashloop_alert().model_copy(update={"labels": {**CRASHLOOP["labels"], **extra}})


def matched(scope: ClusterScope, alert: Alert) -> tuple[list[str], list[str]]:
    plans, problems = planned(scope, alert)
    return [p.runbook.name for p in plans], problems


def planned(scope: ClusterScope, alert: Alert) -> tuple[list[RemediationPlan], list[str]]:
    activities = RemediationActivities(
        cluster=None,
        metrics=None,
        runbooks=lambda: load_runbooks(REPO / "runbooks"),
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=GuardrailSettings,
        scope=scope,
    )
    result = activities.match(
        MatchRequest(incident_id="incident-checkout", service="checkout", alerts=[alert])
    )
    return result.plans, result.problems


@pytest.mark.parametrize(
    ("name", "labels", "here"),
    [
        ("prod-eu", {"cluster": "prod-eu"}, True),
        ("prod-eu", {"cluster": "prod-us"}, False),
        ("prod-eu", {}, False),  # a rule that aggregated the label away: not known to be this cluster
        ("", {}, True),  # one cluster whose alerts name none: as before
        ("", {"cluster": "prod-us"}, False),  # Medic does not know its own name
    ],
)
def test_an_alert_is_this_clusters_only_when_its_label_says_so(
    name: str, labels: dict[str, str], here: bool
) -> None:
    assert (ClusterScope(name).elsewhere(labels) == "") is here


def test_the_cluster_label_is_configurable() -> None:
    scope = ClusterScope("eu-1", label="k8s_cluster")
    assert scope.elsewhere({"k8s_cluster": "eu-1", "cluster": "other"}) == ""
    assert "'us-1'" in scope.elsewhere({"k8s_cluster": "us-1"})


def test_another_clusters_alert_matches_runbooks_but_plans_nothing_and_says_why() -> None:
    plans, problems = matched(ClusterScope("prod-eu"), crashloop(cluster="prod-us"))
    assert plans == []
    assert problems and all(
        "is from cluster 'prod-us' and Medic acts on cluster 'prod-eu' (MEDIC_CLUSTER)" in p for p in problems
    )
    assert problems[0].startswith("runbook crashloop-")  # which runbook matched, and which alert


def test_this_clusters_alert_plans_as_before() -> None:
    here, problems = matched(ClusterScope("prod-eu"), crashloop(cluster="prod-eu"))
    unlabelled, before = matched(ClusterScope(), crashloop())
    assert here and here == unlabelled and problems == before  # (no cluster here: rollouts not known)
    assert not any("MEDIC_CLUSTER" in p for p in problems)


def test_unset_medic_cluster_with_labelled_alerts_says_what_to_set() -> None:
    plans, problems = matched(ClusterScope(), crashloop(cluster="prod-eu"))
    assert plans == []
    assert "set MEDIC_CLUSTER to that cluster's name" in problems[0]


class Recording:
    """A cluster lookup that says who owns what, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def owner(self, obj: ObjectKey) -> ObjectKey | None:
        self.asked.append(obj)
        return (
            ObjectKey(kind="StatefulSet", namespace="shop", name="orders-db") if obj.kind == "Pod" else None
        )

    def node_for_address(self, address: str) -> str | None:
        self.asked.append(address)
        return None

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        self.asked.append(node)
        return []

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        self.asked.append(workload)
        return ["node-a"]


def test_another_clusters_alert_is_not_looked_up_in_this_one() -> None:
    """This cluster's orders-db StatefulSet owns a pod of that name here; the other cluster's pod of the
    same name is not this one, and this cluster's nodes are not its nodes."""
    inner = Recording()
    lookup = ScopedLookup(inner, ClusterScope("prod-eu"))
    catalog = fixture_catalog()
    there = decide(catalog, {**CRASHLOOP["labels"], "cluster": "prod-us"}, lookup)
    assert inner.asked == []
    assert there.service == "checkout" and there.nodes == []  # the naming patterns decide
    here = decide(catalog, {**CRASHLOOP["labels"], "cluster": "prod-eu"}, lookup)
    assert inner.asked and here.service == "orders-db" and here.nodes == ["node/node-a"]


def test_settings_name_the_cluster_and_refuse_a_label_prometheus_would_not_take() -> None:
    settings = Settings(_env_file=None, cluster="prod-eu")
    assert settings.cluster_scope == ClusterScope("prod-eu", "cluster")
    with pytest.raises(ValidationError, match="cluster_label"):
        Settings(_env_file=None, cluster_label="k8s-cluster")


def test_medic_doctor_says_which_clusters_the_alerts_come_from() -> None:
    from service.doctor import clusters_said  # noqa: PLC0415

    def said(cluster: str, firing: list[dict[str, str]]) -> list[str]:
        settings = Settings(_env_file=None, cluster=cluster, incidents_per_cluster=True)
        return [str(f) for f in clusters_said(settings, "AM", firing)]

    eu, us = {"alertname": "A", "cluster": "prod-eu"}, {"alertname": "B", "cluster": "prod-us"}
    assert said("", [{"alertname": "A"}]) == []  # one cluster, nothing named: nothing to say
    (unset,) = said("", [eu, us])
    assert unset.startswith("warn  AM clusters: alerts come from cluster(s) prod-eu, prod-us")
    assert "MEDIC_CLUSTER is not set" in unset
    assert said("prod-eu", [eu, us]) == [
        "ok    AM clusters: alerts come from prod-eu, prod-us; "
        "runbooks act on those from 'prod-eu' only (MEDIC_CLUSTER)"
    ]
    (typo,) = said("prod-e", [eu, us])
    assert typo.startswith("warn  AM clusters: MEDIC_CLUSTER 'prod-e' is none of the clusters")
    (unnamed,) = said("prod-eu", [{"alertname": "A"}])
    assert unnamed.startswith("warn  AM clusters: MEDIC_CLUSTER is 'prod-eu': none of the 1 alerts firing")


def test_medic_doctor_says_several_clusters_share_each_services_incident() -> None:
    """A central Medic's walk-through (2026-12-07): alerts of prod-eu, prod-us and staging, one incident per
    service; staging's payments absorbed prod's checkout. Doctor says so while MEDIC_INCIDENTS_PER_CLUSTER
    is off, and nothing more once it is on or the alerts name one cluster."""
    from service.doctor import clusters_said  # noqa: PLC0415

    firing = [{"alertname": "A", "cluster": c} for c in ("prod-eu", "prod-us", "staging")]
    found = [str(f) for f in clusters_said(Settings(_env_file=None, cluster="prod-eu"), "AM", firing)]
    assert found[0].startswith("ok    AM clusters: alerts come from prod-eu, prod-us, staging")
    assert found[1].startswith(
        "warn  AM incidents: alerts come from 3 clusters and MEDIC_INCIDENTS_PER_CLUSTER is off"
    )
    on = Settings(_env_file=None, cluster="prod-eu", incidents_per_cluster=True)
    assert [f.level for f in clusters_said(on, "AM", firing)] == ["ok"]
    one = Settings(_env_file=None, cluster="prod-eu")
    assert [f.level for f in clusters_said(one, "AM", firing[:1])] == ["ok"]


def test_medic_explain_says_another_clusters_alert_plans_nothing_here() -> None:
    """`medic explain` and POST /explain match runbooks as the worker does (found by a review: they
    showed a plan the worker would skip)."""
    from service.explain import explain_webhook  # noqa: PLC0415
    from tests.unit.test_assign_kubernetes import payload  # noqa: PLC0415

    entry = {**CRASHLOOP, "labels": {**CRASHLOOP["labels"], "cluster": "prod-us"}}
    runbooks, catalog = load_runbooks(REPO / "runbooks"), fixture_catalog()
    for scope, acts in ((ClusterScope("prod-us"), True), (ClusterScope("prod-eu"), False)):
        (found,) = explain_webhook(payload([entry]), catalog=catalog, runbooks=runbooks, scope=scope)
        plans = [p for alert in found["alerts"] for p in alert["runbooks"]]
        assert plans and all(("problem" not in p) is acts for p in plans), plans


def test_a_worker_naming_its_cluster_keeps_its_lock_ids_until_incidents_are_per_cluster() -> None:
    """A Medic per cluster in its own namespace sets MEDIC_CLUSTER and not MEDIC_INCIDENTS_PER_CLUSTER: an
    upgrade must not give its plans new lock ids (a remediation the old worker started on shop/checkout
    and one the new worker plans would both run on it). The cluster's own locks come with the setting
    that makes its incidents the cluster's (Medics of several clusters in one Temporal namespace)."""
    alone, _ = planned(ClusterScope("prod-eu"), crashloop(cluster="prod-eu"))
    before, _ = planned(ClusterScope(), crashloop())
    shared, _ = planned(ClusterScope("prod-eu", own_locks=True), crashloop(cluster="prod-eu"))
    assert alone and [p.workflow_id for p in alone] == [p.workflow_id for p in before]
    assert all(p.cluster == "" for p in alone) and all(p.cluster == "prod-eu" for p in shared)
    assert all(p.workflow_id.startswith("remediate-prod-eu-") for p in shared)
