"""Learning from outcomes: how well each alert rule earned its pages, and what to change.

From incident history (who acknowledged, who resolved, whether a remediation acted, whether it
was marked a false positive, how long it lasted), one record per alert rule and owning team (the
kube-prometheus rules fire for every team's pods, and one team's habits are no evidence about
another's): how often it paged,
how often anyone acted, how often it resolved by itself within minutes with nobody acting, the
median time to auto-resolve, and how often it fires a day. Proposals follow with their evidence,
and are made only where no actionable incident of the rule would have been lost:

- ``silence``: a rule flapping for a team (several incidents a day, nearly all gone by themselves
  within minutes, none acted on);
- ``demote`` (to chat only, no page): a rule nobody of the team ever acted on;
- ``raise_for``: a rule whose alerts nobody acted on fired briefly, and whose actionable ones all
  fired longer than the proposed raise of its ``for:``: raising it drops the former and keeps the
  latter. Durations are how long the rule's alerts fired (Prometheus sends an alert once its ``for:``
  has passed, and ends it when its condition stops holding), not how long the incident lasted: an
  incident stays open through the quiet period after its last alert and until someone resolves it.
  A ``for:`` is the rule's, every team's: this one is judged on every team's incidents.

Pure: the service reads the history. A ``demote`` proposal is applied by Medic itself only for
the teams that opt in, rule by rule, in the routing policy's ``learning:`` block (:class:`TeamLearning`,
decided by :func:`demotion_for` as notifications are planned; docs/anomaly.md).
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medic.anomaly import HEARTBEAT_SOURCE

__all__ = [
    "DEMOTED_BY",
    "Demoted",
    "Demotion",
    "IncidentOutcome",
    "Proposal",
    "RuleEffectiveness",
    "TeamLearning",
    "anomaly_rule",
    "applied_for",
    "covers",
    "demotion_for",
    "effectiveness",
    "history_days",
    "incident_rules",
    "propose",
    "rules_before_scans",
]

# Who a demotion's timeline entry names as its actor.
DEMOTED_BY = "medic learning"
# The rule of an anomaly: anomaly:<source>, a Medic scan's anomaly:medic-scan/<scan> (``anomaly_rule``).
ANOMALY_RULE = "anomaly:"
# A missing heartbeat's (medic.dead_man): never proposed for a silence or a demotion; its noise is
# mended by its missing_after or its route, which medic doctor checks.
HEARTBEAT_RULE = f"{ANOMALY_RULE}{HEARTBEAT_SOURCE}"


class IncidentOutcome(BaseModel):
    """What happened to one incident, as far as learning is concerned."""

    incident_id: str
    rules: list[str] = Field(description="alert rules (alertname) in the incident")
    team: str | None = Field(default=None, description="the owning team, whose routing notified it")
    opened_at: datetime
    resolved_at: datetime | None = None
    paged: bool = True
    acknowledged: bool = False  # by a person
    resolved_by_person: bool = False
    remediated: bool = False  # a remediation acted (executed or verified)
    false_positive: bool = False
    false_positive_rules: list[str] | None = Field(
        default=None,
        description="the rules the false-positive marks name (None: every rule of the incident)",
    )
    firing_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="rule -> how long its alerts fired here, the longest (from the alert's start to its "
        "end, or to the incident's resolution while it still fired); a rule without: the incident's "
        "duration",
    )

    @property
    def actionable(self) -> bool:
        """Someone (or a remediation) acted, and nobody judged it noise."""
        acted = self.acknowledged or self.resolved_by_person or self.remediated
        return acted and not self.false_positive

    def marked(self, rule: str) -> bool:
        """Whether a false-positive mark covers ``rule``: a mark names the rules the incident had then,
        so a cause's alert that joined later and was acted on keeps its credit."""
        return self.false_positive and (
            self.false_positive_rules is None or rule in self.false_positive_rules
        )

    def actionable_for(self, rule: str) -> bool:
        """:attr:`actionable`, as far as ``rule`` is concerned."""
        acted = self.acknowledged or self.resolved_by_person or self.remediated
        return acted and not self.marked(rule)

    @property
    def duration(self) -> float | None:
        return None if self.resolved_at is None else (self.resolved_at - self.opened_at).total_seconds()

    def fired(self, rule: str) -> float | None:
        """How long ``rule``'s alerts fired in this incident (its duration where that is not known)."""
        return self.firing_seconds.get(rule, self.duration)


