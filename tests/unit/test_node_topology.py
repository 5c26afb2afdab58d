"""Issue 14: a node's incident knows the services whose pods run on it (from the cluster lookup at
assignment), both sides of the join agree that the node absorbs them, and the node ranks first as
the cause of their symptoms."""

from datetime import UTC, datetime, timedelta
from typing import Any

from medic.alerts import Alert, AlertStatus, normalise_webhook
from medic.assign import assign_alerts
from medic.catalog import Catalog, load_catalog
from medic.correlation import ServiceObservation, join_decision, rank_root_causes
from medic.incident import AlertBatch, IncidentState
from medic.topology import (
    ServiceContext,
    absorbed_by,
    context_for,
    hosted_on,
    with_hosted,
    with_nodes,
    with_reach,
)
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_subject import K8S_ALERTS, FakeCluster

NODE = "node/ip-10-0-1-12.eu-west-1.compute.internal"
T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def _entry(entry_id: str) -> dict[str, Any]:
    (entry,) = [e for e in K8S_ALERTS if e["id"] == entry_id]
    assert isinstance(entry, dict)
    return entry


def test_a_node_incident_carries_the_catalog_services_on_the_node() -> None:
    entries = [
        _entry("KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal"),
        _entry("KubePodCrashLooping/shop/checkout"),
    ]
    body = payload(entries)
    by_service = {
        a.service.name: a
        for a in assign_alerts(
            fixture_catalog(), body, normalise_webhook(body, received_at=T0), FakeCluster()
        )
        if a.service is not None
    }
    node = by_service[NODE].service
    assert node is not None and not node.in_catalog
    assert "checkout" in node.hosts and "orders-db" in node.hosts
    # The service's own context is the catalog's: it learns of the node from the node's hello.
    checkout = by_service["checkout"].service
    assert checkout is not None and checkout.hosts == []
    assert by_service[NODE].alert_batch(T0).contexts == [node]


def test_without_a_cluster_a_node_hosts_nothing() -> None:
    body = payload([_entry("KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal")])
    (assignment,) = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=T0))
    assert assignment.service is not None and assignment.service.hosts == []


def test_with_hosted_is_a_sorted_union_without_the_node_itself() -> None:
    node = ServiceContext(name=NODE, in_catalog=False)
    once = with_hosted(node, ["orders-db", "checkout", NODE])
    assert once.hosts == ["checkout", "orders-db"]
    assert with_hosted(once, ["checkout"]) is once
    assert with_hosted(once, ["cart"]).hosts == ["cart", "checkout", "orders-db"]
    assert hosted_on("checkout", once.hosts) and not hosted_on("search", once.hosts)


def test_both_sides_agree_the_node_absorbs_its_workloads() -> None:
    catalog = fixture_catalog()
    node = with_hosted(ServiceContext(name=NODE, in_catalog=False), ["checkout"])
    checkout = context_for(catalog, "checkout")
    # The service side, told by the node's hello which services it hosts: it joins the node.
    assert (
        join_decision(
            mine=checkout,
            other=NODE,
            my_active_since=T0,
            their_active_since=T0 + timedelta(minutes=2),
            window=WINDOW,
            their_hosts=node.hosts,
        )
        == "join"
    )
    # Too far apart, or not hosted: nothing.
    for since, hosts in ((T0 + WINDOW * 2, node.hosts), (T0, ["cart"])):
        assert (
            join_decision(
                mine=checkout,
                other=NODE,
                my_active_since=T0,
                their_active_since=since,
                window=WINDOW,
                their_hosts=hosts,
            )
            is None
        )
    # A hello without hosts (every history before the patch) decides as before.
    assert (
        join_decision(mine=checkout, other=NODE, my_active_since=T0, their_active_since=T0, window=WINDOW)
        is None
    )


