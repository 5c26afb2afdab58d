"""Medic's learning as the notifier applies it: the alert rules an incident stands for (sent with each
plan request), when a demoted plan must be made again, and the timeline entries saying that a demotion
began or was lifted.

The decision itself is the plan's: the ``notify.plan`` local activity asks
``medic.routing.plan_notifications`` with the worker's current demotions (``service.insights.
LearningLoop``), so it is in history and a replay reads it back; nothing here reads a clock or a file.
Histories from before this never hold a demoted plan, so they never reach the ``learning-demotion``
patch.
"""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from medic.alerts import AlertStatus
    from medic.incident import IncidentState, IncidentStatus
    from medic.insights import ANOMALY_RULE, DEMOTED_BY, Demotion, covers
    from medic.routing import NotificationPlan
    from medic.vocab import TimelineKind

__all__ = [
    "DEMOTE_PATCH",
    "MAX_RULES",
    "PAGE_AFTER_PATCH",
    "SCAN_RULES_PATCH",
    "outgrown",
    "outlasted",
    "page_due",
    "plan_rules",
    "tell_demotion",
]

# The timeline says when a plan was demoted to chat only by learning, or no longer is.
DEMOTE_PATCH = "learning-demotion"
# A demoted incident still firing past its demotion's page_after_seconds pages after all. Only demotions
# made since carry it: histories from before never reach the patch.
PAGE_AFTER_PATCH = "learning-page-after-firing"
# Since 0.2.0 a Medic scan's finding is a rule of its own (anomaly:medic-scan/<scan>), counted beside an
# incident's alert rules: a demoted incident that a finding joins plans again (marked only there).
SCAN_RULES_PATCH = "learning-scan-rules"
# An incident of more alert rules than this is never demoted (the plan request would grow with a storm).
MAX_RULES = 50


def _rules(state: IncidentState) -> list[str]:
    return state.learning_rules()


def plan_rules(state: IncidentState) -> list[str]:
    """The incident's alert rules for the plan request; none (so no demotion) past ``MAX_RULES``."""
    rules = _rules(state)
    return rules if len(rules) <= MAX_RULES else []


def outgrown(state: IncidentState) -> bool:
    """A demoted plan covers the rules it was made for only: an alert of another rule (or a merge that
    brings one) plans again, and that rule may page."""
    plan = state.notifications.plan
    if plan is None or plan.demoted is None or state.status is IncidentStatus.RESOLVED:
        return False
    demoted = plan.demoted.rules
    # as before 0.2.0; a demotion of a scan's own rule covers the whole source as that counted it
    # (demotions from before never named one: they replay as they ran)
    scans = {r.split("/", 1)[0] for r in demoted if r.startswith(ANOMALY_RULE) and "/" in r}
    if not set(state.learning_rules_before_scans()) <= set(demoted) | scans:
        return True
    if all(covers(demoted, rule) for rule in _rules(state)):
        return False
    # a rule counted since (a scan's finding beside demoted alerts): past the marker only, so an
    # incident demoted before replays as it ran
    return workflow.patched(SCAN_RULES_PATCH)


def page_due(state: IncidentState) -> datetime | None:
    """When a demoted incident pages after all, unacknowledged: when the first of its demoted rules'
    alerts firing now will have fired the demotion's ``page_after_seconds`` (longer than any of those
    rules' alerts nobody acted on fired, measured as learning measures it: from the alert's start,
    Prometheus' once its ``for:`` has passed). None when the plan is not demoted or names no such
    time, no alert of its rules fires, or the incident is not open (acknowledged, resolved, merged).
    An older worker that answered the re-plan with the demotion again leaves it due."""
    plan = state.notifications.plan
    demoted = plan.demoted if plan is not None else None
    if (
        demoted is None
        or demoted.page_after_seconds is None
        or state.status is not IncidentStatus.OPEN
        or state.merged_into is not None
    ):
        return None
    since = _firing_since(state, demoted)
    return since + timedelta(seconds=demoted.page_after_seconds) if since is not None else None


def _firing_since(state: IncidentState, demoted: Demotion) -> datetime | None:
    """When the longest-firing alert of the demoted rules that fires now started."""
    rules = set(demoted.rules)
    return min(
        (a.starts_at for a in state.alerts.values() if a.status is AlertStatus.FIRING and a.name in rules),
        default=None,
    )


def outlasted(state: IncidentState, now: datetime) -> bool:
    """A demoted incident past :func:`page_due`: it is planned again without the demotion, and from
    then on pages as its routing rule says (``notifications.outlasted_at``: its escalation counts from
    then). Asks the patch only where it applies."""
    due = page_due(state)
    if due is None or now < due or not workflow.patched(PAGE_AFTER_PATCH):
        return False
    if state.notifications.outlasted_at is None:
        state.notifications.outlasted_at = now
    return True


def tell_demotion(state: IncidentState, before: Demotion | None, plan: NotificationPlan) -> None:
    """After a new plan: a timeline entry when it is demoted (who, why, the evidence), or when the
    previous one was and this one pages again. A re-plan that keeps the same demotion says nothing."""
    after = plan.demoted
    if after is not None and before is not None and (after.team, after.rules) == (before.team, before.rules):
        return
    pages = bool(plan.pagerduty or plan.escalation or plan.jira_project)
    if after is None and (before is None or not pages):
        return
    if not workflow.patched(DEMOTE_PATCH):
        return
    now = workflow.now()
    if after is not None:
        state.record(
            now,
            TimelineKind.LEARNING_DEMOTED,
            after.message(plan.rule),
            actor=after.by,
            team=after.team,
            rules=after.rules,
            evidence=after.evidence,
        )
        return
    assert before is not None
    rules = _rules(state)
    if state.notifications.outlasted_at is not None and before.page_after_seconds is not None:
        since = _firing_since(state, before)
        fired = (now - since).total_seconds() / 60 if since is not None else before.page_after_seconds / 60
        why = (
            f"an alert of {', '.join(before.rules[:10])} has fired {fired:.0f} min, longer than any of "
            f"theirs nobody acted on fired ({before.page_after_seconds // 60} min)"
        )
    else:
        why = (
            f"not every rule of the incident ({', '.join(rules[:10])}{', ...' if len(rules) > 10 else ''})"
            f" is demoted for team {before.team} now"
        )
    state.record(
        now,
        TimelineKind.LEARNING_LIFTED,
        f"No longer demoted to chat only: {why}. Notifying as routing rule {plan.rule} says.",
        actor=DEMOTED_BY,
        team=before.team,
        rules=rules[:MAX_RULES],
    )