class RuleEffectiveness(BaseModel):
    rule: str
    team: str | None = Field(
        default=None, description="the owning team of these incidents (None: no team owned them)"
    )
    incidents: int
    pages: int
    actionable: int
    false_positives: int
    auto_resolved_quickly: int = Field(
        description="gone by itself, its alerts firing `quick` (10 min) at most, with nobody acting"
    )
    median_auto_resolve_seconds: float | None = Field(
        description="how long the rule's alerts fired in the incidents nobody acted on, the median"
    )
    per_day: float
    shortest_actionable_seconds: float | None = Field(
        description="the shortest time the rule's alerts fired in an incident someone acted on"
    )
    longest_noise_seconds: float | None = Field(
        description="the longest time the rule's alerts fired in an incident nobody acted on"
    )


class Proposal(BaseModel):
    rule: str
    team: str | None = Field(
        default=None,
        description="whose incidents it is made from (silence, demote); None for raise_for, which is "
        "judged on every team's incidents (a `for:` is the rule's), and for incidents no team owned",
    )
    change: Literal["silence", "demote", "raise_for"]
    evidence: str
    for_seconds: int | None = Field(
        default=None,
        description="raise_for: how much to add to the rule's `for:` (its alerts that nobody acted on "
        "fired for less, the actionable ones for longer); demote: an incident still firing this long "
        "after it opened pages after all (longer than any of the team's incidents of the rule nobody "
        "acted on fired)",
    )
    applied_for: list[str] = Field(
        default_factory=list,
        description="the team for which Medic applies it itself (a demotion of the team's own incidents "
        "the team opted in to); empty: only proposed",
    )


def anomaly_rule(source: str, scan: str | None = None) -> str:
    """The rule an anomaly stands for: ``anomaly:<source>``, and a Medic scan's own per scan,
    ``anomaly:medic-scan/<scan>`` (every scan was one rule: a noisy pod-memory scan's demotion kept
    another scan's real outage from paging, found by an anomaly walk-through)."""
    return f"{ANOMALY_RULE}{source}/{scan}" if scan else f"{ANOMALY_RULE}{source}"


def incident_rules(alert_names: Iterable[str], anomaly_rules: Iterable[str]) -> list[str]:
    """The rules an incident stands for, as learning counts them: its alerts' names and its anomalies'
    rules (``anomaly_rule``), both: a scan's finding joining an incident of a demoted alert rule is a
    rule of its own, not demoted with it."""
    return sorted(set(alert_names) | set(anomaly_rules))


def rules_before_scans(alert_names: Iterable[str], anomaly_sources: Iterable[str]) -> list[str]:
    """How ``incident_rules`` counted before 0.2.0: the alerts' names, or for an incident of anomalies
    only ``anomaly:<source>`` (incidents demoted then replay as they ran: workflows/learning.py)."""
    names = sorted(set(alert_names))
    return names or sorted({f"{ANOMALY_RULE}{source}" for source in anomaly_sources})


def covers(demoted: Iterable[str], rule: str) -> bool:
    """Whether a demotion of ``demoted`` rules covers ``rule``: named, or a Medic scan's rule under the
    whole source a demotion made before 0.2.0 named (``anomaly:medic-scan`` for every scan)."""
    held = set(demoted)
    source = rule.split("/", 1)[0] if rule.startswith(ANOMALY_RULE) else None
    return rule in held or (source is not None and source in held)


def effectiveness(
    history: list[IncidentOutcome], *, quick: timedelta = timedelta(minutes=10)
) -> list[RuleEffectiveness]:
    """One record per rule and owning team, most pages first."""
    by_rule: dict[tuple[str, str | None], list[IncidentOutcome]] = defaultdict(list)
    for outcome in history:
        for rule in set(outcome.rules):
            by_rule[rule, outcome.team].append(outcome)
    out = []
    for (rule, team), items in by_rule.items():
        times = [o.opened_at for o in items]
        days = max((max(times) - min(times)).total_seconds() / 86400.0, 1.0)
        auto = [f for o in items if not o.actionable_for(rule) and (f := o.fired(rule)) is not None]
        acted = [f for o in items if o.actionable_for(rule) and (f := o.fired(rule)) is not None]
        out.append(
            RuleEffectiveness(
                rule=rule,
                team=team,
                incidents=len(items),
                pages=sum(o.paged for o in items),
                actionable=sum(o.actionable_for(rule) for o in items),
                false_positives=sum(o.marked(rule) for o in items),
                auto_resolved_quickly=sum(f <= quick.total_seconds() for f in auto),
                median_auto_resolve_seconds=statistics.median(auto) if auto else None,
                per_day=len(items) / days,
                shortest_actionable_seconds=min(acted) if acted else None,
                longest_noise_seconds=max(auto) if auto else None,
            )
        )
    return sorted(out, key=lambda r: (-r.pages, r.rule, r.team or ""))


