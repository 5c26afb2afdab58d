"""``GET /insights``: per-alert-rule effectiveness from the resolved incidents' history, and the
proposals ``medic.insights`` makes from it (raise ``for:``, demote to chat only, silence a flapping
rule), each with its evidence and the teams for which Medic applies it. Reads the incidents' states
through the incident reader.

The worker applies the demotions the teams opted in to (``learning:`` in the routing policy) through
:class:`LearningLoop`: it recomputes the insights every 15 minutes, reading only the incidents resolved
since the last time (a resolved incident never changes), and keeps the rules to demote in memory for
the plan activity, which records its decision in the incident's history.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio.service import RPCError

from medic.alerts import AlertStatus
from medic.incident import IncidentState
from medic.insights import (
    Demoted,
    IncidentOutcome,
    Proposal,
    RuleEffectiveness,
    TeamLearning,
    applied_for,
    effectiveness,
    history_days,
    propose,
)
from medic.mrkdwn import escape
from medic.redact import redact
from medic.vocab import ACTED
from service.incidents import (
    IncidentFilter,
    IncidentNotFound,
    IncidentReader,
    IncidentSummary,
    IncidentUnreadable,
    does_not_replay,
)

__all__ = [
    "LIMIT",
    "READ",
    "Insights",
    "LearningLoop",
    "OutcomeCache",
    "insights",
    "outcome_of",
    "render_insights",
]

log = logging.getLogger(__name__)

_PARALLEL = 8
# Resolved incidents learned from: enough to cover the week a silence or demotion needs on a busy
# installation (500 were 3.3 days of the benchmark's noisy month: medic.insights.MIN_DAYS).
LIMIT = 2000
# A resolved incident's outcome, by the run it stands for: its id and the times its listing shows.
_RunKey = tuple[str, datetime | None, datetime | None]


class Insights(BaseModel):
    incidents: int = Field(description="resolved incidents read (the latest, up to the limit)")
    unread: int = Field(default=0, description="incidents Temporal could not answer for now (read next time)")
    rules: list[RuleEffectiveness]
    proposals: list[Proposal]


def outcome_of(state: IncidentState) -> IncidentOutcome | None:
    """What learning needs of one incident; None when it never opened, or when it merged into another
    (its alerts count in that one: a cascade's symptoms were counted again, as incidents nobody
    acted on that went by themselves, at the merge)."""
    if state.opened_at is None or state.merged_into is not None:
        return None
    rules = state.learning_rules()
    plan = state.notifications.plan
    owner = state.owner
    return IncidentOutcome(
        incident_id=state.id,
        rules=rules,
        # whose routing notified it (a demoted plan names the team it was demoted for)
        team=plan.demoted.team if plan is not None and plan.demoted is not None else owner and owner.team,
        opened_at=state.opened_at,
        resolved_at=state.resolved_at,
        # paged: what the pager was sent (a plan demoted by learning counts as the page it would have
        # been, so a demotion is not proposed away); a chat-only rule's incidents page nobody
        paged=bool(state.notifications.pages)
        or (state.notifications.plan is not None and state.notifications.plan.demoted is not None),
        acknowledged=state.acknowledged_by is not None,
        resolved_by_person=state.resolved_by is not None,
        remediated=any(t.outcome in ACTED for t in state.remediations.values()),
        false_positive=bool(state.false_positives),
        # the rules the marks name (a mark without rules covers them all)
        false_positive_rules=None
        if any(not f.rules for f in state.false_positives)
        else sorted({r for f in state.false_positives for r in f.rules}),
        firing_seconds=_firing(state),
    )


def _firing(state: IncidentState) -> dict[str, float]:
    """Per alert rule, the longest its alerts fired: from the alert's start (Prometheus starts it once
    its ``for:`` has passed) to its end, or to the incident's resolution when it never ended (resolved
    by hand while firing). An incident's own duration adds the quiet period after the last alert (5
    minutes by default) and the time until someone resolved it."""
    out: dict[str, float] = {}
    for a in state.alerts.values():
        end = a.ends_at if a.status is AlertStatus.RESOLVED and a.ends_at is not None else state.resolved_at
        if end is None or end < a.starts_at:
            continue
        out[a.name] = max(out.get(a.name, 0.0), (end - a.starts_at).total_seconds())
    return out


class OutcomeCache:
    """The outcomes of resolved incidents already read, by run: a later pass reads only the new ones.
    Holds the runs of the latest listing only, so it never outgrows the limit."""

    def __init__(self) -> None:
        self._outcomes: dict[_RunKey, IncidentOutcome | None] = {}

    @staticmethod
    def key(summary: IncidentSummary) -> _RunKey | None:
        """None for a listing without its resolution time (then it is read every time)."""
        return None if summary.resolved_at is None else (summary.id, summary.opened_at, summary.resolved_at)

    def get(self, summary: IncidentSummary) -> tuple[bool, IncidentOutcome | None]:
        key = self.key(summary)
        if key is None or key not in self._outcomes:
            return False, None
        return True, self._outcomes[key]

    def keep(self, read: Mapping[_RunKey, IncidentOutcome | None]) -> None:
        self._outcomes = dict(read)


async def insights(
    reader: IncidentReader,
    *,
    limit: int = LIMIT,
    learning: Mapping[str, TeamLearning] | None = None,
    cache: OutcomeCache | None = None,
) -> Insights:
    """``learning``: the routing policy's opt-ins, to say which proposals Medic applies itself."""
    summaries = await reader.list(IncidentFilter(status="resolved", limit=limit))
    slots = asyncio.Semaphore(_PARALLEL)
    unread: set[str] = set()

    async def read(summary: IncidentSummary) -> IncidentOutcome | None:
        known, outcome = cache.get(summary) if cache is not None else (False, None)
        if known:
            return outcome
        async with slots:
            try:
                return outcome_of(await reader.state(summary.id))
            except IncidentNotFound:  # gone since it was listed
                return None
            except (IncidentUnreadable, RPCError) as err:
                if isinstance(err, IncidentUnreadable) and does_not_replay(err):
                    # it never will be read whole; the others still count
                    log.warning("insights leave out %s: %s", summary.id, redact(str(err.__cause__))[:300])
                    return None
                # one incident Temporal cannot answer for now (a worker restarting) does not stop the
                # rest: read again next pass
                unread.add(summary.id)
                log.info("insights: %s not read now: %s", summary.id, redact(str(err))[:300])
                return None

    found = await asyncio.gather(*(read(s) for s in summaries))
    if cache is not None:  # (those not read now are not kept: asked again next pass)
        cache.keep(
            {
                k: o
                for s, o in zip(summaries, found, strict=True)
                if (k := cache.key(s)) and s.id not in unread
            }
        )
    outcomes = [o for o in found if o is not None]
    records = effectiveness(outcomes)
    proposals = propose(records, days=history_days(outcomes))
    if learning:
        proposals = [p.model_copy(update={"applied_for": applied_for(p, learning)}) for p in proposals]
    return Insights(incidents=len(outcomes), unread=len(unread), rules=records, proposals=proposals)