def test_the_node_ranks_first_as_the_cause_of_its_pods_symptoms() -> None:
    catalog = fixture_catalog()
    node = with_hosted(ServiceContext(name=NODE, in_catalog=False), ["checkout"])
    observed = {
        # The crash loop was seen first and is more severe: the node still ranks first.
        "checkout": ServiceObservation(
            context=context_for(catalog, "checkout"), first_seen=T0, severity="critical"
        ),
        NODE: ServiceObservation(context=node, first_seen=T0 + timedelta(minutes=1), severity="warning"),
    }
    first, second = rank_root_causes(observed)
    assert (first.service, second.service) == (NODE, "checkout")
    assert "1 failing service(s) depend on it: checkout" in first.reasons
    assert f"its failing dependencies: {NODE}" in second.reasons


def test_a_service_incident_carries_the_nodes_its_pods_run_on() -> None:
    """From the workload the alert resolved to, or, for a service named by a label, from the workloads
    the catalog lists for it; without a cluster, none."""
    crash = _entry("KubePodCrashLooping/shop/checkout")
    by_label = {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}
    labelled = {**crash, "labels": by_label}
    for entry in (crash, labelled):
        body = payload([entry])
        (assignment,) = assign_alerts(
            fixture_catalog(), body, normalise_webhook(body, received_at=T0), FakeCluster()
        )
        assert assignment.service is not None and assignment.service.nodes == [NODE], entry["labels"]
        (bare,) = assign_alerts(fixture_catalog(), body, normalise_webhook(body, received_at=T0))
        assert bare.service is not None and bare.service.nodes == []


def test_both_sides_agree_a_node_absorbs_a_service_that_starts_after_it() -> None:
    """The node's lookup did not list the service (its pod came later); the service's context names the
    node. The node, told by the service's hello, absorbs it; the service, told by the node's hello,
    joins it. Other nodes, or too far apart: nothing."""
    catalog = fixture_catalog()
    node = ServiceContext(name=NODE, in_catalog=False)
    checkout = with_nodes(context_for(catalog, "checkout"), [NODE])
    later = T0 + timedelta(minutes=3)
    decide = join_decision
    assert (
        decide(
            mine=node,
            other="checkout",
            my_active_since=T0,
            their_active_since=later,
            window=WINDOW,
            their_nodes=checkout.nodes,
        )
        == "absorb"
    )
    assert (
        decide(mine=checkout, other=NODE, my_active_since=later, their_active_since=T0, window=WINDOW)
        == "join"
    )
    assert absorbed_by(checkout, NODE) and not absorbed_by(checkout, "node/elsewhere")
    assert (
        decide(
            mine=node,
            other="checkout",
            my_active_since=T0,
            their_active_since=later,
            window=WINDOW,
            their_nodes=["node/elsewhere"],
        )
        is None
    )
    assert (
        decide(
            mine=node,
            other="checkout",
            my_active_since=T0,
            their_active_since=T0 + WINDOW * 2,
            window=WINDOW,
            their_nodes=checkout.nodes,
        )
        is None
    )
    # And the node ranks first as the cause, known from the service's side alone.
    observed = {
        "checkout": ServiceObservation(context=checkout, first_seen=T0, severity="critical"),
        NODE: ServiceObservation(context=node, first_seen=later, severity="warning"),
    }
    assert [c.service for c in rank_root_causes(observed)] == [NODE, "checkout"]


def test_a_node_takes_down_what_its_services_take_down_so_joining_it_lowers_no_score() -> None:
    """A walk-through of a NotReady node (kube-prometheus-stack alerts, 2026-12): a node is in no catalog,
    so its blast radius was 0 ("0 of 18 services depend on node/..."), and the incident of a service on
    it with dependents scored lower once it joined the node's incident (a cache's P1 became P2, its
    critical escalation stopped). The node's reach is the services on it and all their dependents."""
    ids = (
        "KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal",
        "KubePersistentVolumeFillingUp/shop/data-orders-db-0",
    )
    catalog = fixture_catalog()
    body = payload([_entry(i) for i in ids])
    states: dict[str, IncidentState] = {}
    contexts: dict[str, ServiceContext] = {}
    for a in assign_alerts(catalog, body, normalise_webhook(body, received_at=T0), FakeCluster()):
        assert a.service is not None
        state = IncidentState(id=a.incident_id, opened_at=T0, current_reads=True)
        state.contexts[a.service.name] = contexts[a.service.name] = a.service
        state.apply_alerts(a.alert_batch(T0), at=T0)
        states[a.service.name] = state
    node = contexts[NODE]
    assert node.hosts == ["checkout", "orders-db"]
    reach = {"checkout", "orders-db", *catalog.downstream("checkout"), *catalog.downstream("orders-db")}
    assert node.blast_radius == len(reach) > 2
    assert node.system_size == catalog.system_sizes["orders-db"] + 1  # the node counted in
    alone = states["orders-db"].impact
    merged = states[NODE]
    merged.absorb(states["orders-db"], at=T0)
    assert merged.root_causes[0].service == NODE
    assert merged.impact >= alone, (merged.impact, alone)
    assert merged.impact_detail is not None
    (blast,) = [f for f in merged.impact_detail.factors if f.name == "blast_radius"]
    assert blast.detail == f"{len(reach)} of {catalog.system_sizes['orders-db']} services depend on {NODE}"