MIN_DAYS = 7.0  # the history a rule is silenced or demoted on covers a week at least


def history_days(history: list[IncidentOutcome]) -> float:
    """How many days ``history`` covers, from its first incident's opening to its last's."""
    if not history:
        return 0.0
    times = [o.opened_at for o in history]
    return (max(times) - min(times)).total_seconds() / 86400.0


def propose(
    records: list[RuleEffectiveness],
    *,
    min_incidents: int = 5,
    flapping_per_day: float = 4.0,
    days: float | None = None,
) -> list[Proposal]:
    """The changes worth making, with their evidence; none that would lose an actionable incident
    of the history. A silence or a demotion is per team, from that team's incidents of the rule; a
    raised ``for:`` is the rule's, from every team's. ``days``: how long the history covers; on less
    than ``MIN_DAYS`` nothing is silenced or demoted (a rule acted on now and then looks never acted
    on in a few busy days: the latest 500 incidents of a noisy installation were 3.3 days, and 5 to 7
    of its actionable incidents lost their page in the benchmark)."""
    out: list[tuple[int, Proposal]] = []
    by_rule: dict[str, list[RuleEffectiveness]] = defaultdict(list)
    for r in records:
        by_rule[r.rule].append(r)
        if (
            r.incidents < min_incidents
            or r.pages == 0
            or r.actionable
            or (days is not None and days < MIN_DAYS)
            or r.rule == HEARTBEAT_RULE  # the pipeline's only alarm while it is down: never silenced
        ):
            continue
        if r.per_day >= flapping_per_day and r.auto_resolved_quickly / r.incidents >= 0.8:
            change, why = "silence", "flapping"
        else:
            change, why = "demote", "never acted on"
        # a demoted incident that outlasts every incident of the rule nobody acted on pages after all:
        # a rule acted on now and then looks never acted on in a week that had none of its real ones
        # (an anomaly never fires in that sense: no such time for anomaly:<source>)
        noise = r.longest_noise_seconds
        timed = change == "demote" and not r.rule.startswith(ANOMALY_RULE)
        after = _whole_minutes(noise) if timed and noise is not None else None
        evidence = f"{why}: {_said(r)}"
        out.append(
            (r.pages, Proposal(rule=r.rule, team=r.team, change=change, for_seconds=after, evidence=evidence))
        )
    for same in by_rule.values():
        r = _across(same)
        if (
            r.incidents < min_incidents
            or r.pages == 0
            or r.actionable == 0
            or r.longest_noise_seconds is None
            or r.shortest_actionable_seconds is None
        ):
            continue
        # a `for:` longer by more than every unacted alert fired, and by less than every actionable one
        candidate = _whole_minutes(r.longest_noise_seconds)
        noisy = r.incidents - r.actionable
        if candidate < r.shortest_actionable_seconds and noisy >= r.actionable and noisy >= min_incidents:
            evidence = (
                f"{_said(r, teams=len(same))}; its alerts nobody acted on fired {candidate // 60} min "
                f"at most, every actionable one at least {r.shortest_actionable_seconds / 60:.0f} min"
            )
            out.append(
                (r.pages, Proposal(rule=r.rule, change="raise_for", for_seconds=candidate, evidence=evidence))
            )
    out.sort(key=lambda found: (-found[0], found[1].rule, found[1].team or ""))
    return [p for _, p in out]


def _whole_minutes(seconds: float) -> int:
    return math.ceil(seconds / 60.0) * 60


def _said(r: RuleEffectiveness, *, teams: int = 1) -> str:
    median = r.median_auto_resolve_seconds
    return (
        f"{r.incidents} incidents{f' of {teams} teams' if teams > 1 else ''} ({r.per_day:.1f}/day), "
        f"{r.pages} pages, acted on {r.actionable}, "
        f"{r.auto_resolved_quickly} gone by themselves within minutes"
        + (f" (those nobody acted on fired {median / 60:.1f} min, median)" if median is not None else "")
        + (f", {r.false_positives} marked false positive" if r.false_positives else "")
    )


def _across(records: list[RuleEffectiveness]) -> RuleEffectiveness:
    """One rule's records of several teams as one (a ``for:`` is every team's): counts summed, the
    longest incident nobody acted on and the shortest actionable one of any team."""
    if len(records) == 1:
        return records[0]
    noise = [r.longest_noise_seconds for r in records if r.longest_noise_seconds is not None]
    acted = [r.shortest_actionable_seconds for r in records if r.shortest_actionable_seconds is not None]
    return RuleEffectiveness(
        rule=records[0].rule,
        incidents=sum(r.incidents for r in records),
        pages=sum(r.pages for r in records),
        actionable=sum(r.actionable for r in records),
        false_positives=sum(r.false_positives for r in records),
        auto_resolved_quickly=sum(r.auto_resolved_quickly for r in records),
        median_auto_resolve_seconds=None,  # (not made from the teams' medians)
        per_day=sum(r.per_day for r in records),
        shortest_actionable_seconds=min(acted) if acted else None,
        longest_noise_seconds=max(noise) if noise else None,
    )


