"""Business-impact scoring: a 0-100 score and a priority, with the factors that produced it.

Each factor is a value in 0..1 times a weight (the weights add up to 100), and carries a
sentence saying why, so a responder can see *why* an incident is P1 and argue with it.
"""

import math

from pydantic import BaseModel, Field

from medic.catalog import Criticality
from medic.severity import canonical_severity
from medic.topology import ServiceContext
from medic.vocab import Priority

__all__ = ["WEIGHTS", "Impact", "ImpactFactor", "priority_for_score", "score_impact"]

WEIGHTS = {
    "severity": 25.0,
    "tier": 20.0,
    "business": 20.0,
    "blast_radius": 15.0,
    "slo_burn": 10.0,
    "alert_count": 10.0,
}
_SEVERITY = {"critical": 1.0, "error": 0.7, "warning": 0.4, "info": 0.1}
_TIER = {1: 1.0, 2: 0.65, 3: 0.35, 4: 0.1}
_UNKNOWN_TIER = 0.35
_CRITICALITY = {
    Criticality.CRITICAL: 0.8,
    Criticality.HIGH: 0.6,
    Criticality.MEDIUM: 0.35,
    Criticality.LOW: 0.1,
}
# Reference points for "as bad as it gets" on the log scales.
_REVENUE_FULL = 5000.0
_USERS_FULL = 20000.0
_ALERTS_FULL = 200
_PRIORITY_FLOORS = ((75.0, Priority.P1), (55.0, Priority.P2), (35.0, Priority.P3), (20.0, Priority.P4))


class ImpactFactor(BaseModel):
    name: str
    value: float
    weight: float
    points: float
    detail: str


class Impact(BaseModel):
    score: float
    priority: Priority
    factors: list[ImpactFactor]
    floor: str | None = Field(
        default=None, description="why the priority is higher than the score's (a missing heartbeat)"
    )

    def explain(self) -> str:
        top = sorted(self.factors, key=lambda f: f.points, reverse=True)
        # the burn with what burns and how fast: "slo_burn 10" alone said nothing of which SLO, its rate or
        # its window (an SLO team's walk-through, 2026-12-07)
        parts = ", ".join(
            f"{f.name} {f.points:.0f}" + (f" ({f.detail})" if f.name == "slo_burn" and f.detail else "")
            for f in top
            if f.points >= 0.5
        )
        said = f"{self.priority} (impact {self.score:.0f}/100): {parts or 'no significant factor'}"
        return f"{said}; {self.floor}" if self.floor else said

    def at_least(self, priority: Priority, why: str) -> "Impact":
        """This impact with its priority raised to ``priority`` (P2 is higher than P4), saying why."""
        if self.priority <= priority:
            return self
        return self.model_copy(update={"priority": priority, "floor": f"at least {priority}: {why}"})


# The burn rate from which an SLO burn pages (the SRE workbook's and Sloth's page pairs: 14.4x and 6x;
# Pyrra's critical ones: 14x and 7x); below, its alerts are tickets.
PAGE_BURN = 6.0


def burn_floor(impact: "Impact", burn: dict[str, float], detail: dict[str, str]) -> "Impact":
    """At least P2 where an SLO burns at a paging rate: the SLO's own alert says to page (its budget gone
    in days), and at most 10 of 100 points left a 14.4x burn on checkout at P2 at best, P3 elsewhere,
    paging nobody under a routing that pages P1 and P2 (an SLO team's walk-through, 2026-12-07)."""
    paging = [s for s, rate in burn.items() if rate >= PAGE_BURN]
    if not paging:
        return impact
    worst = max(paging, key=lambda s: burn[s])
    return impact.at_least(Priority.P2, f"{worst}'s SLO burns at a paging rate ({detail.get(worst, '')})")


def priority_for_score(score: float) -> Priority:
    for floor, priority in _PRIORITY_FLOORS:
        if score >= floor:
            return priority
    return Priority.P5


def _log_scale(value: float, full: float) -> float:
    return min(1.0, math.log10(1 + value) / math.log10(1 + full)) if value > 0 else 0.0


def _factor(name: str, value: float, detail: str) -> ImpactFactor:
    value = max(0.0, min(1.0, value))
    return ImpactFactor(
        name=name,
        value=round(value, 3),
        weight=WEIGHTS[name],
        points=round(value * WEIGHTS[name], 2),
        detail=detail,
    )


def score_impact(
    *,
    severity: str,
    services: list[ServiceContext],
    root: ServiceContext | None,
    alert_count: int,
    slo_burn: dict[str, float],
    slo_detail: dict[str, str] | None = None,
) -> Impact:
    """Score an incident. ``slo_burn`` maps a service to the highest burn rate its alerts report;
    ``slo_detail`` what else they tell of it (SLO, window, budget left: medic.slo)."""
    sev = canonical_severity(severity)
    factors = [_factor("severity", _SEVERITY[sev], f"worst firing severity is {sev}")]

    known = [s for s in services if s.in_catalog and s.tier is not None]
    if known:
        best = min(known, key=lambda s: (s.tier or 9, s.name))
        factors.append(_factor("tier", _TIER[best.tier or 3], f"{best.name} is tier {best.tier}"))
    else:
        factors.append(
            _factor("tier", _UNKNOWN_TIER if services else 0.0, "no affected service is in the catalog")
        )

    business, why = 0.0, "no business weight known"
    for s in known:
        value = max(
            _CRITICALITY[s.business.criticality],
            _log_scale(s.business.revenue_per_minute, _REVENUE_FULL),
            _log_scale(s.business.users_per_minute, _USERS_FULL),
        )
        if value > business:
            business = value
            why = (
                f"{s.name}: {s.business.revenue_per_minute:g}/min revenue, "
                f"{s.business.users_per_minute:g} users/min, {s.business.criticality.value}"
            )
    factors.append(_factor("business", business, why))

    # A share of the services in its system (connected to it through calls): independent products in one
    # catalog do not dilute each other's blast radius.
    system = (root.system_size or root.catalog_size) if root is not None else 0
    if root is not None and system > 1:
        factors.append(
            _factor(
                "blast_radius",
                root.blast_radius / (system - 1),
                f"{root.blast_radius} of {system - 1} services depend on {root.name}",
            )
        )
    else:
        factors.append(_factor("blast_radius", 0.0, "no dependents known"))

    burn_value, burn_why = 0.0, "no SLO burn reported"
    for s in services:
        rate = slo_burn.get(s.name)
        if rate is not None and rate / s.slo.page_burn_rate > burn_value:
            burn_value = rate / s.slo.page_burn_rate
            said = (slo_detail or {}).get(s.name) or f"{rate:g}x"  # "14x, SLO ..., over 1h/5m, ..."
            burn_why = f"{s.name} burns its error budget at {said} (pages at {s.slo.page_burn_rate:g}x)"
    factors.append(_factor("slo_burn", burn_value, burn_why))

    count = _log_scale(max(alert_count - 1, 0), _ALERTS_FULL - 1)
    factors.append(_factor("alert_count", count, f"{alert_count} alert(s)"))

    score = round(sum(f.points for f in factors), 1)
    return Impact(score=score, priority=priority_for_score(score), factors=factors)
