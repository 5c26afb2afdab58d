"""``GET /insights``: per-alert-rule effectiveness from the resolved incidents' history, and the
proposals ``medic.insights`` makes from it (raise ``for:``, demote to chat only, silence a flapping
rule), each with its evidence and the teams for which Medic applies it. Reads the outcomes the resolved
incidents published (every run of every id) through the incident reader.

The worker applies the demotions the teams opted in to (``learning:`` in the routing policy) through
:class:`LearningLoop`: it recomputes the insights every 15 minutes and keeps the rules to demote in
memory for the plan activity, which records its decision in the incident's history.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from temporalio.service import RPCError

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
from service.incidents import (
    IncidentNotFound,
    IncidentUnreadable,
    ResolvedRun,
    RunReader,
    does_not_replay,
)

__all__ = [
    "DAYS",
    "LIMIT",
    "QUERIED",
    "READ",
    "Insights",
    "LearningLoop",
    "OutcomeCache",
    "insights",
    "render_insights",
]

log = logging.getLogger(__name__)

_PARALLEL = 8
# The resolved incidents learned from, newest first: the last four weeks, and at most this many (a
# busy installation's 900 a day are 22 days). Each is one run of its id's workflow (a service's
# incidents share its id), read from the outcome it published in its memo on resolving: one listing,
# no history replayed. Before (2026-12-06), the latest run of each id was read by a query: a service
# paging ten times a day was one incident, and the latest 2,000 ids were a few days of a busy
# installation, so nothing was ever demoted there.
LIMIT = 20_000
DAYS = 28.0
# Runs resolved before their workflows published outcomes are queried (each replays its history on a
# worker): at most this many a pass, the newest first; the rest in later passes.
QUERIED = 2000
# A resolved incident's outcome, by its run.
_RunKey = tuple[str, str]


class Insights(BaseModel):
    incidents: int = Field(
        description="resolved incidents read (the latest, up to the limit; a service's incidents each count)"
    )
    unread: int = Field(
        default=0, description="incidents not read now (Temporal could not answer, or left for the next pass)"
    )
    rules: list[RuleEffectiveness]
    proposals: list[Proposal]


class OutcomeCache:
    """The outcomes of runs already read by a query (a run resolved before its workflow published its
    outcome): a later pass reads only the new ones. Holds the runs of the latest listing only, so it
    never outgrows the limit."""

    def __init__(self) -> None:
        self._outcomes: dict[_RunKey, IncidentOutcome | None] = {}

    @staticmethod
    def key(run: ResolvedRun) -> _RunKey:
        return (run.id, run.run_id)

    def get(self, run: ResolvedRun) -> tuple[bool, IncidentOutcome | None]:
        key = self.key(run)
        if key not in self._outcomes:
            return False, None
        return True, self._outcomes[key]

    def keep(self, read: Mapping[_RunKey, IncidentOutcome | None]) -> None:
        self._outcomes = dict(read)


async def insights(
    reader: RunReader,
    *,
    limit: int = LIMIT,
    days: float = DAYS,
    learning: Mapping[str, TeamLearning] | None = None,
    cache: OutcomeCache | None = None,
    now: datetime | None = None,
) -> Insights:
    """``learning``: the routing policy's opt-ins, to say which proposals Medic applies itself."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    runs = await reader.resolved_runs(limit=limit, since=since)
    slots = asyncio.Semaphore(_PARALLEL)
    unread: set[_RunKey] = set()
    queried = 0

    async def read(run: ResolvedRun) -> IncidentOutcome | None:
        nonlocal queried
        if run.outcome is not None or run.merged:
            return run.outcome  # as the workflow published it (a merged one: none, counted where it joined)
        known, outcome = cache.get(run) if cache is not None else (False, None)
        if known:
            return outcome
        key = OutcomeCache.key(run)
        if queried >= QUERIED:
            unread.add(key)  # next pass
            return None
        queried += 1
        async with slots:
            try:
                return (await reader.run_state(run.id, run.run_id)).outcome()
            except IncidentNotFound:  # gone since it was listed
                return None
            except (IncidentUnreadable, RPCError) as err:
                if isinstance(err, IncidentUnreadable) and does_not_replay(err):
                    # it never will be read whole; the others still count
                    log.warning("insights leave out %s: %s", run.id, redact(str(err.__cause__))[:300])
                    return None
                # one incident Temporal cannot answer for now (a worker restarting) does not stop the
                # rest: read again next pass
                unread.add(key)
                log.info("insights: %s not read now: %s", run.id, redact(str(err))[:300])
                return None

    # (sequential where the outcome is at hand; the queries wait for a slot)
    found = await asyncio.gather(*(read(r) for r in runs))
    if cache is not None:  # (those not read now are not kept: asked again next pass)
        cache.keep(
            {
                k: o
                for r, o in zip(runs, found, strict=True)
                if r.outcome is None and (k := cache.key(r)) not in unread
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
    team's from its own incidents), recomputed every ``every`` from the resolved incidents of the
    last ``DAYS`` (``limit`` at most), for the plan activity to read from memory. Which teams let a
    demotion apply is the routing policy's to say, at each plan. A failed pass keeps the last answer
    (logged); none has been made before the first pass ends, so nothing is demoted."""

    def __init__(
        self, reader: RunReader, *, limit: int = LIMIT, every: timedelta = timedelta(minutes=15)
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
