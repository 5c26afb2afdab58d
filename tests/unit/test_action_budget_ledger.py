"""The hourly action budget's ledger (remediations/budget.py), pure: holds, renewals, releases, the hour."""

from datetime import UTC, datetime, timedelta

from medic.clusters import ClusterScope
from remediations.budget import BudgetLedger, BudgetRequest, budget_key, budget_scope, budget_workflow_id
from service.config_files import load_runbooks
from service.explain import explain_webhook, render
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_clusters import CRASHLOOP, REPO

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ask(holder: str, limit: int = 1) -> BudgetRequest:
    return BudgetRequest(key="service:checkout", holder=holder, label=f"fix {holder}", limit=limit)


def test_the_limit_holds_and_the_refusal_names_the_holders() -> None:
    ledger = BudgetLedger()
    assert ledger.reserve(ask("a", 2), T0).granted
    assert ledger.reserve(ask("b", 2), T0 + timedelta(seconds=1)).granted
    refused = ledger.reserve(ask("c", 2), T0 + timedelta(seconds=2))
    assert not refused.granted
    assert (refused.count, refused.holders) == (2, ["fix b", "fix a"])
    assert [h.holder for h in ledger.holds] == ["a", "b"]


def test_asking_again_renews_and_never_counts_twice() -> None:
    ledger = BudgetLedger()
    assert ledger.reserve(ask("a"), T0).granted
    again = ledger.reserve(ask("a"), T0 + timedelta(minutes=10))  # a retry, or the check before acting
    assert again.granted and again.count == 0
    assert [(h.holder, h.at) for h in ledger.holds] == [("a", T0 + timedelta(minutes=10))]


def test_a_release_frees_the_budget_at_once_and_twice_is_harmless() -> None:
    ledger = BudgetLedger()
    ledger.reserve(ask("a"), T0)
    assert ledger.release("a") and not ledger.release("a")
    assert ledger.reserve(ask("b"), T0).granted


def test_a_hold_counts_for_an_hour_from_its_last_renewal() -> None:
    ledger = BudgetLedger()
    ledger.reserve(ask("a"), T0)
    assert not ledger.reserve(ask("b"), T0 + timedelta(minutes=59)).granted
    assert ledger.expires_in(T0 + timedelta(minutes=59)) == timedelta(minutes=1)
    assert ledger.reserve(ask("b"), T0 + timedelta(hours=1)).granted
    assert [h.holder for h in ledger.holds] == ["b"]


def test_a_limit_of_zero_grants_nothing() -> None:
    assert not BudgetLedger().reserve(ask("a", 0), T0).granted


def test_targets_without_a_service_count_against_their_namespace() -> None:
    assert budget_key("checkout", "shop") == "service:checkout"
    assert budget_key(None, "shop") == "namespace:shop"
    assert budget_scope("service:checkout") == "on this service"
    assert budget_scope("namespace:shop") == "in namespace shop (no service)"
    assert budget_workflow_id("service:checkout") != budget_workflow_id("service:Checkout")
    assert len(budget_workflow_id("service:" + "x" * 500)) < 120


def test_medic_explain_says_which_hourly_budget_a_plan_counts_against() -> None:
    runbooks, catalog = load_runbooks(REPO / "runbooks"), fixture_catalog()
    found = explain_webhook(payload([CRASHLOOP]), catalog=catalog, runbooks=runbooks)
    plans = [p for incident in found for alert in incident["alerts"] for p in alert["runbooks"]]
    assert plans and all(p["budget"] == "service:checkout" for p in plans), plans
    assert "hourly action budget of service checkout" in render(found)


def test_medic_explain_names_the_clusters_budget_as_the_worker_counts_it() -> None:
    """With incidents per cluster and MEDIC_CLUSTER, the worker reserves `service:checkout@prod-eu`, and
    `medic explain` said `service:checkout` (a review, 2026-12-07)."""
    runbooks, catalog = load_runbooks(REPO / "runbooks"), fixture_catalog()
    crash = {**CRASHLOOP, "labels": {**CRASHLOOP["labels"], "cluster": "prod-eu"}}
    scope = ClusterScope("prod-eu", own_locks=True)
    found = explain_webhook(payload([crash]), catalog=catalog, runbooks=runbooks, scope=scope)
    plans = [p for incident in found for alert in incident["alerts"] for p in alert["runbooks"]]
    assert plans and all(p["budget"] == "service:checkout@prod-eu" for p in plans), plans
    assert "hourly action budget of service checkout in cluster prod-eu:" in render(found)