# The outcomes the API and the chat commands have read (a process's own): a resolved incident never
# changes, so a later call reads only the incidents resolved since (each read replays a history).
READ = OutcomeCache()


class LearningLoop:
    """In the worker: the rules Medic's insights propose to demote (team -> rule -> proposal, each
    team's from its own incidents), recomputed every ``every`` from the latest ``limit`` resolved
    incidents, for the plan activity to read from memory. Which teams let a demotion apply is the
    routing policy's to say, at each plan. A failed pass keeps the last answer (logged); none has
    been made before the first pass ends, so nothing is demoted."""

    def __init__(
        self, reader: IncidentReader, *, limit: int = LIMIT, every: timedelta = timedelta(minutes=15)
    ) -> None:
        self._reader, self._limit, self._every = reader, limit, every
        self._cache = OutcomeCache()
        self._demoted: dict[str, dict[str, Proposal]] = {}

    def demotions(self) -> Demoted:
        """As of the last pass; called from the plan activity's thread (the dict is replaced whole)."""
        return self._demoted

    _STALE = 4  # failed passes in a row after which the last answer is dropped (an hour: page again)

    async def refresh(self) -> Insights:
        found = await insights(self._reader, limit=self._limit, cache=self._cache)
        demoted: dict[str, dict[str, Proposal]] = defaultdict(dict)
        for p in found.proposals:
            if p.change == "demote" and p.team:
                demoted[p.team][p.rule] = p
        self._demoted = dict(demoted)
        return found

    async def run(self) -> None:
        failed = 0
        while True:
            try:
                found = await self.refresh()
                failed = 0
                log.info(
                    "learning: %d rules to demote where teams opted in, from %d resolved incidents",
                    sum(map(len, self._demoted.values())),
                    found.incidents,
                )
            except Exception as err:  # Temporal away, a query timing out: try again next time
                failed += 1
                if failed >= self._STALE and self._demoted:
                    # an answer this old may demote a rule someone has acted on since: page again
                    self._demoted = {}
                    log.warning(
                        "learning: %d passes failed (%s); no rule is demoted until one works", failed, err
                    )
                else:
                    log.warning("learning: could not read the resolved incidents (%s); keeping the last", err)
            await asyncio.sleep(self._every.total_seconds())


_CHANGE = {
    "silence": "silence it (flapping)",
    "demote": "demote it to chat only (no page)",
    "raise_for": "raise its `for:` by {minutes} min",
}


def _of(team: str | None) -> str:
    return f" (team {escape(team)})" if team else ""


def render_insights(found: Insights, *, top: int = 10) -> str:
    """``/medic insights``: the proposals with their evidence, then the rules that page most."""
    lines = [f"*Insights* from the last {found.incidents} resolved incidents."]
    if found.proposals:
        lines.append(
            "*Proposals* (changed only where a team opted in under `learning:` in the routing policy):"
        )
        for p in found.proposals[:top]:
            change = _CHANGE[p.change].format(minutes=(p.for_seconds or 0) // 60)
            applied = (
                f" *Applied by Medic* for {escape(', '.join(p.applied_for))} (remove the opt-in to undo)."
                if p.applied_for
                else ""
            )
            lines.append(f"• `{escape(p.rule)}`{_of(p.team)}: {change}. {escape(p.evidence)}.{applied}")
        if len(found.proposals) > top:
            lines.append(f"… and {len(found.proposals) - top} more (GET /insights lists them all).")
    else:
        lines.append("No proposals: every rule that paged was acted on, or there is too little history.")
    if found.rules:
        lines.append("*Pages by rule:*")
        for r in found.rules[:top]:
            lines.append(
                f"• `{escape(r.rule)}`{_of(r.team)}: {r.pages} pages, acted on {r.actionable}, "
                f"{r.per_day:.1f}/day"
            )
        if len(found.rules) > top:
            lines.append(f"… and {len(found.rules) - top} more rules.")
    if found.unread:
        lines.append(f"({found.unread} incidents could not be read now: they count at the next pass.)")
    return "\n".join(lines)