def test_a_node_hosting_no_catalog_service_reaches_nothing() -> None:
    catalog = fixture_catalog()
    node = with_hosted(ServiceContext(name=NODE, in_catalog=False), ["fluent-bit"])
    assert with_reach(node, catalog) is node and node.blast_radius == 0
    service = context_for(catalog, "checkout")
    assert with_reach(service, catalog) is service  # a catalog service's reach is the catalog's own


def _two_products() -> Catalog:
    """A cache with 7 services depending on it, and an independent product of 12 services (a chain of
    calls): one catalog, two systems."""
    web = "\n".join(f"  - {{name: web{i}, team: shop, tier: 2, calls: [cache]}}" for i in range(7))
    reports = "\n".join(f"  - {{name: rep{i}, team: data, tier: 3, calls: [rep{i + 1}]}}" for i in range(11))
    return load_catalog(
        "services:\n  - {name: cache, team: platform, tier: 1, business: {criticality: critical}}\n"
        f"{web}\n{reports}\n  - {{name: rep11, team: data, tier: 3}}\n",
        source="catalog.yaml",
    )


def _incident(ctx: ServiceContext, alertname: str, severity: str) -> IncidentState:
    alert = Alert(
        fingerprint=f"fp-{ctx.name}",
        status=AlertStatus.FIRING,
        labels={"alertname": alertname, "severity": severity},
        starts_at=T0,
        service=ctx.name,
    )
    state = IncidentState(id=f"incident-{ctx.name}", opened_at=T0, current_reads=True)
    state.apply_alerts(AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx]), at=T0)
    return state


def test_a_node_running_services_of_two_products_is_scored_on_the_one_it_hits_hardest() -> None:
    """A node runs pods of many teams. Counted over every system of the services on it (the cache's 8 and
    the reports product's 12: "9 of 20 services depend on node/..."), the blast radius of a node running
    the cache and one leaf of the other product was diluted, and the cache's P1 incident fell to P2 when
    it joined its node's incident (its critical escalation ended mid-outage): what this release meant to
    stop. Independent products do not dilute each other's blast radius, for a node as for a service."""
    catalog = _two_products()
    cache = _incident(context_for(catalog, "cache"), "RedisDown", "critical")
    assert cache.priority == "P1"
    for hosts in (["cache"], ["cache", "rep0"], ["cache", "rep0", "rep5"]):
        node = with_reach(with_hosted(ServiceContext(name=NODE, in_catalog=False), hosts), catalog)
        assert (node.blast_radius, node.system_size) == (8, 9), hosts  # the cache's system, the node in it
        merged = _incident(node, "KubeNodeNotReady", "warning")
        merged.absorb(cache.model_copy(deep=True), at=T0)
        assert merged.root_causes[0].service == NODE
        assert merged.priority == "P1" and merged.impact >= cache.impact, (hosts, merged.impact, cache.impact)
    # a node hitting the other product harder is scored on that one
    node = with_reach(with_hosted(ServiceContext(name=NODE, in_catalog=False), ["web0", "rep11"]), catalog)
    assert (node.blast_radius, node.system_size) == (12, 13)
