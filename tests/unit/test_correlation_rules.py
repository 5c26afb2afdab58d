"""Correlation rules and impact factors, with invariants checked over random topologies."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from medic.alerts import Alert, AlertStatus
from medic.catalog import Catalog, Service, load_catalog
from medic.correlation import FLAP_EPISODES, ServiceObservation, join_decision, rank_root_causes
from medic.impact import WEIGHTS, priority_for_score, score_impact
from medic.incident import AlertBatch, IncidentState
from medic.topology import ServiceContext, absorbed_by, absorbs, context_for
from tests.support.shop import ctx

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def observed(**first_seen_minutes: int) -> dict[str, ServiceObservation]:
    return {
        name: ServiceObservation(context=ctx(name), first_seen=T0 + timedelta(minutes=m), severity="critical")
        for name, m in first_seen_minutes.items()
    }


def test_root_cause_is_the_failing_dependency_even_when_seen_last() -> None:
    ranked = rank_root_causes(observed(frontend=0, checkout=1, **{"orders-db": 2}))
    assert [c.service for c in ranked] == ["orders-db", "checkout", "frontend"]
    assert ranked[0].reasons[0] == "2 failing service(s) depend on it: checkout, frontend"


def test_first_seen_breaks_ties_between_unrelated_services() -> None:
    ranked = rank_root_causes(observed(search=3, frontend=1))
    assert [c.service for c in ranked] == ["frontend", "search"]


def test_absorbs_goes_upstream() -> None:
    assert absorbs(ctx("orders-db"), "checkout")
    assert absorbs(ctx("orders-db"), "frontend")  # two hops
    assert not absorbs(ctx("checkout"), "orders-db")
    assert not absorbs(ctx("search"), "checkout")
    assert not absorbs(ctx("checkout"), "checkout")


def test_join_decision_respects_the_window_and_the_direction() -> None:
    window = timedelta(minutes=15)
    db, checkout = ctx("orders-db"), ctx("checkout")

    def decide(mine: ServiceContext, other: str, mine_since: datetime | None, minutes: int) -> str | None:
        return join_decision(
            mine=mine,
            other=other,
            my_active_since=mine_since,
            their_active_since=T0 + timedelta(minutes=minutes),
            window=window,
        )

    assert decide(db, "checkout", T0, 14) == "absorb"
    assert decide(db, "checkout", T0, 16) is None
    assert decide(db, "checkout", None, 0) is None
    assert decide(checkout, "orders-db", T0, 14) == "join"
    assert decide(db, "search", T0, 0) is None


def test_flapping_alert_is_suppressed_with_a_timeline_entry() -> None:
    state = IncidentState(id="incident-checkout", opened_at=T0)
    for i in range(FLAP_EPISODES + 2):
        start = T0 + timedelta(minutes=2 * i)
        for status in (AlertStatus.FIRING, AlertStatus.RESOLVED):
            alert = Alert(
                fingerprint="f",
                status=status,
                labels={"alertname": "Flappy", "service": "checkout"},
                starts_at=start,
                service="checkout",
            )
            state.apply_alerts(AlertBatch(alerts=[alert], received_at=start), at=start)
    kinds = [e.kind for e in state.timeline]
    assert kinds.count("alert.flapping") == 1
    # Before it was flagged every change is on the timeline; after, none.
    assert kinds.count("alert.firing") == FLAP_EPISODES - 1
    assert state.alerts["f"].flapping


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False))
def test_flapping_is_detected_whatever_the_delivery_order(rnd: random.Random) -> None:
    deliveries = [
        (T0 + timedelta(minutes=2 * i), status)
        for i in range(4)
        for status in (AlertStatus.FIRING, AlertStatus.RESOLVED)
    ]
    rnd.shuffle(deliveries)
    state = IncidentState(id="incident-x", opened_at=T0)
    for start, status in deliveries:
        alert = Alert(fingerprint="f", status=status, labels={"alertname": "Flappy"}, starts_at=start)
        state.apply_alerts(AlertBatch(alerts=[alert], received_at=T0), at=T0)
    assert state.alerts["f"].flapping
    assert [e.kind for e in state.timeline].count("alert.flapping") == 1
    assert state.alerts["f"].status is AlertStatus.RESOLVED  # the latest episode resolved


def test_impact_factors_add_up_and_explain() -> None:
    impact = score_impact(
        severity="critical",
        services=[ctx("checkout"), ctx("orders-db")],
        root=ctx("orders-db"),
        alert_count=40,
        slo_burn={"checkout": 28.8},
    )
    assert sum(WEIGHTS.values()) == 100
    assert abs(sum(f.points for f in impact.factors) - impact.score) < 0.1
    by_name = {f.name: f for f in impact.factors}
    assert by_name["slo_burn"].value == 1.0 and "28.8x" in by_name["slo_burn"].detail
    assert by_name["tier"].detail == "checkout is tier 1"
    assert by_name["blast_radius"].detail == "3 of 3 services depend on orders-db"
    assert impact.priority == "P1"
    assert impact.explain().startswith("P1 (impact")


def test_unknown_service_scores_low_but_not_zero() -> None:
    stranger = ServiceContext(name="legacy", in_catalog=False)
    impact = score_impact(severity="warning", services=[stranger], root=None, alert_count=1, slo_burn={})
    assert 0 < impact.score < 35
    assert impact.priority in {"P4", "P5"}


@given(st.floats(min_value=0, max_value=100))
def test_priority_is_monotonic(score: float) -> None:
    order = ["P5", "P4", "P3", "P2", "P1"]
    assert order.index(priority_for_score(min(score + 10, 100))) >= order.index(priority_for_score(score))


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    names = [f"s{i}" for i in range(draw(st.integers(min_value=2, max_value=8)))]
    services = []
    for name in names:
        calls = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        services.append(Service(name=name, team="t", calls=[c for c in calls if c != name]))
    return Catalog(services=services)


@settings(max_examples=200, deadline=None)
@given(catalogs(), st.data())
def test_absorption_is_antisymmetric_and_agreed_by_both_sides(catalog: Catalog, data: st.DataObject) -> None:
    """Whoever speaks first, both incidents of a pair reach the same verdict, and never both ways."""
    a, b = (
        data.draw(st.sampled_from(catalog.services)).name,
        data.draw(st.sampled_from(catalog.services)).name,
    )
    ca, cb = context_for(catalog, a), context_for(catalog, b)
    assert not (absorbs(ca, b) and absorbs(cb, a))
    # b's own view of "a absorbs me" (the workflow's) equals a's view.
    assert absorbed_by(cb, a) == absorbs(ca, b)


@settings(max_examples=200, deadline=None)
@given(catalogs())
def test_dependency_order_puts_dependencies_first(catalog: Catalog) -> None:
    ranks = catalog.ranks
    assert sorted(ranks.values()) == list(range(len(catalog.services)))
    for service in catalog.services:
        for callee in service.calls:
            same_cycle = service.name in catalog.upstream(callee)
            assert same_cycle or ranks[callee] < ranks[service.name], (service.name, callee)


@settings(max_examples=200, deadline=None)
@given(catalogs(), st.data())
def test_merging_always_ends_at_one_root_whatever_the_order(catalog: Catalog, data: st.DataObject) -> None:
    """Follow 'absorbed by' from any failing service, in any order: the walk always ends (no cycle, even in
    a cyclic call graph) at a root no other failing service absorbs."""
    failing = data.draw(
        st.lists(st.sampled_from([s.name for s in catalog.services]), min_size=1, unique=True)
    )
    contexts = {n: context_for(catalog, n) for n in failing}

    def root(name: str, order: list[str]) -> str:
        seen = {name}
        current = name
        while True:
            parents = [p for p in order if absorbs(contexts[p], current)]
            if not parents:
                return current
            current = parents[0]
            if current in seen:
                raise AssertionError(f"absorption cycle through {current}")
            seen.add(current)

    shuffled = data.draw(st.permutations(failing))
    groups = {n: root(n, failing) for n in failing}
    regrouped = {n: root(n, list(shuffled)) for n in failing}
    # The root may differ with the order only when a service has two unrelated failing dependencies (it
    # joins whichever claims it first); a root is never absorbed by anyone, in either order.
    for r in set(groups.values()) | set(regrouped.values()):
        assert not any(absorbs(contexts[p], r) for p in failing)


def _incident(service: str, start_minutes: int, firing: bool) -> IncidentState:
    """An incident whose one alert started ``start_minutes`` after T0, firing or since resolved."""
    state = IncidentState(id=f"incident-{service}", opened_at=T0)
    start = T0 + timedelta(minutes=start_minutes)
    for status in [AlertStatus.FIRING] if firing else [AlertStatus.FIRING, AlertStatus.RESOLVED]:
        alert = Alert(
            fingerprint=f"{service}-1",
            status=status,
            labels={"alertname": "HighErrorRate", "service": service},
            starts_at=start,
            service=service,
        )
        # Delivered hours later than it started: the window is about starts, not arrivals.
        state.apply_alerts(AlertBatch(alerts=[alert], received_at=start), at=start + timedelta(hours=11))
    return state


@settings(max_examples=300, deadline=None)
@given(
    cause_start=st.integers(0, 120),
    symptom_start=st.integers(0, 120),
    cause_firing=st.booleans(),
    symptom_firing=st.booleans(),
    window_minutes=st.integers(0, 60),
)
def test_merges_keep_the_documented_rule(
    cause_start: int, symptom_start: int, cause_firing: bool, symptom_firing: bool, window_minutes: int
) -> None:
    """Both firing and their starts within the correlation window, or no merge; quiet and resolved
    incidents are neither absorbed nor absorb; both sides reach the same decision."""
    window = timedelta(minutes=window_minutes)
    cause = _incident("orders-db", cause_start, cause_firing)
    symptom = _incident("checkout", symptom_start, symptom_firing)
    cause_since, symptom_since = cause.active_since(), symptom.active_since()
    assert (cause_since is None) == (not cause_firing)
    assert (symptom_since is None) == (not symptom_firing)
    allowed = cause_firing and symptom_firing and abs(cause_start - symptom_start) <= window_minutes
    from_cause = (
        None
        if symptom_since is None
        else join_decision(
            mine=ctx("orders-db"),
            other="checkout",
            my_active_since=cause_since,
            their_active_since=symptom_since,
            window=window,
        )
    )
    from_symptom = (
        None
        if cause_since is None
        else join_decision(
            mine=ctx("checkout"),
            other="orders-db",
            my_active_since=symptom_since,
            their_active_since=cause_since,
            window=window,
        )
    )
    assert from_cause == ("absorb" if allowed else None)
    assert from_symptom == ("join" if allowed else None)
    if cause_since is not None and symptom_since is not None:  # unrelated services never merge
        assert (
            join_decision(
                mine=ctx("search"),
                other="orders-db",
                my_active_since=symptom_since,
                their_active_since=cause_since,
                window=window,
            )
            is None
        )


def test_blast_radius_is_a_share_of_its_own_system_not_of_unrelated_ones() -> None:
    """Two independent products in one catalog: a service's blast radius is the share of the services
    connected to it that depend on it, whatever else the catalog holds."""
    one = """
services:
  - {name: web, team: web, tier: 1, calls: [api]}
  - {name: api, team: web, tier: 1, calls: [db]}
  - {name: db, team: data, tier: 1}
"""
    other = "\n".join(f"  - {{name: shop-{n}, team: shop, tier: 3}}" for n in range(30))
    alone, beside = load_catalog(one, source="one.yaml"), load_catalog(one + other + "\n", source="two.yaml")
    assert (beside.system_sizes["db"], beside.system_sizes["shop-0"]) == (3, 1)
    for catalog in (alone, beside):
        db = context_for(catalog, "db")
        found = score_impact(severity="critical", services=[db], root=db, alert_count=1, slo_burn={})
        blast = next(f for f in found.factors if f.name == "blast_radius")
        assert blast.detail == "2 of 2 services depend on db" and blast.points == 15.0
