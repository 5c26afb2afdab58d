"""Telling people: the incident's card in every chat (Slack, Teams: ``workflows.chats``), pages
(PagerDuty, Opsgenie and its notes) and JIRA issue, kept in step with its state, and escalation on
durable timers.

Runs as two tasks beside the incident's main loop, so the incident keeps taking signals
while a notifier is slow or down. Everything sent is recorded in
``state.notifications`` before the next step, so a retry, a worker crash or a replay never
sends a message, page or issue twice (Slack posts are the exception when Slack itself
fails after accepting a post: at least once, never silently zero).
"""

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import (
        JiraFile,
        JiraLink,
        JiraNote,
        NotifyActivities,
        PlanRequest,
    )
    from activities.postmortem import PostmortemActivities, PostmortemRequest, PostmortemWritten
    from medic.cards import IncidentCard
    from medic.incident import IncidentState, IncidentStatus
    from medic.names import name_of, named_text
    from medic.notify_state import undecided_approvals
    from medic.ports import Change, IssueRequest, IssueUpdate, Page
    from medic.routing import NotificationPlan, PlannedLevel
    from medic.timeline import TimelineEntry
    from medic.topology import ServiceContext
    from medic.vocab import Priority, TimelineKind
    from workflows.chats import APPROVALS_ASKED_BEFORE_PATCH, Chats
    from workflows.learning import PAGE_AFTER_PATCH, outgrown, outlasted, page_due, plan_rules, tell_demotion
    from workflows.local import Decisions
    from workflows.slack_before import SlackBefore

__all__ = [
    "CHANGE_EVENTS_PATCH",
    "CHAT_PATCH",
    "CLOSE_OUT_PATCH",
    "ESCALATION_CHATS_PATCH",
    "JIRA_ATTACH_PATCH",
    "JIRA_LINK_PATCH",
    "JIRA_PRIORITY_PATCH",
    "JIRA_REOPEN_PATCH",
    "PAGER_ALIAS_PATCH",
    "PAGER_NOTES_PATCH",
    "PAGE_RETRY_PATCH",
    "SETTLE_PATCH",
    "SLACK_CARD_PATCH",
    "Notifier",
]

