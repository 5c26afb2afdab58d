"""Correlation rules: which service in an incident is the likely root cause, which incident
absorbs which, and when an alert is flapping. Pure functions over the incident's facts."""

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from medic.limits import bounded_join
from medic.severity import SEVERITY_RANK, canonical_severity
from medic.topology import ServiceContext, absorbed_by, absorbs, hosted_on

__all__ = [
    "FLAP_EPISODES",
    "FLAP_WINDOW",
    "RootCauseCandidate",
    "ServiceObservation",
    "is_flapping",
    "join_decision",
    "rank_root_causes",
]

# The services named in one reason (a node outage has dozens of dependents): the first that fit, then
# how many more, so a reason stays readable on a card, a page or a ticket.
_NAMES_CHARS = 1000

# An alert that starts firing this many times within the window is flapping.
FLAP_EPISODES = 3
FLAP_WINDOW = timedelta(minutes=15)


class ServiceObservation(BaseModel):
    """What an incident saw of one service."""

    context: ServiceContext
    first_seen: datetime
    severity: str


class RootCauseCandidate(BaseModel):
    service: str
    rank: int
    reasons: list[str]


def rank_root_causes(observed: dict[str, ServiceObservation]) -> list[RootCauseCandidate]:
    """Rank services by how likely each is the cause: a failing service none of whose own
    dependencies fail, on which many failing services depend, seen first and most severe."""

    def facts(name: str) -> tuple[list[str], list[str]]:
        ctx = observed[name].context
        others = [o for o in observed if o != name]
        # A node is a dependency of the services whose pods run on it (the node's context says so, or
        # the service's own: its pods' nodes).
        below = [
            o
            for o in others
            if o in ctx.upstream or o in ctx.nodes or hosted_on(name, observed[o].context.hosts)
        ]
        above = [
            o
            for o in others
            if o in ctx.downstream or hosted_on(o, ctx.hosts) or name in observed[o].context.nodes
        ]
        return below, above

    def key(name: str) -> tuple[bool, int, datetime, int, str]:
        failing_deps, failing_dependents = facts(name)
        obs = observed[name]
        return (
            bool(failing_deps),
            -len(failing_dependents),
            obs.first_seen,
            -SEVERITY_RANK[canonical_severity(obs.severity)],
            name,
        )

    ranked: list[RootCauseCandidate] = []
    for rank, name in enumerate(sorted(observed, key=key), start=1):
        failing_deps, failing_dependents = facts(name)
        obs = observed[name]
        reasons = []
        if failing_dependents:
            reasons.append(
                f"{len(failing_dependents)} failing service(s) depend on it: "
                f"{bounded_join(sorted(failing_dependents), budget=_NAMES_CHARS)}"
            )
        reasons.append(
            f"its failing dependencies: {bounded_join(sorted(failing_deps), budget=_NAMES_CHARS)}"
            if failing_deps
            else "none of its dependencies is failing"
        )
        reasons.append(
            f"first signal at {obs.first_seen:%H:%M:%S}Z, severity {canonical_severity(obs.severity)}"
        )
        if not obs.context.in_catalog:
            reasons.append("not in the service catalog: topology unknown")
        ranked.append(RootCauseCandidate(service=name, rank=rank, reasons=reasons))
    return ranked


def join_decision(
    *,
    mine: ServiceContext,
    other: str,
    my_active_since: datetime | None,
    their_active_since: datetime,
    window: timedelta,
    their_hosts: Collection[str] = (),
    their_nodes: Collection[str] = (),
) -> Literal["absorb", "join"] | None:
    """What my incident does about an active incident on ``other``: ``absorb`` it (it depends on me),
    ``join`` it (I depend on it), or nothing (unrelated, I am not firing, or the two became active
    further apart than the correlation window). ``their_hosts``: the services whose pods run on
    ``other`` when it is a node (from its hello); mine among them, I join it. ``their_nodes``: the nodes
    ``other``'s pods run on when it is a service (from its hello); I am one of them, I absorb it."""
    if my_active_since is None or abs(their_active_since - my_active_since) > window:
        return None
    if hosted_on(mine.name, their_hosts) or other in mine.nodes:
        return "join"
    if mine.name in their_nodes or hosted_on(other, mine.hosts):
        return "absorb"
    if absorbs(mine, other):
        return "absorb"
    if absorbed_by(mine, other):
        return "join"
    return None


def is_flapping(episode_starts: list[datetime], now: datetime) -> bool:
    recent = [t for t in episode_starts if now - t <= FLAP_WINDOW]
    return len(recent) >= FLAP_EPISODES
