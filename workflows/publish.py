"""Mirroring an incident into Temporal visibility: search attributes, memo, UI details.

Called from workflow code only (it issues workflow commands), once per state revision.
"""

import json
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from medic.incident import IncidentState, IncidentStatus
    from medic.limits import TITLE_ATTRIBUTE_BYTES, fit_text, keyword_list_within
    from medic.vocab import OUTCOME_ORDER
    from workflows import search_attributes as sa

__all__ = [
    "BOUNDED_SERVICES_PATCH",
    "MERGED",
    "OUTCOME_MEMO",
    "OUTCOME_MEMO_PATCH",
    "TITLE_ATTRIBUTE_PATCH",
    "Publisher",
    "details_markdown",
    "outcome_memo",
    "remediation_summary",
]

# MedicServices within Temporal's 2 KB per search attribute value: a longer list used to terminate the
# incident ("BadSearchAttributes"). Only lists over the limit change, so only they mark the history.
BOUNDED_SERVICES_PATCH = "bounded-services-attribute"

# MedicTitle, the list's readable column: histories from before it replay without it.
TITLE_ATTRIBUTE_PATCH = "title-attribute"


# A resolved incident's outcome for learning (medic.insights.IncidentOutcome), in its memo: learning
# reads every resolved incident from one visibility listing, where it queried each, and so replayed
# each one's history on a worker. Histories resolved before it replay without it (and are queried).
OUTCOME_MEMO = "outcome"
OUTCOME_MEMO_PATCH = "outcome-memo"
MERGED = "merged"  # the memo's outcome of a run that merged into another (queried again and again before)
_OUTCOME_MEMO_BYTES = 16_000  # an incident of very many rules is queried instead


# An incident's MedicAction: the most telling outcome of its remediations (for "auto-remediated" queries).


def remediation_summary(state: IncidentState) -> str | None:
    outcomes = {t.outcome for t in state.remediations.values()}
    return next((o.value for o in OUTCOME_ORDER if o in outcomes), next(iter(sorted(outcomes)), None))


class Publisher:
    """Writes only what changed since the last revision: every upsert is a history event and a
    visibility write, and during a storm an incident changes many times a second while its status,
    priority and services mostly do not. A new run (or a replay) starts empty and writes everything."""

    def __init__(self) -> None:
        self._attributes: dict[str, object] = {}
        self._memo: dict[str, object] = {}

    def publish(self, state: IncidentState) -> None:
        wanted: list[tuple[SearchAttributeKey[Any], object]] = [
            (sa.STATUS, state.status.value),
            (sa.PRIORITY, state.priority),
            (sa.IMPACT, state.impact),
            (sa.SERVICES, _services_attribute(state.services)),
            (sa.SEVERITY, state.severity),
        ]
        outcome = remediation_summary(state)
        if outcome is not None:
            wanted.append((sa.ACTION, outcome))
        if workflow.patched(TITLE_ATTRIBUTE_PATCH):
            wanted.append((sa.TITLE, fit_text(state.title, TITLE_ATTRIBUTE_BYTES)))
        updates = [key.value_set(value) for key, value in wanted if self._attributes.get(key.name) != value]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._attributes.update({key.name: value for key, value in wanted})
        memo = {
            "title": state.title,
            "alert_count": state.alert_count,
            "opened_at": state.opened_at.isoformat(),
            "acknowledged_at": state.acknowledged_at.isoformat() if state.acknowledged_at else None,
            "resolved_at": state.resolved_at.isoformat() if state.resolved_at else None,
            "merged_into": state.merged_into,
        }
        if state.merged_into is not None and state.status is IncidentStatus.RESOLVED:
            if workflow.patched(OUTCOME_MEMO_PATCH):
                memo[OUTCOME_MEMO] = MERGED  # learning counts it in the incident it joined, unread
        elif state.status is IncidentStatus.RESOLVED:
            if workflow.patched(OUTCOME_MEMO_PATCH):
                memo[OUTCOME_MEMO] = outcome_memo(state)
        elif OUTCOME_MEMO in self._memo:
            memo[OUTCOME_MEMO] = None  # reopened since: not an outcome yet
        changed = {key: value for key, value in memo.items() if self._memo.get(key, ...) != value}
        if changed:
            workflow.upsert_memo(changed)
            self._memo.update(changed)
        workflow.set_current_details(details_markdown(state))


def outcome_memo(state: IncidentState) -> dict[str, object] | None:
    outcome = state.outcome()
    if outcome is None:
        return None
    doc = outcome.model_dump(mode="json", exclude_defaults=True)
    return doc if len(json.dumps(doc)) <= _OUTCOME_MEMO_BYTES else None


def _services_attribute(services: list[str]) -> list[str]:
    """The services as they fit one search attribute value (every one of them in state and memo)."""
    fitting = keyword_list_within(services)
    if len(fitting) < len(services) and workflow.patched(BOUNDED_SERVICES_PATCH):
        return fitting
    return services


def details_markdown(state: IncidentState) -> str:
    """Markdown shown in the Temporal UI's 'Current details' panel."""
    lines = [f"**{state.title}**", ""]
    if state.merged_into:
        lines += [f"Merged into **{state.merged_into}**, which shares its cause.", ""]
    lines += [
        f"Status **{state.status.value}** · priority **{state.priority}** · impact {state.impact:.0f}/100 · "
        f"severity {state.severity}",
        f"Services: {', '.join(state.services) or 'unknown'} · alerts: {state.alert_count} "
        f"({state.firing_count} firing)",
    ]
    if state.impact_detail is not None:
        lines.append(f"Why: {state.impact_detail.explain()}")
    if state.root_causes:
        top = state.root_causes[0]
        lines.append(f"Likely root cause: **{top.service}** ({'; '.join(top.reasons)})")
    if state.absorbed:
        lines.append(f"Merged in: {', '.join(state.absorbed)}")
    lines += ["", "Latest events:"]
    lines += [f"- {e.at:%Y-%m-%d %H:%M:%S}Z {e.message}" for e in state.timeline[-5:]]
    return "\n".join(lines)