SETTLE_PATCH = "settle-before-telling"
CLOSE_OUT_PATCH = "merge-close-out"
# The postmortem goes to the JIRA issue as a Markdown file, not a comment (JIRA renders no Markdown).
JIRA_ATTACH_PATCH = "jira-postmortem-attachment"
# A merged incident's JIRA issue is linked to its cause's ("Relates"), by the surviving incident: it
# holds both keys (the merged one's "JIRA issue ... opened." entry comes over with its timeline). Asked
# only where such a link is due, so older histories schedule nothing new.
JIRA_LINK_PATCH = "jira-merge-link"
# What Medic changed (an action executed, a rollback done) goes to the pagers that were paged, as change
# events (PagerDuty Change Events): responders see it next to the incident.
CHANGE_EVENTS_PATCH = "pager-change-events"
_CHANGE_KINDS = frozenset({TimelineKind.ACTION_EXECUTED, TimelineKind.ROLLBACK_DONE})
# Chats besides Slack (Teams), through the channel-neutral notify.chat_post / chat_note: asked only where
# a plan names such a channel (plans recorded before it never do), so older histories schedule nothing new.
CHAT_PATCH = "chat-channels"
# Timeline entries as notes on the pager's alert (Opsgenie), asked only where the plan says the pager
# keeps notes (recorded plans from before never do).
PAGER_NOTES_PATCH = "pager-notes"
# The pager's notes start at the first page as it was *sent*, not as it landed: what the timeline took
# while the page was in flight (an acknowledgement from Slack, an escalation, a remediation during a
# pager outage retried for minutes) was never noted. Asked only where the timeline grew in flight.
NOTES_FROM_SENDING_PATCH = "pager-notes-from-sending"
# Slack as a chat like the others (notify.chat_post / chat_update / chat_note, by the plan's abilities),
# asked once per run when its notifier starts: a run that started before tells Slack the old way to its
# end (workflows.slack_before); the run that continues it as new edits the same message. Such runs post
# every chat through workflows.chats, so they no longer ask CHAT_PATCH.
SLACK_CARD_PATCH = "slack-as-card-chat"
# Once a plan's quiet hours have passed, the loop waits for changes: it woke every millisecond (then its
# debounce and a pass) for as long as the incident stayed open (asked only once the hold has passed).
HOLD_PASSED_PATCH = "hold-passed-waits"
# An escalation level's chat channels besides Slack's (Teams): asked only where a level names one.
ESCALATION_CHATS_PATCH = "escalation-chat-channels"
# A service's incidents share one id: the JIRA issue was found by that id alone, so its next outage (a
# new run) took the first one's issue, already Done (no new ticket, its comments on a closed issue, its
# postmortem not attached). The issue is now found by the occurrence (the id and when it opened); asked
# only where an issue is opened.
JIRA_OCCURRENCE_PATCH = "jira-issue-per-occurrence"
# Opsgenie de-duplicates open alerts by alias: every routing key paged under the incident id made one
# alert, so an escalation to the secondary's or the manager's integration (another API key) only raised
# the first alert's count and reached nobody new. A routing key paged while another one holds the
# incident id's alias gets its own, ``<incident id>:<key name>``, recorded in ``notifications.aliases``
# (acks, closes and notes follow it). Asked only where such a key is first paged.
PAGER_ALIAS_PATCH = "pager-alias-per-key"
# A trigger that failed for good (the pager down or throttling for the 8 attempts) was never sent again
# where the plan escalates: the first alert anyone got was the next level's, to the wrong person, and a
# chat without threads (Teams) had said "paging" and heard no more. The key is recorded in
# ``notifications.failed_pages`` and triggered again at every pass while the incident is open (its next
# change, and a timer on PAGE_RETRY_DELAYS); the failure, and the page going through later, are told in
# every chat. Asked only where a trigger failed for good.
PAGE_RETRY_PATCH = "page-sent-again"
# An incident open again after Medic closed its JIRA issue (an alert fired again as it closed, a merge
# that failed) left the issue Done, and said nothing there: a Jira board showed it over while it paged.
# The issue is now told and moved out of done, and closed again at the next resolution. Asked only where
# the incident is open again with its issue closed by Medic.
JIRA_REOPEN_PATCH = "jira-reopen"
# A JIRA issue kept the priority it was filed with ("[P2] ...", High, medic-p2) when the incident rose to
# P1 (a P1 on the team's board as High, and no word of it there). Its summary, priority and label now
# follow the incident's priority, with a comment saying so. Asked only where the priority differs from
# the issue's (issues filed before this, whose priority was not recorded, are left as they were).
JIRA_PRIORITY_PATCH = "jira-follows-priority"
# A plan is for the priority it was asked with: a delivery that raised the priority while the plan was being
# made (the first Grafana group scored P3, the next, 15 ms later, P2) was taken as planned for, and the P2
# incident paged nobody until its priority changed again (27 minutes, in a walk-through of a Mimir outage).
# Marked only where the priority moved while the plan was made.
PLANNED_PRIORITY_PATCH = "plan-for-its-priority"
# ... and the pass that found it so told nobody on that plan either: a node's incident planned at P4 with
# no owner while its services' incident joined it (P2, their team) posted its first card to the fallback
# channel, then the team's. Before anything is told, a plan the incident moved away from is made again at
# once. Marked only there.
REPLAN_BEFORE_TELLING_PATCH = "plan-again-before-telling"

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
    non_retryable_error_types=["PermanentError"],
)
# A page that failed for good, sent again: one attempt, its own timer backs off (PAGE_RETRY_DELAYS).
_ONCE = RetryPolicy(maximum_attempts=1)
_TIMEOUT = timedelta(seconds=30)
_DEBOUNCE = timedelta(seconds=2)
_PD_SEVERITY = {
    Priority.P1: "critical",
    Priority.P2: "error",
    Priority.P3: "warning",
    Priority.P4: "info",
    Priority.P5: "info",
}
FAILED: Any = object()  # what _call returns when an activity failed for good
_JIRA_KINDS = frozenset(
    {
        TimelineKind.INCIDENT_MERGED,
        TimelineKind.INCIDENT_ACKNOWLEDGED,
        TimelineKind.ESCALATION_LEVEL,
        TimelineKind.INCIDENT_ROOT_CAUSE,
        TimelineKind.REMEDIATION_REFUSED,
    }
)


def _resolved_words(s: IncidentState) -> str:
    """What the issue is closed with: who resolved it by hand and why ("Resolved by Erin Hale (slack):
    rolled back by hand."), where a person did; "Resolved." otherwise (the words were "Resolved." for a
    person's resolution too, their reason on Medic's timeline only)."""
    if s.resolved_by:
        for entry in reversed(s.timeline):
            if entry.kind == TimelineKind.INCIDENT_RESOLVED and entry.actor == s.resolved_by:
                return named_text(entry.message, s.names)
    return "Resolved."


