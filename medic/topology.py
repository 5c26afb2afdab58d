"""What an incident knows about its services: a slice of the catalog, fixed when the incident
starts so the workflow stays deterministic however the catalog file changes later."""

from collections.abc import Collection

from pydantic import BaseModel, Field

from medic.catalog import Business, Catalog, Routing, Slo

__all__ = [
    "NEIGHBOUR_DEPTH",
    "ServiceContext",
    "absorbed_by",
    "absorbs",
    "context_for",
    "hosted_on",
    "in_cluster",
    "with_hosted",
    "with_nodes",
    "with_reach",
]

# How many hops of the call graph correlation looks across. Three covers
# frontend -> gateway -> service -> database, the usual shape of a cascade.
NEIGHBOUR_DEPTH = 3


class ServiceContext(BaseModel):
    name: str
    in_catalog: bool = True
    team: str | None = None
    tier: int | None = None
    business: Business = Field(default_factory=Business)
    slo: Slo = Field(default_factory=Slo)
    routing: Routing = Field(default_factory=Routing)
    upstream: dict[str, int] = Field(
        default_factory=dict, description="dependencies within the depth, with hops"
    )
    downstream: dict[str, int] = Field(
        default_factory=dict, description="dependents within the depth, with hops"
    )
    blast_radius: int = Field(default=0, description="all transitive dependents")
    ranks: dict[str, int] = Field(
        default_factory=dict, description="the catalog's dependency order for itself and its neighbours"
    )
    catalog_size: int = 0
    system_size: int = Field(
        default=0,
        description="catalog services connected to it through calls, itself included (0: not worked out, "
        "a context from before: catalog_size stands in)",
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="a node's: the catalog services whose pods run on it (cluster lookup at assignment)",
    )
    nodes: list[str] = Field(
        default_factory=list,
        description="a service's: the nodes its pods run on, as node incidents name them (node/<name>; "
        "cluster lookup at assignment)",
    )
    cluster: str = Field(
        default="",
        description="the cluster this incident is (MEDIC_INCIDENTS_PER_CLUSTER: the alerts' cluster label); "
        "its neighbours' and nodes' incidents are that cluster's too ('': one incident per service, "
        "whatever the cluster)",
    )

    @property
    def neighbours(self) -> list[str]:
        return sorted(set(self.upstream) | set(self.downstream))


def context_for(catalog: Catalog, name: str) -> ServiceContext:
    """The catalog slice an incident of ``name`` carries; worked out once per catalog service (names
    the catalog does not know cost nothing to describe, and are not kept: label values are unbounded)."""
    if name not in catalog.by_name:
        return ServiceContext(name=name, in_catalog=False, catalog_size=len(catalog.services))
    key = ("context", name)
    held = catalog.derived.get(key)
    if held is None:
        held = catalog.derived[key] = _context(catalog, name)
    assert isinstance(held, ServiceContext)
    return held


def _context(catalog: Catalog, name: str) -> ServiceContext:
    service = catalog.by_name[name]
    upstream = catalog.upstream(name, NEIGHBOUR_DEPTH)
    downstream = catalog.downstream(name, NEIGHBOUR_DEPTH)
    return ServiceContext(
        name=name,
        team=service.team,
        tier=service.tier,
        business=service.business,
        slo=service.slo,
        routing=service.routing,
        upstream=upstream,
        downstream=downstream,
        blast_radius=len(catalog.downstream(name)),
        catalog_size=len(catalog.services),
        system_size=catalog.system_sizes[name],
        ranks={n: catalog.ranks[n] for n in {name, *upstream, *downstream}},
    )


def absorbs(ctx: ServiceContext, other: str) -> bool:
    """Whether an incident on ``ctx.name`` absorbs one on ``other``: it does when ``other``
    depends on it (within the correlation depth) and comes later in the catalog's dependency
    order. The order is total, so both sides of a pair agree and merges never form a cycle,
    even in a cyclic call graph."""
    if other == ctx.name or other not in ctx.downstream:
        return False
    return ctx.ranks.get(ctx.name, 0) < ctx.ranks.get(other, 0)


def absorbed_by(ctx: ServiceContext, other: str) -> bool:
    """The mirror of :func:`absorbs` from the other side: whether ``other``'s incident absorbs ours.
    A node that the service's pods run on absorbs it (a node ranks before everything on it)."""
    if other in ctx.nodes and other != ctx.name:
        return True
    if other == ctx.name or other not in ctx.upstream:
        return False
    return ctx.ranks.get(other, 0) < ctx.ranks.get(ctx.name, 0)


def with_hosted(ctx: ServiceContext, services: list[str]) -> ServiceContext:
    """A node's context naming the catalog services whose pods run on it. They are learnt by the API
    (the cluster lookup) when it assigns the alert and travel in the signal, never looked up by a
    workflow, so the relation is fixed in history like the rest of the context."""
    hosted = sorted({s for s in services if s != ctx.name} | set(ctx.hosts))
    return ctx if hosted == ctx.hosts else ctx.model_copy(update={"hosts": hosted})


def with_reach(ctx: ServiceContext, catalog: Catalog) -> ServiceContext:
    """A node's blast radius: the catalog services whose pods run on it (:func:`with_hosted`) and every
    service that depends on them, as a share of the system it hits hardest, the node counted in. A node
    is in no catalog, so it had none ("0 of 20 services depend on node/..."): a cache's P1 incident (7
    services depend on it) dropped to P2 when it joined the incident of the node it ran on, and its
    critical escalation with it. Worked out by the API with the hosts, and fixed in history like them.

    The share is that of the system it hits hardest, as a service's is of its own system: independent
    products in one catalog do not dilute each other's blast radius. Counted over all the systems of the
    services on it (a node running the cache and a leaf of another product: 9 of 20), the cache's P1
    incident still fell to P2 when it joined its node's."""
    hosted = [h for h in ctx.hosts if h in catalog.by_name]
    if ctx.in_catalog or not hosted:
        return ctx
    reach = set(hosted).union(*(catalog.downstream(h) for h in hosted))
    systems = {catalog.systems[h] for h in hosted}
    # (ties: the larger system, then by name, so the same hosts always give the same context)
    system = max(systems, key=lambda s: (len(reach & s) / len(s), len(s), sorted(s)))
    update = {"blast_radius": len(reach & system), "system_size": len(system) + 1}
    return ctx if all(getattr(ctx, k) == v for k, v in update.items()) else ctx.model_copy(update=update)


def in_cluster(ctx: ServiceContext, cluster: str) -> ServiceContext:
    """The context of ``ctx``'s service as one cluster's incident (MEDIC_INCIDENTS_PER_CLUSTER)."""
    return ctx if cluster == ctx.cluster else ctx.model_copy(update={"cluster": cluster})


def with_nodes(ctx: ServiceContext, nodes: list[str]) -> ServiceContext:
    """A service's context naming the nodes its pods run on (``node/<name>``, as node incidents are
    named). Learnt by the API like :func:`with_hosted` and fixed in history with the context."""
    on = sorted({n for n in nodes if n != ctx.name} | set(ctx.nodes))
    return ctx if on == ctx.nodes else ctx.model_copy(update={"nodes": on})


def hosted_on(service: str, node_hosts: Collection[str]) -> bool:
    """Whether ``service``'s pods run on a node whose context lists ``node_hosts``: then the node's
    incident absorbs the service's, as a dependency absorbs its dependents. The node always ranks first
    (nothing runs beneath it), so the relation is one-way and merges never form a cycle. The node's
    side knows it from its own context; the service's side from the node's hello, which carries it."""
    return service in node_hosts