class TeamLearning(BaseModel):
    """What one team lets Medic change by itself from its insights (``learning:`` in the routing
    policy, per team). Nothing is applied for a team without an entry."""

    model_config = ConfigDict(extra="forbid")

    demote: list[str] = Field(
        default_factory=list,
        description="alert rules (alertname, or anomaly:<source>) whose incidents Medic may route to chat "
        'only (no page, escalation or issue) while its insights propose demoting them; "*": every rule',
    )
    keep_paging: list[str] = Field(
        default_factory=lambda: ["P1"],
        description="priorities never demoted, whatever the rules' history (an alert name ignored in "
        "dev still pages when an incident of it scores P1)",
    )

    @field_validator("demote")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip():
                raise ValueError("an empty alert rule name")
        return value

    def may_demote(self, rule: str) -> bool:
        return "*" in self.demote or covers(self.demote, rule)  # (anomaly:medic-scan: every scan's)


class Demotion(BaseModel):
    """Why a notification plan is chat only: every rule of the incident was proposed for demotion and
    the owning team opted in for each. Recorded with the plan (a local activity's result)."""

    team: str
    rules: list[str]
    evidence: dict[str, str] = Field(description="rule -> the proposal's evidence")
    by: str = DEMOTED_BY
    # Added later: demotions recorded before it never page after all.
    page_after_seconds: int | None = Field(
        default=None,
        description="the incident pages after all when it still fires this long after it opened, "
        "unacknowledged: longer than any incident of its rules nobody acted on",
    )

    def message(self, routing_rule: str | None) -> str:
        said = "; ".join(f"{rule}: {self.evidence.get(rule, '')}" for rule in self.rules)
        after = (
            f" It pages after all when one of its alerts has fired {self.page_after_seconds // 60} min, "
            "unacknowledged (longer than any of theirs nobody acted on fired)."
            if self.page_after_seconds is not None
            else ""
        )
        return (
            f"Demoted to chat only by {self.by}: team {self.team} opted in (routing policy `learning:`) "
            f"and nobody acted on {', '.join(self.rules)} ({said}). No page, escalation or issue"
            + (f" from routing rule {routing_rule}" if routing_rule else "")
            + f"; remove the opt-in to page again.{after}"
        )


# The demotions the insights propose now, per team: team -> rule -> the proposal.
Demoted = Mapping[str, Mapping[str, Proposal]]


def demotion_for(
    learning: Mapping[str, TeamLearning],
    *,
    team: str | None,
    rules: Iterable[str],
    demoted: Demoted,
    priority: str | None = None,
) -> Demotion | None:
    """The demotion of an incident of ``team`` made of ``rules``, given the demotions the insights
    propose now for each team (``demoted``: team -> rule -> proposal, from that team's incidents
    only), or None. Only when the team opted in, the incident's ``priority`` is not one the team keeps
    paging (P1 unless said otherwise), and *every* rule qualifies: one rule that still earns its page
    keeps the incident paging. It pages after all past the longest of its rules' ``for_seconds``."""
    opt_in = learning.get(team or "")
    names = sorted(set(rules))
    if (
        opt_in is None
        or team is None
        or not names
        or (priority is not None and priority in opt_in.keep_paging)
    ):
        return None
    mine = demoted.get(team, {})
    if not all(opt_in.may_demote(r) and r in mine for r in names):
        return None
    # pages after all past the longest of its alert rules' times (an anomaly rule has none); none
    # when an alert rule has none
    alerting = [r for r in names if not r.startswith(ANOMALY_RULE)]
    after = [s for r in alerting if (s := mine[r].for_seconds) is not None]
    return Demotion(
        team=team,
        rules=names,
        evidence={r: mine[r].evidence for r in names},
        page_after_seconds=max(after) if alerting and len(after) == len(alerting) else None,
    )


def applied_for(proposal: Proposal, learning: Mapping[str, TeamLearning]) -> list[str]:
    """The team for which Medic applies ``proposal`` itself: a demotion of its team's, where the team
    opted in."""
    opt_in = learning.get(proposal.team or "")
    if proposal.change != "demote" or opt_in is None or not opt_in.may_demote(proposal.rule):
        return []
    return [proposal.team] if proposal.team else []