class Notifier:
    def __init__(
        self,
        state: Callable[[], IncidentState],
        *,
        decisions: Decisions,
        settle: timedelta = timedelta(0),
        late_issue: Callable[[TimelineEntry], None] | None = None,
    ) -> None:
        self._state = state
        self._late_issue = late_issue  # told of a JIRA issue opened after the incident merged
        self._decisions = decisions
        self._nothing_to_join = False
        self._settle_until: datetime | None = None  # a later end of the settle period (settle_until)
        self._settle_for = settle
        # Known at once when there is nothing to wait for, so escalation starts exactly as it always did.
        self._settled = settle <= timedelta(0)
        # Whether merges and resolutions are closed out exactly (see _sync, _send_page): asked once, when
        # the notifier starts; histories from before (no ``merge-close-out`` marker) run the old way.
        self._close_out = workflow.patched(CLOSE_OUT_PATCH)
        self._slack_apart = not workflow.patched(SLACK_CARD_PATCH)
        self._paging = 0  # pages in flight from the escalation task
        self._retry_pages = True  # this pass sends again the pages that failed for good
        self._seen = -1
        self._closing = False
        self._handover = False
        self._plan_version = 0
        self._status_told = ""
        self._chats = Chats(
            state,
            call=self._call,
            failed=FAILED,
            card=self.card,
            stopping=lambda: self._handover,
            slack_apart=self._slack_apart,
        )
        self._slack_before = (
            SlackBefore(
                state,
                call=self._call,
                failed=FAILED,
                card=self.card,
                stopping=lambda: self._handover,
                close_out=self._close_out,
                absorbed=self._absorbed_history,
            )
            if self._slack_apart
            else None
        )

    # ---- driven by the workflow ------------------------------------------------------------------

    def close(self) -> None:
        self._closing = True

    @property
    def settled(self) -> bool:
        """Whether it has stopped waiting for the join decision (it tells, or has told)."""
        return self._settled

    def settle_until(self, until: datetime) -> None:
        """Wait for the join decision until ``until`` instead of the plain settle period: later (a cause
        alerting in Prometheus) or sooner (nothing alerts: a short grace for an open peer's answer)."""
        self._settle_until = until

    def nothing_to_join(self) -> None:
        """The incident learnt that nothing will absorb it (no incident open on its nodes): the settle
        period ends now."""
        self._nothing_to_join = True

    def hand_over(self) -> None:
        """Stop after the call in flight, without catching up: the incident is continuing as new and
        the next run's notifier takes over from ``state.notifications``."""
        self._handover = True

    async def _settle(self) -> None:
        """Say nothing until the incident's join decision is made: at most ``settle`` after it opened,
        less if it merges (then it never says anything) or closes first. Only before anything was sent;
        histories from before this existed (no ``settle-before-telling`` marker) tell at once."""
        s = self._state()
        n = s.notifications
        told = bool(n.chat or n.pages or n.jira_key)
        if self._settle_for <= timedelta(0) or told or s.status is IncidentStatus.RESOLVED:
            return

        def end() -> datetime:
            plain = s.opened_at + self._settle_for
            return plain if self._settle_until is None else self._settle_until

        remaining = (end() - workflow.now()).total_seconds()
        if remaining <= 0 or not workflow.patched(SETTLE_PATCH):
            return

        def decided() -> bool:
            return (
                self._state().merged_into is not None
                or self._closing
                or self._handover
                or self._nothing_to_join
            )

        def changed_or_decided(was: datetime | None) -> bool:
            return decided() or self._settle_until != was

        while True:
            extended = self._settle_until
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(partial(changed_or_decided, extended), timeout=remaining)
            if decided() or self._settle_until == extended:
                return  # (a history from before settle_until always ends here: one wait, one timer)
            # Prometheus says its likely cause is on its way: wait longer for the join.
            remaining = (end() - workflow.now()).total_seconds()
            if remaining <= 0:
                return

    async def run(self) -> None:
        """Bring the outside world in step with the state whenever it changes, until closed."""
        await self._settle()
        self._settled = True
        while True:
            s = self._state()
            told = s.notifications.finished or s.revision == self._seen
            if self._handover or (self._closing and told and not self._paging):
                return
            hold = s.notifications.plan.hold_until if s.notifications.plan else None
            timeout = None
            if (
                hold is not None
                and s.status is not IncidentStatus.RESOLVED
                and (hold > workflow.now() or not workflow.patched(HOLD_PASSED_PATCH))
            ):
                timeout = max((hold - workflow.now()).total_seconds(), 0.001)
            # a demoted incident looks again when it would page after all (workflows.learning): at
            # once when that time passed during a pass (a pass checks as it begins), or a minute on
            # when a re-plan asked for no demotion and an older worker answered with it again
            pages_at = page_due(s)
            if pages_at is not None and workflow.patched(PAGE_AFTER_PATCH):
                wait = (pages_at - workflow.now()).total_seconds()
                if wait <= 0:
                    wait = 60.0 if s.notifications.outlasted_at is not None else 0.001
                timeout = wait if timeout is None else min(timeout, wait)

            # a page that failed for good is sent again on a timer (recorded from page-sent-again on)
            retry_at = s.notifications.page_retry_at
            if retry_at is not None and s.status is IncidentStatus.OPEN:
                wait = (retry_at - workflow.now()).total_seconds()
                if wait <= 0:  # one pass sends them; the next failure sets the next time
                    s.notifications.page_retry_at = retry_at = None
                timeout = max(wait, 0.001) if timeout is None else min(timeout, max(wait, 0.001))

            def due(retry_at: datetime | None = retry_at) -> bool:
                closing = self._closing and not self._paging  # a page in flight reports back first
                n = self._state().notifications
                # (a trigger of the escalation task that failed sets a time to send it again)
                retry = n.page_retry_at is not None and n.page_retry_at != retry_at
                return self._state().revision != self._seen or closing or self._handover or retry

            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(due, timeout=timeout)
            if self._handover:
                return
            n = self._state().notifications
            # Woken only because a page failed for good (a time to send it again was set): a pass tells
            # the chats, and sends the page again only when that time comes.
            self._retry_pages = not (
                n.page_retry_at is not None
                and n.page_retry_at != retry_at
                and self._state().revision == self._seen
                and not self._closing
            )
            s = self._state()
            if self._edited_in_place() and s.status.value == self._status_told and not self._closing:
                # A storm changes the state many times a second; Slack allows about one update per
                # second per channel. Let changes settle before telling, unless the status changed.
                await workflow.sleep(_DEBOUNCE)
            self._seen = self._state().revision
            self._status_told = self._state().status.value
            await self._sync()

    async def escalate(self) -> None:
        """Walk the escalation chain on timers measured from when the incident opened."""
        if not self._settled:  # the first page waits for the join decision like everything else
            await workflow.wait_condition(lambda: self._settled)
        while True:
            s = self._state()
            n = s.notifications
            if s.status is not IncidentStatus.OPEN or s.merged_into or n.finished or self._quiet():
                return
            levels = n.plan.escalation if n.plan else []
            version = self._plan_version

            def changed(version: int = version) -> bool:
                escalate_now = self._state().notifications.escalate_now
                return self._plan_version != version or self._quiet() or escalate_now

            if n.escalation_done >= len(levels):
                n.escalate_now = False  # nobody further up the chain: the thread says what failed
                await workflow.wait_condition(changed)
                continue
            level = levels[n.escalation_done]
            # (a demoted incident that paged after all: its chain counts from then, not all levels at once)
            start = n.chain_start(s.opened_at)
            due = start + timedelta(seconds=level.after_seconds)
            # A remediation that did not work escalates now, not when the next level's timer is due.
            wait = 0.0 if n.escalate_now else (due - workflow.now()).total_seconds()
            if wait > 0:
                try:
                    await workflow.wait_condition(changed, timeout=wait)
                    continue  # acknowledged, resolved, merged or re-planned: look again
                except TimeoutError:
                    pass
            n.escalate_now = False
            await self._escalate_to(n.escalation_done, level)

    def _edited_in_place(self) -> bool:
        """A card that is edited in place has been posted (before the patch: a Slack message)."""
        n = self._state().notifications
        if self._slack_apart:
            return bool(n.posted_in("slack"))
        plan = n.plan
        return plan is not None and any(plan.can(p.target.kind).edits for p in n.chat.values())

    def _quiet(self) -> bool:
        s = self._state()
        return (
            s.status is not IncidentStatus.OPEN
            or s.merged_into is not None
            or self._closing
            or self._handover
        )

    # ---- one synchronisation pass ----------------------------------------------------------------

    async def _sync(self) -> None:
        if self._handover:
            return  # the next run catches up from state.notifications
        s = self._state()
        s.derive(workflow.now())  # the main loop may not have run yet in this activation
        n = s.notifications
        if n.finished:
            return
        # Whether this pass tells the end (resolved, or merged into another incident), decided now: a merge
        # that lands while this pass is sending (a post or a page in flight) must get a pass of its own
        # that resolves the page and updates the message, not be taken as told.
        final = s.status is IncidentStatus.RESOLVED or s.merged_into is not None
        if not self._close_out:
            final = True  # histories from before: the end was taken as told by the pass it landed in
        if self._close_out and s.merged_into and not (n.chat or n.pages or n.jira_key):
            n.finished = True  # merged before anything was said: its cause's incident tells people
            return
        # asked at every pass, whatever else calls for a new plan: an alert of a demoted rule that fired
        # longer than the rule's noise ever did pages after all (workflows.learning)
        lasted = outlasted(s, workflow.now())
        if (
            n.plan is None
            or (n.planned_priority != s.priority and s.status is not IncidentStatus.RESOLVED)
            or outgrown(s)  # a demoted plan and a rule it does not cover: plan again (workflows.learning)
            or lasted
        ):
            await self._replan()
            if (
                n.planned_priority != s.priority
                and s.status is not IncidentStatus.RESOLVED
                and not (n.chat or n.pages or n.jira_key)
                and workflow.patched(REPLAN_BEFORE_TELLING_PATCH)
            ):
                await self._replan()  # the incident moved while it was planned: nobody is told on that plan
        plan = n.plan
        if plan is None:
            return
        held = plan.hold_until is not None and workflow.now() < plan.hold_until
        told = n.posted_in("slack") if self._slack_apart else n.chat
        if held and s.status is not IncidentStatus.RESOLVED and not told:
            return  # quiet hours: nothing has been said yet and it can wait
        if self._slack_before is None:
            await self._chats.sync(plan)
        else:  # a run from before slack-as-card-chat: Slack the old way, then the other chats
            await self._slack_before.sync(plan)
            if self._chats.active(plan) and workflow.patched(CHAT_PATCH):
                await self._chats.sync(plan)
        await self._pages(plan)
        if s.notifications.pages and workflow.patched(CHANGE_EVENTS_PATCH):
            await self._changes()
        if n.pages and plan.pager_notes and workflow.patched(PAGER_NOTES_PATCH):
            await self._chats.pager_notes()
        written = await self._postmortem()
        await self._jira(plan, written)
        # Resolved or merged when this pass began: everything has been told (or its failure recorded).
        n.finished = final and (s.status is IncidentStatus.RESOLVED or s.merged_into is not None)

    async def _replan(self) -> None:
        s = self._state()
        owner = s.owner
        services = [s.contexts.get(x) or ServiceContext(name=x, in_catalog=False) for x in s.services]
        # The policy lives in the worker and the decision is recorded in history (workflows/local.py).
        request = PlanRequest(
            priority=s.priority,
            owner=owner,
            services=services,
            first=s.notifications.plan is None,
            rules=plan_rules(s),
            demote=s.notifications.outlasted_at is None,
        )
        before = s.notifications.plan.demoted if s.notifications.plan else None
        plan: NotificationPlan = await self._decisions.run(
            NotifyActivities.plan, request, timeout=timedelta(seconds=10), retry=_RETRY
        )
        planned = s.priority
        if planned != request.priority and workflow.patched(PLANNED_PRIORITY_PATCH):
            planned = Priority(request.priority)  # the next pass plans again, for the one it has now
        s.notifications.plan, s.notifications.planned_priority = plan, planned
        self._plan_version += 1
        tell_demotion(s, before, plan)  # a demotion by learning (or its end) on the timeline

    async def _call(
        self,
        method: Any,
        arg: Any,
        what: str,
        *,
        chat: str | None = None,
        page: str | None = None,
        retry: RetryPolicy = _RETRY,
    ) -> Any:
        """Run a notification activity; a failure for good is recorded (with the ``chat`` it was for,
        which is not told of its own failures; with the routing key of a ``page``, told in every chat)
        and returns FAILED."""
        try:
            return await workflow.execute_activity_method(
                method, arg, start_to_close_timeout=_TIMEOUT, retry_policy=retry
            )
        except ActivityError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            # On the timeline (and so in the thread, unless it was that chat that failed), without a new
            # revision: a revision would make the notifier try the failed call again, and again.
            slack = getattr(method, "__name__", "").startswith("slack") or chat == "slack"
            told = page is not None and workflow.patched(PAGE_RETRY_PATCH)
            self._state().record(
                workflow.now(),
                TimelineKind.NOTIFICATION_FAILED,
                f"Could not {what}: {reason}.",
                target=what,
                slack=slack,
                **({"chat": chat} if chat else {}),
                **({"page": page} if told and page is not None else {}),
            )
            return FAILED

    # ---- postmortem ------------------------------------------------------------------------------

    async def _postmortem(self) -> PostmortemWritten | None:
        """Once resolved (not merged: the incident it merged into writes one), write the postmortem
        and tell the chats (in Slack's thread, in each Teams channel); the JIRA issue gets it before it
        closes."""
        s = self._state()
        n = s.notifications
        if s.status is not IncidentStatus.RESOLVED or s.merged_into or n.postmortem:
            return None
        written = await self._call(
            PostmortemActivities.write, PostmortemRequest(incident_id=s.id), "write the postmortem"
        )
        if written is FAILED:
            n.postmortem = "failed"
            return None
        assert isinstance(written, PostmortemWritten)
        n.postmortem = written.path
        s.record(
            workflow.now(),
            TimelineKind.POSTMORTEM_WRITTEN,
            f"Postmortem written: {written.url}",
            path=written.path,
            url=written.url,
        )
        if self._slack_before is not None:
            await self._slack_before.postmortem(written)
        await self._chats.postmortem(written)  # before the patch: chats besides Slack (none: no call)
        return written

    # ---- chats -----------------------------------------------------------------------------------

    def card(self) -> IncidentCard:
        s = self._state()
        top = s.root_causes[0] if s.root_causes else None
        first = next((a.generator_url for a in s.alerts.values() if a.generator_url), None)
        links = next((a.links for a in s.alerts.values() if a.links), {})  # (Grafana's)
        return IncidentCard(
            incident_id=s.id,
            title=s.title,
            status=s.status.value,
            priority=s.priority,
            impact=s.impact,
            impact_summary=s.impact_detail.explain() if s.impact_detail else "",
            services=s.services,
            root_cause=top.service if top else None,
            root_cause_reasons=top.reasons if top else [],
            alert_count=s.alert_count,
            firing_count=s.firing_count,
            opened_at=s.opened_at,
            acknowledged_by=s.acknowledged_by and name_of(s.acknowledged_by, s.names),
            merged_into=s.merged_into,
            generator_url=first,
            links=links,
            routing_note=self._demotion_note(),
            self_healing=s.self_healing or None,
            anomaly_count=len(s.anomalies),
            latest_anomaly=max(s.anomalies.values(), key=lambda a: a.last_seen_at).signal.described()
            if s.anomalies
            else None,
        )

    def _demotion_note(self) -> str | None:
        plan = self._state().notifications.plan
        if plan is None or plan.demoted is None:
            return None
        return plan.demoted.message(plan.rule)

    def _absorbed_history(self, entry: TimelineEntry) -> bool:
        """An entry a merged incident brought along: told already where it happened (or never, if that
        incident merged before telling). The surviving incident's own ``incident.merged`` entry says once
        which incident joined; its history is in the timeline, not posted again as new."""
        return "from_incident" in entry.data and self._close_out

    # ---- PagerDuty ---------------------------------------------------------------------------------

    def _alias(self, action: str, key: str) -> str | None:
        """The alias of ``key``'s alert (Opsgenie's): the incident id for the first key paged (None: the
        dedup key), its own for any other (decided at its first trigger, recorded)."""
        s = self._state()
        n = s.notifications
        if key in n.aliases:
            return n.aliases[key]
        if (
            action == "trigger"
            and key not in n.pages
            and n.holds_incident_alias(key)
            and workflow.patched(PAGER_ALIAS_PATCH)
        ):
            n.aliases[key] = f"{s.id}:{key}"[:512]
            return n.aliases[key]
        return None

    def _page(self, action: str, key: str) -> Page:
        s = self._state()
        n = s.notifications
        alias = self._alias(action, key)
        # An incident paged before pager-alias-per-key shares one alias among its keys: its alert is
        # acknowledged or closed once, by the first key (Opsgenie's adapter sends nothing for the others).
        shared = n.alias(key, s.id)
        told_by = (
            [k for k in sorted(n.pages) if k != key and n.alias(k, s.id) == shared and n.pages[k] == action]
            if action != "trigger"
            else []
        )
        return Page(
            action=action,
            dedup_key=s.id,
            alias=alias,
            told_by=told_by,
            routing_key_name=key,
            summary=f"[{s.priority}] {s.title}"[:1024],
            severity=_PD_SEVERITY.get(s.priority, "error"),
            priority=s.priority if s.priority in _PD_SEVERITY else None,
            component=", ".join(s.services)[:255] or None,
            group=s.root_causes[0].service if s.root_causes else None,
            custom_details={
                "impact": s.impact,
                "why": s.impact_detail.explain() if s.impact_detail else "",
                "services": s.services,
                "alerts": s.alert_count,
                "incident": s.id,
                **({"merged_into": s.merged_into} if s.merged_into else {}),
                **({"self_healing": s.self_healing} if s.self_healing else {}),
            },
            links=_page_links(s) if action == "trigger" else [],
        )

    async def _send_page(self, action: str, key: str, *, again: bool = False) -> None:
        """``again``: a trigger that failed for good, sent again in one attempt: its timer does the
        backing off, and a series of 8 attempts (minutes against a throttling Opsgenie) paged the
        primary after the incident was acknowledged, and held the notifier's pass meanwhile (a review)."""
        n = self._state().notifications
        if n.pages.get(key) == action:
            return
        sending = len(self._state().timeline)  # what the timeline held when the page went out
        self._paging += 1 if self._close_out else 0
        pager = self._pager_name(key)
        try:
            sent = await self._call(
                NotifyActivities.page,
                self._page(action, key),
                f"{action} {pager} ({key})",
                page=key if action == "trigger" else None,
                retry=_ONCE if again else _RETRY,
            )
        finally:
            self._paging -= 1 if self._close_out else 0
        if sent is FAILED and action == "trigger" and workflow.patched(PAGE_RETRY_PATCH):
            n.page_failed(key, workflow.now())  # (asked already where it was recorded: no new marker)
        if sent is not FAILED:
            n.pages[key] = action
            s = self._state()
            if n.note_cursor is None and action == "trigger":
                # pager notes (if any) take what follows the first page, from when it was sent
                grew = len(s.timeline) > sending
                n.note_cursor = (
                    sending if grew and workflow.patched(NOTES_FROM_SENDING_PATCH) else len(s.timeline)
                )
                notes = n.plan is not None and n.plan.pager_notes  # (a pager that keeps none: nothing owed)
                waiting = undecided_approvals(s.timeline[: n.note_cursor]) if notes else []
                if waiting and workflow.patched(APPROVALS_ASKED_BEFORE_PATCH):
                    n.note_backlog = waiting  # asked before the page and still waiting: told on it too
                    s.revision += 1  # (by the next pass: a page the escalation chain sent comes outside one)
            if (
                self._close_out
                and action == "trigger"
                and (s.merged_into or s.status is IncidentStatus.RESOLVED)
            ):
                # The incident merged or resolved while this page was in flight: one more pass resolves it.
                n.finished = False
                s.revision += 1
            again = action == "trigger" and n.page_through(key)
            if again:
                s.revision += 1  # one more pass tells the chats it went through
            self._state().record(
                workflow.now(),
                TimelineKind.NOTIFICATION_SENT,
                f"{pager} {action} sent to {key}" + (", after it had failed." if again else "."),
                routing_key_name=key,
                action=action,
                **({"page": key} if again else {}),
            )

    def _pager_name(self, key: str) -> str:
        """The pager(s) ``key`` pages, as the worker named them in the plan (PagerDuty in plans before)."""
        plan = self._state().notifications.plan
        return plan.pagers.get(key, "PagerDuty") if plan is not None else "PagerDuty"

    async def _pages(self, plan: NotificationPlan) -> None:
        s = self._state()
        n = s.notifications
        wanted = s.status is IncidentStatus.OPEN and not s.merged_into
        for key in list(n.failed_pages):  # triggers that failed for good (from page-sent-again on)
            if wanted and n.pages.get(key) != "trigger":
                if self._retry_pages:
                    await self._send_page("trigger", key, again=True)
            else:  # acknowledged, resolved or merged meanwhile (or sent since): nobody waits for it
                n.page_through(key)
        if plan.pagerduty and not plan.escalation and wanted and plan.pagerduty not in n.failed_pages:
            await self._send_page("trigger", plan.pagerduty)
        if s.status is IncidentStatus.ACKNOWLEDGED:
            for key, action in list(n.pages.items()):
                if action == "trigger":
                    await self._send_page("acknowledge", key)
        if s.status is IncidentStatus.RESOLVED or s.merged_into:
            for key, action in list(n.pages.items()):
                if action != "resolve":
                    await self._send_page("resolve", key)

    async def _changes(self) -> None:
        """Each change Medic made since the last pass, once, to every routing key the incident paged."""
        s = self._state()
        n = s.notifications
        while n.change_cursor < len(s.timeline) and not self._handover:
            entry = s.timeline[n.change_cursor]
            n.change_cursor += 1
            if entry.kind not in _CHANGE_KINDS or self._absorbed_history(entry):
                continue
            for key in sorted(n.pages):
                change = Change(
                    routing_key_name=key,
                    summary=f"Medic ({s.id}): {named_text(entry.message, s.names)}"[:1024],
                    source="medic",
                    timestamp=entry.at.isoformat(),
                    custom_details={"incident": s.id, "kind": entry.kind, "services": s.services},
                )
                await self._call(NotifyActivities.page_change, change, "record the change in PagerDuty")

    async def _escalate_to(self, index: int, level: PlannedLevel) -> None:
        # Levels named Slack channels only, before: the others join where a level names them.
        chats = [t for t in level.chat if t.kind == "slack"]
        others = [t for t in level.chat if t.kind != "slack"]
        if others and workflow.patched(ESCALATION_CHATS_PATCH):
            chats += others
        self._state().escalated(
            workflow.now(), level=index + 1, keys=level.routing_key_names, chats=chats, note=level.note
        )
        for key in level.routing_key_names:
            await self._send_page("trigger", key)

    # ---- JIRA ----------------------------------------------------------------------------------

    async def _jira(self, plan: NotificationPlan, written: "PostmortemWritten | None" = None) -> None:
        s = self._state()
        n = s.notifications
        if (
            plan.jira_project
            and not n.jira_key
            and s.status is not IncidentStatus.RESOLVED
            and not s.merged_into
        ):
            filed_as = s.priority
            request = IssueRequest(
                project=plan.jira_project,
                summary=_summary(s),
                description=self._describe(),
                priority=plan.jira_priority(s.priority),
                issue_type=plan.jira_issue_type,
                labels=["medic", f"medic-{s.priority.lower()}"],
                components=s.services[:5],
                dedup_label=_occurrence_label(s) if workflow.patched(JIRA_OCCURRENCE_PATCH) else s.id,
                incident_id=s.id,
                fields=plan.jira_fields,
            )
            key = await self._call(
                NotifyActivities.jira_ensure, request, f"open a JIRA issue in {plan.jira_project}"
            )
            if key is not FAILED:
                n.jira_key, n.jira_priority = key, filed_as
                n.jira_cursor = len(s.timeline)
                s.record(
                    workflow.now(), TimelineKind.NOTIFICATION_SENT, f"JIRA issue {key} opened.", jira=key
                )
                if s.merged_into is not None and self._late_issue is not None:
                    self._late_issue(s.timeline[-1])  # the merge landed while it was being created
        if not n.jira_key:
            return
        if (
            (n.jira_closed or n.jira_reopen)
            and s.status is not IncidentStatus.RESOLVED
            and not s.merged_into
            and workflow.patched(JIRA_REOPEN_PATCH)
        ):
            # Marked as being reopened until the answer is back (an incident paging nobody has no chain
            # restarted to mark it): its webhook's event of this move, out before the answer, is Medic's.
            n.jira_closed, n.jira_reopen = False, True
            await self._call(
                NotifyActivities.jira_reopen,
                JiraNote(key=n.jira_key, text=self._open_again()),
                f"reopen {n.jira_key}",
            )
            n.jira_reopen, n.jira_moved_at = False, workflow.now()
        if (
            n.jira_priority is not None
            and n.jira_priority != s.priority
            and s.status is not IncidentStatus.RESOLVED
            and not s.merged_into
            and workflow.patched(JIRA_PRIORITY_PATCH)
        ):
            was, n.jira_priority = n.jira_priority, s.priority
            scored = next((e for e in reversed(s.timeline) if e.kind == TimelineKind.INCIDENT_SCORED), None)
            moved = "raised" if s.priority < was else "lowered"
            update = IssueUpdate(
                key=n.jira_key,
                summary=_summary(s),
                priority=plan.jira_priority(s.priority),
                labels_add=[f"medic-{s.priority.lower()}"],
                labels_remove=[f"medic-{was.lower()}"],
                comment=f"Priority {moved} from {was} to {s.priority}."
                + (f"\n{scored.message}" if scored else ""),
            )
            await self._call(NotifyActivities.jira_update, update, f"update {n.jira_key}")
        while n.jira_cursor < len(s.timeline) and not self._handover:
            entry = s.timeline[n.jira_cursor]
            n.jira_cursor += 1
            if entry.kind in _JIRA_KINDS and not self._absorbed_history(entry):
                await self._call(
                    NotifyActivities.jira_comment,
                    JiraNote(key=n.jira_key, text=named_text(entry.message, s.names)),
                    f"comment on {n.jira_key}",
                )
        if written is not None and workflow.patched(JIRA_ATTACH_PATCH):
            await self._call(
                NotifyActivities.jira_attach,
                JiraFile(key=n.jira_key, filename=f"{s.id}-postmortem.md", content=written.markdown),
                f"attach the postmortem to {n.jira_key}",
            )
        elif written is not None:
            await self._call(
                NotifyActivities.jira_comment,
                JiraNote(key=n.jira_key, text=written.markdown[:30000]),
                f"attach the postmortem to {n.jira_key}",
            )
        await self._jira_links()
        if (s.status is IncidentStatus.RESOLVED or s.merged_into) and not n.jira_closed:
            done = f"Merged into {s.merged_into}." if s.merged_into else _resolved_words(s)
            # Marked closed either way: a failure is on the timeline, and retrying forever helps nobody.
            n.jira_closed = True
            await self._call(
                NotifyActivities.jira_close, JiraNote(key=n.jira_key, text=done), f"close {n.jira_key}"
            )
            n.jira_moved_at = workflow.now()

    async def _jira_links(self) -> None:
        """Link each absorbed incident's JIRA issue to this one's, once: the key is recorded before the
        call (a failure is on the timeline; a retried activity links nothing twice, JIRA adds no
        duplicate link)."""
        s = self._state()
        n = s.notifications
        while n.jira_key and n.jira_link_cursor < len(s.timeline) and not self._handover:
            entry = s.timeline[n.jira_link_cursor]
            n.jira_link_cursor += 1
            other = entry.data.get("jira")
            if (
                entry.kind != TimelineKind.NOTIFICATION_SENT
                or "from_incident" not in entry.data
                or not isinstance(other, str)
                or other == n.jira_key
                or other in n.jira_linked
                or not workflow.patched(JIRA_LINK_PATCH)
            ):
                continue
            n.jira_linked.append(other)
            await self._call(
                NotifyActivities.jira_link,
                JiraLink(key=other, other_key=n.jira_key, kind="Relates"),
                f"link {other} to {n.jira_key}",
            )

    def _open_again(self) -> str:
        """What the reopened issue is told: why the incident is open again, and what fired."""
        s = self._state()
        why = next(
            (
                e.message
                for e in reversed(s.timeline)
                if e.kind in (TimelineKind.INCIDENT_REOPENED, TimelineKind.INCIDENT_UNMERGED)
            ),
            "",
        )
        fired = next((e.message for e in reversed(s.timeline) if e.kind == TimelineKind.ALERT_FIRING), "")
        return "\n".join(line for line in ("The incident is open again.", why, fired) if line)

    def _describe(self) -> str:
        s = self._state()
        lines = [
            f"Impact: {s.impact_detail.explain() if s.impact_detail else s.impact}",
            f"Services: {', '.join(s.services)}",
            f"Likely root cause: {s.root_causes[0].service if s.root_causes else 'unknown'}",
            f"Alerts: {s.alert_count}",
            f"Medic incident: {s.id} (timeline in the Temporal UI)",
        ]
        return "\n".join(lines)


def _page_links(s: IncidentState) -> list[dict[str, str]]:
    """Where the person paged looks first: the alert's source (its rule or graph) and, for a Grafana
    alert, its dashboard and panel. Pages carried none (a Grafana team's walk-through, 2026-12-07)."""
    first = next((a for a in s.alerts.values() if a.generator_url or a.links), None)
    if first is None:
        return []
    links = [{"href": first.generator_url, "text": "Alert source"}] if first.generator_url else []
    links += [
        {"href": url, "text": f"Grafana {name}"}
        for name, url in first.links.items()
        if name in ("dashboard", "panel")
    ]
    return [link for link in links if link["href"].startswith(("https://", "http://"))]


def _summary(s: IncidentState) -> str:
    return f"[{s.priority}] {s.title}"[:255]


def _occurrence_label(s: IncidentState) -> str:
    """This occurrence of the incident as a JIRA label (no spaces, at most 255): its id and when it
    opened, as its postmortem's folder names it."""
    return f"{s.id[:238]}-{s.opened_at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
