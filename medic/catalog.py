"""The service catalog: who owns what, what calls what, and what it is worth.

Loaded from YAML (MEDIC_CATALOG), validated with line-numbered errors before anything runs.
Correlation uses the call graph, impact scoring the tiers and business weights, routing
the targets.
"""

import re
from collections import deque
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medic.yamldoc import ConfigProblem, did_you_mean, field_path, load_checked, locate

__all__ = ["Business", "Catalog", "Criticality", "Routing", "Service", "Slo", "Workload", "load_catalog"]

_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


# A Slack channel as people write it: `#name`, `name` or `@user`. One definition for every file.
SLACK_CHANNEL = r"^[#@]?[a-z0-9._-]{1,80}$"
TEAMS_CHANNEL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
SlackChannel = Annotated[str, Field(pattern=SLACK_CHANNEL, description="a Slack channel")]
TeamsChannel = Annotated[str, Field(pattern=TEAMS_CHANNEL, description="a Teams channel's webhook name")]


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Business(BaseModel):
    """What a minute of this service being down costs."""

    model_config = ConfigDict(extra="forbid")

    revenue_per_minute: float = Field(default=0.0, ge=0, description="revenue at risk per minute of outage")
    users_per_minute: float = Field(default=0.0, ge=0, description="users affected per minute of outage")
    criticality: Criticality = Criticality.MEDIUM


class Slo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    availability: float | None = Field(default=None, gt=0, lt=100, description="target, percent (e.g. 99.9)")
    latency_p99_ms: float | None = Field(default=None, gt=0)
    # The burn rate that means "page now" (Google SRE workbook: 14.4 for a 1h/5m window on a 30-day SLO).
    page_burn_rate: float = Field(default=14.4, gt=0)


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack_channel: SlackChannel | None = None
    pagerduty: str | None = Field(default=None, description="routing-key name, resolved from secrets")
    jira_project: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$")
    teams_channel: TeamsChannel | None = Field(
        default=None, description="a Microsoft Teams channel: the name of its webhook in MEDIC_TEAMS_WEBHOOKS"
    )


WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "CronJob"]


