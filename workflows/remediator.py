"""The incident's side of self-healing: match firing alerts to runbooks, start one remediation per
target, tell it when its alerts resolve, and put what it reports on the incident's timeline."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.remediate import MatchRequest, MatchResult, RemediationActivities
    from medic.alerts import Alert, AlertStatus
    from medic.incident import AlertRecord, IncidentState, IncidentStatus
    from medic.limits import runs_within
    from medic.notify_state import APPROVAL_KINDS
    from medic.vocab import RUNNING, RemediationOutcome, TimelineKind, parse_outcome
    from remediations.plan import RemediationEvent
    from workflows.local import DECISION_BYTES, Decisions
    from workflows.remediation import RemediationInput, RemediationWorkflow

CAUSE_FIRST_PATCH = "remediate-cause-first"
# Alerts that arrived (a merge, a delivery) while the incident was busy (a match or its messages in flight)
# are looked at without waiting for the next change: the incident's loop would take them as seen.
ARRIVED_WHILE_BUSY_PATCH = "remediate-arrivals-while-busy"
# Marked where an incident records a refused step's ``remediation.refused`` entry (told in its chats, pager
# notes and issue): a worker of the release before took such a report and recorded nothing of the kind.
REFUSALS_TOLD_PATCH = "refusals-told"
# Marked where a guardrail blocked a remediation while the incident's alerts fire (the kill switch, a
# cooldown, the hourly budget, the namespace allowlist): it was on the timeline only, and the channel never
# learnt that self-healing had not acted, nor why. Now said as a refusal is (thread, card, pager notes).
BLOCKS_TOLD_PATCH = "blocks-told"
# An approval asked or decided is told in chats without buttons (Teams) and noted on the pager's alerts
# (Opsgenie): only Slack heard of it, so a Teams-only team never knew a fix waited for it and every one
# timed out and escalated. Asked at an approval's report only.
APPROVALS_TOLD_PATCH = "approvals-told"

__all__ = ["APPROVALS_TOLD_PATCH", "ARRIVED_WHILE_BUSY_PATCH", "CAUSE_FIRST_PATCH", "RUNNING", "Remediator"]

_MATCH_RETRY = RetryPolicy(maximum_attempts=3)


class Remediator:
    def __init__(
        self,
        state: Callable[[], IncidentState],
        send: Callable[[str, str], None],
        *,
        decisions: Decisions,
    ) -> None:
        self._state = state
        self._decisions = decisions
        self._send = send  # (workflow id, signal name) without payload
        self._looked_at = -1  # the state revision last considered: nothing new, nothing to match
        self._held_told: set[str] = set()  # symptom services whose waiting is on the timeline already
        self._seen_fresh: set[str] = set()  # the fresh alerts' fingerprints at the last look

    def behind(self) -> bool:
        """Whether alerts arrived since the last look that it has not looked at: the state changed
        after :meth:`consider` took its revision (while it matched, or while the incident sent its
        messages), so the incident's loop would otherwise wait for a change that already happened."""
        s = self._state()
        if s.revision == self._looked_at or s.merged_into or s.status is IncidentStatus.RESOLVED:
            return False
        return any(r.fingerprint not in self._seen_fresh for r in self._fresh_records())

    async def _match(self, incident_id: str, owner: str | None, alerts: list[Alert]) -> MatchResult:
        """The runbooks' plans for ``alerts``: in requests within the server's payload limit when the
        decisions are activities (workflows/local.py), merged as one request's answer."""
        runs = runs_within(alerts, room=DECISION_BYTES) if self._decisions.remote else [range(len(alerts))]

        async def match(run: range) -> MatchResult:
            request = MatchRequest(
                incident_id=incident_id, service=owner, alerts=alerts[run.start : run.stop]
            )
            return await self._decisions.run(
                RemediationActivities.match, request, timeout=timedelta(seconds=10), retry=_MATCH_RETRY
            )

        result = await match(runs[0])
        for run in runs[1:]:
            result.merge(await match(run))
        return result

    def _fresh_records(self) -> list[AlertRecord]:
        return [
            record
            for record in self._state().alerts.values()
            if record.status is AlertStatus.FIRING
            and not record.flapping
            and record.matched_episode != record.starts_at
        ]

    def _fresh_alerts(self) -> list[Alert]:
        """Firing alert episodes not matched to runbooks yet (``AlertRecord.matched_episode``; a failed
        match is tried again with the next change)."""
        return [
            Alert(
                fingerprint=record.fingerprint,
                status=record.status,
                labels=record.labels,
                annotations=record.annotations,
                starts_at=record.starts_at,
                generator_url=record.generator_url,
                source=record.source,
                service=record.service,
                subject=record.subject,
            )
            for record in self._fresh_records()
        ]

    async def consider(self) -> None:
        """Start remediations for alerts that fired since the last look (not for merged or resolved ones)."""
        s = self._state()
        if s.merged_into or s.status is IncidentStatus.RESOLVED:
            return
        if s.revision == self._looked_at:
            return
        self._looked_at = s.revision
        self._tell_resolved()
        alerts = self._fresh_alerts()
        self._seen_fresh = {a.fingerprint for a in alerts}
        owner = s.root_causes[0].service if s.root_causes else (s.services[0] if s.services else None)
        alerts = self._cause_first(alerts, owner)
        if not alerts:
            return
        try:
            result = await self._match(s.id, owner, alerts)
        except ActivityError as err:
            # Not considered yet: tried again with the next change (no new revision here, or this
            # would retry at once, for ever).
            s.record(
                workflow.now(),
                TimelineKind.REMEDIATION_ERROR,
                f"Could not match runbooks: {err.cause or err}.",
            )
            return
        for alert in alerts:  # the episodes matched, unless one has moved on meanwhile
            record = s.alerts.get(alert.fingerprint)
            if record is not None and record.starts_at == alert.starts_at:
                record.matched_episode = alert.starts_at
        for problem in result.problems:
            s.record(workflow.now(), TimelineKind.REMEDIATION_SKIPPED, f"{problem}.")
        for plan in result.plans:
            held = s.remediations.get(plan.workflow_id)
            if held is not None and held.outcome in RUNNING:
                held.fingerprints += [f for f in plan.fingerprints if f not in held.fingerprints]
                continue
            # None yet, or the last one finished (denied, failed, verified...) and the symptom is back:
            # a new remediation, under the same guardrails (cooldown, rate) as the first.
            # Approval requests are Slack's (buttons): in the thread of the incident's Slack message.
            posted = s.notifications.home("slack")
            home = posted.ref if posted else None
            routed = s.notifications.plan
            fallback = routed.fallback_channel("slack") if routed else None
            channel = home.channel if home else fallback or "#incidents"
            try:
                await workflow.start_child_workflow(
                    RemediationWorkflow.run,
                    RemediationInput(
                        plan=plan,
                        guardrails=result.guardrails,
                        impact=s.impact,
                        approval_channel=channel,
                        approval_thread=home,
                    ),
                    id=plan.workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    static_summary=f"{plan.runbook.name} on {plan.target} for {s.id}",
                )
            except WorkflowAlreadyStartedError:
                s.remediation_blocked(
                    workflow.now(),
                    remediation_id=plan.workflow_id,
                    message=f"Runbook {plan.runbook.name} not started: another "
                    f"remediation is already acting on {plan.target}.",
                )
                continue
            s.remediation_started(
                workflow.now(),
                remediation_id=plan.workflow_id,
                runbook=plan.runbook.name,
                fingerprints=plan.fingerprints,
                message=f"Runbook {plan.runbook.name} matched {plan.alertname}: "
                f"remediating {plan.target} ({plan.workflow_id}).",
            )

    def _cause_first(self, alerts: list[Alert], cause: str | None) -> list[Alert]:
        """Runbooks act on the ranked root cause. A symptom's alerts wait (unmatched, so they are looked
        at again with every change) while the cause still fires or a remediation of this incident is
        running or verifying: a symptom that clears with its cause needs no remediation of its own, one
        that outlasts it gets one then. Histories from before (no ``remediate-cause-first`` marker)
        matched every alert at once."""
        s = self._state()
        if cause is None or not any(a.service not in (None, cause) for a in alerts):
            return alerts
        if not workflow.patched(CAUSE_FIRST_PATCH):
            return alerts
        cause_fires = any(r.status is AlertStatus.FIRING and r.service == cause for r in s.alerts.values())
        fixing = any(t.outcome in RUNNING for t in s.remediations.values())
        if not cause_fires and not fixing:
            return alerts
        held = sorted({a.service for a in alerts if a.service not in (None, cause)} - self._held_told)
        if held:
            self._held_told.update(held)
            why = "is being remediated" if fixing else "still fires"
            s.record(
                workflow.now(),
                TimelineKind.REMEDIATION_WAITING,
                f"Runbooks for {', '.join(held)} wait: the root cause {cause} {why}. They run only if "
                "those symptoms outlast it.",
                services=held,
                cause=cause,
            )
        return [a for a in alerts if a.service in (None, cause)]

    def _tell_resolved(self) -> None:
        """A remediation verifying by "alerts resolved", or about to act, must learn its alerts resolved."""
        s = self._state()
        for remediation_id, track in s.remediations.items():
            if track.told_resolved or track.outcome not in RUNNING:
                continue
            records = [s.alerts.get(fp) for fp in track.fingerprints]
            if all(r is not None and r.status is AlertStatus.RESOLVED for r in records):
                track.told_resolved = True
                self._send(remediation_id, "alerts_resolved")

    def on_event(self, event: RemediationEvent) -> None:
        outcome = parse_outcome(event.data["outcome"]) if "outcome" in event.data else None
        if outcome is None and "outcome" in event.data:
            workflow.logger.warning(
                "unknown remediation outcome %r from %s", event.data["outcome"], event.remediation_id
            )
        s = self._state()
        reconciler = _reconciler(event)
        blocked = (
            event.kind == TimelineKind.GUARDRAIL_BLOCKED
            and outcome is RemediationOutcome.BLOCKED
            and not reconciler
            and not event.escalate
            and s.is_firing  # (alerts that resolved: nothing to fix, nothing to tell)
        )
        s.remediation_reported(
            workflow.now(),
            remediation_id=event.remediation_id,
            kind=event.kind,
            message=event.message,
            outcome=outcome,
            action=event.action.model_dump(mode="json") if event.action is not None else None,
            actor=str(event.data.get("actor", "medic")),
            actor_name=str(event.data.get("actor_name", "")),
            escalate=event.escalate,
            reconciler=reconciler,
            told=blocked and workflow.patched(BLOCKS_TOLD_PATCH),
            approval_told=event.kind in APPROVAL_KINDS and workflow.patched(APPROVALS_TOLD_PATCH),
        )


def _reconciler(event: RemediationEvent) -> str:
    """The controller a refused step names, heeded past the patch only: an incident whose older worker took
    the refusal's report recorded no ``remediation.refused`` entry, so told nobody, and must replay so."""
    named = str(event.data.get("reconciler") or "")
    return named if named and workflow.patched(REFUSALS_TOLD_PATCH) else ""
