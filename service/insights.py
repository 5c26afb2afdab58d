"""``GET /insights``: per-alert-rule effectiveness from the resolved incidents' history, and the
proposals ``medic.insights`` makes from it (raise ``for:``, demote to chat only, silence a flapping
rule), each with its evidence. Reads the incidents' states through the incident reader; applies
nothing."""

import asyncio

from pydantic import BaseModel, Field

from medic.incident import IncidentState
from medic.insights import IncidentOutcome, Proposal, RuleEffectiveness, effectiveness, propose
from medic.mrkdwn import escape
from medic.vocab import ACTED
from service.incidents import IncidentFilter, IncidentNotFound, IncidentReader

__all__ = ["Insights", "insights", "outcome_of", "render_insights"]

_PARALLEL = 8


class Insights(BaseModel):
    incidents: int = Field(description="resolved incidents read (the latest, up to the limit)")
    rules: list[RuleEffectiveness]
    proposals: list[Proposal]


def outcome_of(state: IncidentState) -> IncidentOutcome | None:
    """What learning needs of one incident; None when it never opened."""
    if state.opened_at is None:
        return None
    rules = sorted({a.name for a in state.alerts.values()}) or sorted(
        {f"anomaly:{r.signal.source}" for r in state.anomalies.values()}
    )
    return IncidentOutcome(
        incident_id=state.id,
        rules=rules,
        opened_at=state.opened_at,
        resolved_at=state.resolved_at,
        acknowledged=state.acknowledged_by is not None,
        resolved_by_person=state.resolved_by is not None,
        remediated=any(t.outcome in ACTED for t in state.remediations.values()),
        false_positive=bool(state.false_positives),
    )


async def insights(reader: IncidentReader, *, limit: int = 500) -> Insights:
    summaries = await reader.list(IncidentFilter(status="resolved", limit=limit))
    slots = asyncio.Semaphore(_PARALLEL)

    async def read(incident_id: str) -> IncidentState | None:
        async with slots:
            try:
                return await reader.state(incident_id)
            except IncidentNotFound:  # gone since it was listed
                return None

    states = await asyncio.gather(*(read(s.id) for s in summaries))
    outcomes = [o for o in (outcome_of(s) for s in states if s is not None) if o is not None]
    records = effectiveness(outcomes)
    return Insights(incidents=len(outcomes), rules=records, proposals=propose(records))


_CHANGE = {
    "silence": "silence it (flapping)",
    "demote": "demote it to chat only (no page)",
    "raise_for": "raise its `for:` to {minutes} min",
}


def render_insights(found: Insights, *, top: int = 10) -> str:
    """``/medic insights``: the proposals with their evidence, then the rules that page most."""
    lines = [f"*Insights* from the last {found.incidents} resolved incidents."]
    if found.proposals:
        lines.append("*Proposals* (nothing is changed until someone does it):")
        for p in found.proposals[:top]:
            change = _CHANGE[p.change].format(minutes=(p.for_seconds or 0) // 60)
            lines.append(f"• `{escape(p.rule)}`: {change}. {escape(p.evidence)}.")
    else:
        lines.append("No proposals: every rule that paged was acted on, or there is too little history.")
    if found.rules:
        lines.append("*Pages by rule:*")
        for r in found.rules[:top]:
            lines.append(
                f"• `{escape(r.rule)}`: {r.pages} pages, acted on {r.actionable}, {r.per_day:.1f}/day"
            )
    return "\n".join(lines)