class Workload(BaseModel):
    """Kubernetes workloads of one kind in one namespace that make up a service: listed by name, or
    every workload whose name matches ``name_regex`` (for generated names such as ``web-v2``)."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(pattern=_NAME)
    kind: WorkloadKind = "Deployment"
    names: list[str] = Field(default_factory=list, description="workload names (exact)")
    name_regex: str | None = Field(
        default=None, description="or every workload of this kind whose name matches (whole name)"
    )

    @field_validator("name_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a valid regex: {err}") from err
        return value

    def holds(self, kind: str, namespace: str, name: str) -> bool:
        if kind != self.kind or namespace != self.namespace:
            return False
        return name in self.names or bool(self.name_regex and re.fullmatch(self.name_regex, name))


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    team: str = Field(min_length=1, max_length=80)
    tier: int = Field(default=3, ge=1, le=4, description="1 = most critical")
    description: str = ""
    calls: list[str] = Field(default_factory=list, description="services this one depends on")
    aliases: list[str] = Field(default_factory=list, description="other label values that mean this service")
    business: Business = Field(default_factory=Business)
    slo: Slo = Field(default_factory=Slo)
    routing: Routing = Field(default_factory=Routing)
    workloads: list[Workload] = Field(
        default_factory=list, description="the Kubernetes workloads that make up this service"
    )
    jobs: list[str] = Field(
        default_factory=list, description="Prometheus scrape jobs that are this service itself"
    )
    datasources: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        description="Grafana data source UIDs this service serves (a Mimir's, a Loki's): Grafana's "
        "DatasourceError for a rule on one of them is this service failing, in its incident",
    )


# A Prometheus label name (the data model's: letters, digits, underscores, not beginning with a digit).
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$")]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[Service] = Field(default_factory=list)
    service_labels: list[LabelName] = Field(
        default_factory=list,
        max_length=16,
        description="labels of your own that name the service an alert is about (`team_service`, "
        "`otel_service`), tried in this order before Medic's own: sloth_service, service, service_name, "
        "app_kubernetes_io_name, app, job. A value naming no catalog service or alias decides nothing",
    )

    # ---- lookups -----------------------------------------------------------------------------

    @cached_property
    def by_name(self) -> dict[str, Service]:
        return {s.name: s for s in self.services}

    @cached_property
    def _alias(self) -> dict[str, str]:
        table = {alias: s.name for s in self.services for alias in s.aliases}
        table.update({s.name: s.name for s in self.services})
        return table

    @cached_property
    def _workloads(self) -> tuple[dict[tuple[str, str, str], str], list[tuple[Workload, str]]]:
        named: dict[tuple[str, str, str], str] = {
            (w.kind, w.namespace, n): s.name
            for s in reversed(self.services)
            for w in s.workloads
            for n in w.names
        }
        return named, [(w, s.name) for s in self.services for w in s.workloads if w.name_regex]

    def service_of_workload(self, kind: str, namespace: str, name: str) -> str | None:
        """The service whose ``workloads`` hold this Kubernetes workload (by name, else by regex), or None."""
        named, patterns = self._workloads
        found = named.get((kind, namespace, name))
        if found:
            return found
        return next((service for w, service in patterns if w.holds(kind, namespace, name)), None)

    @cached_property
    def _namespace_owners(self) -> dict[str, set[str]]:
        owners: dict[str, set[str]] = {}
        for s in self.services:
            for w in s.workloads:
                owners.setdefault(w.namespace, set()).add(s.name)
        return owners

    def service_of_namespace(self, namespace: str) -> str | None:
        """The one service whose ``workloads`` the catalog lists in this namespace; None when it lists
        none there, or those of several services (``shop`` in the shipped catalog)."""
        owners = self._namespace_owners.get(namespace, set())
        return next(iter(owners)) if len(owners) == 1 else None

    @cached_property
    def by_datasource(self) -> dict[str, str]:
        return {uid: s.name for s in self.services for uid in s.datasources}

    @cached_property
    def by_job(self) -> dict[str, str]:
        return {job: s.name for s in self.services for job in s.jobs}

    def resolve(self, value: str | None) -> str | None:
        """The catalog name for a label value (a name or an alias), or None."""
        return self._alias.get(value) if value else None

    @cached_property
    def dependents_of(self) -> dict[str, set[str]]:
        reverse: dict[str, set[str]] = {s.name: set() for s in self.services}
        for service in self.services:
            for callee in service.calls:
                reverse.setdefault(callee, set()).add(service.name)
        return reverse

    def _walk(self, start: str, edges: dict[str, set[str]], depth: int | None) -> dict[str, int]:
        seen: dict[str, int] = {}
        queue = deque([(start, 0)])
        while queue:
            node, hops = queue.popleft()
            if depth is not None and hops >= depth:
                continue
            for nxt in sorted(edges.get(node, ())):
                if nxt != start and nxt not in seen:
                    seen[nxt] = hops + 1
                    queue.append((nxt, hops + 1))
        return seen

    @cached_property
    def _calls(self) -> dict[str, set[str]]:
        return {s.name: set(s.calls) for s in self.services}

    @cached_property
    def system_sizes(self) -> dict[str, int]:
        """service -> how many catalog services its system holds: those connected to it through
        ``calls``, in either direction, itself included (a catalog of independent products holds several)."""
        return {name: len(members) for name, members in self.systems.items()}

    @cached_property
    def systems(self) -> dict[str, frozenset[str]]:
        """service -> the catalog services of its system (see :attr:`system_sizes`), itself included."""
        links: dict[str, set[str]] = {s.name: set() for s in self.services}
        for service in self.services:
            for callee in service.calls:
                if callee in links:
                    links[service.name].add(callee)
                    links[callee].add(service.name)
        found: dict[str, frozenset[str]] = {}
        for start in links:
            if start in found:
                continue
            system, stack = {start}, [start]
            while stack:
                for nxt in links[stack.pop()] - system:
                    system.add(nxt)
                    stack.append(nxt)
            found.update(dict.fromkeys(system, frozenset(system)))
        return found

    @cached_property
    def derived(self) -> dict[object, Any]:
        """A memo for values worked out from the catalog (it never changes once loaded), e.g. the
        catalog slices of medic.topology.context_for, asked for on every delivery."""
        return {}

    def upstream(self, name: str, depth: int | None = None) -> dict[str, int]:
        """Services ``name`` depends on, transitively, with their distance in hops."""
        return self._walk(name, self._calls, depth)

    def downstream(self, name: str, depth: int | None = None) -> dict[str, int]:
        """Services that depend on ``name``, transitively (its blast radius), with distances."""
        return self._walk(name, self.dependents_of, depth)

    @cached_property
    def ranks(self) -> dict[str, int]:
        """A total order in which every service comes after the services it depends on; the
        members of a dependency cycle are ordered by name. Correlation merges only from a higher
        rank into a lower one, so merges can never go round in a circle, whatever the graph."""
        calls = {s.name: [c for c in s.calls if c in self.by_name] for s in self.services}
        order: list[list[str]] = []  # strongly connected components, dependencies first
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        counter = 0
        for start in sorted(calls):
            if start in index:
                continue
            work = [(start, 0)]
            while work:
                node, child = work.pop()
                if child == 0:
                    index[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack.add(node)
                edges = sorted(calls[node])
                if child < len(edges):
                    work.append((node, child + 1))
                    nxt = edges[child]
                    if nxt not in index:
                        work.append((nxt, 0))
                    elif nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                    continue
                for callee in edges:
                    if callee in on_stack and index[callee] > index[node]:
                        low[node] = min(low[node], low[callee])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    order.append(sorted(component))
        return {name: rank for rank, name in enumerate(n for component in order for n in component)}

    # ---- validation beyond the schema ---------------------------------------------------------

    def problems(self, root: yaml.Node | None, source: str) -> list[ConfigProblem]:
        out: list[ConfigProblem] = []
        seen: dict[str, int] = {}
        for i, service in enumerate(self.services):
            for label, names in (("name", [service.name]), ("aliases", service.aliases)):
                for j, name in enumerate(names):
                    loc: tuple[int | str, ...] = ("services", i, label) + ((j,) if label == "aliases" else ())
                    if name in seen:
                        out.append(
                            ConfigProblem(
                                source,
                                locate(root, loc),
                                field_path(loc),
                                f"{name!r} is already used by services[{seen[name]}]",
                            )
                        )
                    seen[name] = i
            for j, callee in enumerate(service.calls):
                loc = ("services", i, "calls", j)
                if callee == service.name:
                    out.append(
                        ConfigProblem(
                            source, locate(root, loc), field_path(loc), "a service cannot call itself"
                        )
                    )
                elif callee not in (known := {s.name for s in self.services}):
                    out.append(
                        ConfigProblem(
                            source,
                            locate(root, loc),
                            field_path(loc),
                            f"unknown service {callee!r}{did_you_mean(callee, known)}",
                        )
                    )
        return out + self._workload_problems(root, source) + self._datasource_problems(root, source)

    def _datasource_problems(self, root: yaml.Node | None, source: str) -> list[ConfigProblem]:
        """A data source listed under two services: its DatasourceError's service, a matter of order."""
        out: list[ConfigProblem] = []
        owner: dict[str, str] = {}
        for i, service in enumerate(self.services):
            for j, uid in enumerate(service.datasources):
                held = owner.setdefault(uid, service.name)
                if held != service.name:
                    loc: tuple[int | str, ...] = ("services", i, "datasources", j)
                    message = f"data source {uid!r} is already listed under {held}"
                    out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))
        return out

    def _workload_problems(self, root: yaml.Node | None, source: str) -> list[ConfigProblem]:
        """A workload listed by name under two services would make its alerts' service a matter of order."""
        out: list[ConfigProblem] = []
        owner: dict[tuple[str, str, str], str] = {}
        for i, service in enumerate(self.services):
            for j, workload in enumerate(service.workloads):
                for k, name in enumerate(workload.names):
                    key = (workload.kind, workload.namespace, name)
                    held = owner.setdefault(key, service.name)
                    if held != service.name:
                        loc: tuple[int | str, ...] = ("services", i, "workloads", j, "names", k)
                        out.append(
                            ConfigProblem(
                                source,
                                locate(root, loc),
                                field_path(loc),
                                f"{workload.kind} {workload.namespace}/{name} is already listed under {held}",
                            )
                        )
        return out


def load_catalog(text: str, *, source: str = "catalog.yaml") -> Catalog:
    """Parse, validate and cross-check a catalog; :class:`ConfigError` lists every problem."""
    return load_checked(text, Catalog, source=source, cross_check=lambda c, root: c.problems(root, source))
