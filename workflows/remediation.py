"""RemediationWorkflow: one runbook applied to one target, under guardrails, verified, undone
when it did not work.

Its workflow id is derived from the target (``RemediationPlan.workflow_id``), so Temporal itself
guarantees one remediation per target at a time across all incidents and workers. Each step:
judge the guardrails (facts recorded by an activity), read the state it will change, ask a human
when the guardrails say so (an update whose validator checks who may approve), judge again just
before acting, act with absolute values, tell the incident, verify. When verification fails the
recorded changes are undone in reverse order, even if the workflow is being cancelled, and the
incident escalates with what was tried.
"""

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import CHANGED_MEANWHILE, NOTHING_TO_DO
    from activities.notify import NotifyActivities, SlackMessagePost, SlackMessageUpdate
    from activities.remediate import FactsRequest, RemediationActivities, StepRequest, VerifyRequest
    from medic.cards import render_approval, render_approval_decided
    from medic.limits import keyword_list_within
    from medic.names import empty
    from medic.ports import MessageRef
    from medic.runbook import Step
    from medic.vocab import Risk, TimelineKind
    from remediations.actions import default_registry
    from remediations.budget import BudgetRequest, budget_key, budget_scope
    from remediations.gitops import RECONCILED_BY, Claim
    from remediations.guardrails import (
        GuardrailFacts,
        GuardrailSettings,
        Verdict,
        at_or_above,
        evaluate,
        may_approve,
    )
    from remediations.plan import ActionRecord, RemediationEvent, RemediationPlan
    from workflows import search_attributes as sa
    from workflows.messages import Ping
    from workflows.publish import BOUNDED_SERVICES_PATCH

__all__ = [
    "REMEDIATION_EVENT",
    "AwaitingApproval",
    "Decision",
    "RemediationInput",
    "RemediationOutcome",
    "RemediationWorkflow",
]

REMEDIATION_EVENT = "remediation_event"
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["PermanentError"],
)
_TIMEOUT = timedelta(seconds=60)
# Marked only where an undo found its target changed by someone else and left it alone (the outcome is
# then changed-meanwhile, not rolled-back): histories from before never had such an undo.
UNDO_UNLESS_CHANGED_PATCH = "undo-unless-changed"
# Marked where a step's snapshot named a controller that would put its change back and the step was judged
# by it: a worker of the release before (or one mid-upgrade) acted on such a snapshot without looking.
RECONCILERS_PATCH = "reconcilers-heeded"
# Marked where a step could not read its target (missing, a paused Deployment, an OnDelete StatefulSet, the
# cluster refusing) and the runbook's on_failure: next_step tried the next step; before, the run failed.
SNAPSHOT_NEXT_STEP_PATCH = "snapshot-next-step"
# An approval request in Slack was never edited: after a decision, a timeout or the alerts resolving it
# still read "Approval needed" with live-looking buttons. It now says what became of it, without buttons
# (marked only where a request was posted and is no longer waiting).
APPROVAL_DECIDED_PATCH = "approval-message-decided"
# The hourly cap ("at most N actions per service per hour") was a count of remediations that had acted, read
# from visibility: remediations starting together all saw none and all acted. A step now reserves a hold in
# its service's action budget (workflows/budget.py) before it acts or asks, and gives it back when it did not
# act. Marked at a remediation's first judgement; a run from before counts from visibility as it did.
ACTION_BUDGET_PATCH = "action-budget"
# A runbook's `approval: auto` let a step at or above MEDIC_REMEDIATION_APPROVAL_RISK act with nobody asked:
# the operator's bar now holds whatever the runbook says (as the impact bar did). Marked only where such a
# step is judged.
RISK_BAR_PATCH = "operator-risk-bar"
_Saga = list[tuple[Step, dict[str, Any], str]]  # (step, its snapshot, the stamp of its apply)
# The cluster steps heartbeat every 2 s (activities/heartbeat.py): a dead worker is noticed in 10 s.
_HEARTBEAT = timedelta(seconds=10)


class RemediationInput(BaseModel):
    plan: RemediationPlan
    guardrails: GuardrailSettings
    impact: float = 0.0
    approval_channel: str = "#incidents"
    approval_thread: MessageRef | None = None


class Decision(BaseModel):
    approve: bool
    actor: str = Field(min_length=1, max_length=200)
    # The person's name beside a Slack id (the id stays the actor: the guardrails check it); empty from
    # the API, and then not in the payload at all.
    actor_name: str = Field(
        default="", max_length=200, exclude_if=empty, description="the person's name (actor: their Slack id)"
    )
    reason: str = Field(default="", max_length=500)
    groups: list[str] = Field(
        default_factory=list, max_length=200, description="the actor's Slack user groups, resolved by the API"
    )


class AwaitingApproval(BaseModel):
    step: int
    risk: Risk
    action: str
    description: str = ""


class RemediationOutcome(BaseModel):
    remediation_id: str
    outcome: str
    actions: list[ActionRecord] = Field(default_factory=list)
    runbook: str = ""
    target: str = ""
    incident_id: str = ""
    run_id: str = ""
    awaiting: AwaitingApproval | None = None


@workflow.defn(name="RemediationWorkflow")
class RemediationWorkflow:
    @workflow.init
    def __init__(self, inp: RemediationInput) -> None:
        self._inp = inp
        self._id = inp.plan.workflow_id
        self._alerts_firing = True
        self._awaiting: AwaitingApproval | None = None  # while asking for approval
        self._decision: Decision | None = None
        self._actions: list[ActionRecord] = []
        self._outcome = "planned"
        self._unknown = ""  # why a dry run's snapshot could not be read
        self._query_failed = ""  # why the verify query failed at its last check, if it did
        # An approval granted, said on its Slack request once the guardrails were asked again.
        self._approval_said: tuple[MessageRef | None, str] | None = None
        self._held: tuple[int, BudgetRequest] | None = None  # (step, its hold) while the step has not acted

    @workflow.run
    async def run(self, inp: RemediationInput) -> RemediationOutcome:
        workflow.upsert_search_attributes(
            [
                sa.SERVICES.value_set(_services_attribute(inp.plan.service)),
                sa.ACTION.value_set("planned"),
            ]
        )
        done: _Saga = []  # the saga: what to undo, in order
        try:
            await self._steps(done)
        except ActivityError as err:
            # The cluster refused (or never answered): undo what was done and hand over to people.
            await self._compensate(done, "an action failed")
            await self._finish(
                "failed",
                f"Could not act: {err.cause or err}; escalating.",
                kind=TimelineKind.REMEDIATION_FAILED,
                escalate=True,
            )
        except asyncio.CancelledError:
            # Cancelled mid-way (an operator, or the incident closing): undo what was done, shielded.
            await asyncio.shield(self._cancelled(done))
            raise
        return self.status()

    async def _steps(self, done: _Saga) -> None:
        plan = self._inp.plan
        for index, step in enumerate(plan.steps):
            verdict = await self._judge(index, step)
            if verdict.outcome == "blocked":
                await self._finish(
                    "blocked",
                    f"Guardrail blocked {step.action} of runbook {plan.runbook.name}: {verdict.message}.",
                    kind=TimelineKind.GUARDRAIL_BLOCKED,
                )
                return
            try:
                before = await self._snapshot(step, dry_run=verdict.outcome == "dry_run")
            except ActivityError as err:
                # This step cannot act (nothing was written): on_failure: next_step tries the next one,
                # as it does after a step that acted and did not fix it.
                last = not (plan.runbook.on_failure == "next_step" and index + 1 < len(plan.steps))
                acted = any(a.status == "executed" for a in self._actions)  # and did not fix it
                if _nothing_to_do(err) and not last:
                    # (a step that would change nothing asked for: no failure, no action; the error is
                    # new with this release, so no history from before holds it)
                    await self._tell(
                        TimelineKind.GUARDRAIL_BLOCKED,
                        f"Not acting: {err.cause or err}. Trying the next step.",
                    )
                    continue
                if _nothing_to_do(err) and not acted:  # the last: ends blocked, no escalation
                    await self._finish(
                        "blocked", f"Not acting: {err.cause or err}.", kind=TimelineKind.GUARDRAIL_BLOCKED
                    )
                    return
                if not (
                    plan.runbook.on_failure == "next_step"
                    and index + 1 < len(plan.steps)
                    and _cannot_act(err)  # not a cluster that did not answer: that is for people
                    and workflow.patched(SNAPSHOT_NEXT_STEP_PATCH)
                ):
                    raise
                await self._tell(
                    TimelineKind.ACTION_FAILED,
                    f"Could not {step.action} {default_registry().for_step(step).target(step)}: "
                    f"{err.cause or err}. Trying the next step.",
                )
                continue
            claim = _reconciled_by(before)
            if claim is not None and not workflow.patched(RECONCILERS_PATCH):
                # Run before by a worker that did not heed it (a rolling upgrade): it acted, and so must
                # the replay. Past the marker, every worker of this version heeds it.
                claim = None
            description = self._describe(step, before)
            refused = claim is not None and (not claim.overridable or plan.runbook.reconcilers == "refuse")
            if claim is not None and not refused:
                description += f" (reconcilers: ignore, though {claim.what})"
            if verdict.outcome == "dry_run":
                self._record(index, step, description=description, status="dry-run", before=before)
                but = f" It would not act for real: {claim.text}" if refused and claim else ""
                await self._tell(
                    TimelineKind.REMEDIATION_DRY_RUN, f"Dry run, not acting: would {description}.{but}"
                )
                continue
            if refused and claim is not None:
                if plan.runbook.on_failure == "next_step" and index + 1 < len(plan.steps):
                    await self._tell(
                        TimelineKind.GUARDRAIL_BLOCKED,
                        f"Not acting: {description}, but {claim.text} Trying the next step.",
                        reconciler=claim.reconciler,
                    )
                    continue
                # No escalation when no fix failed (there was none Medic could make): the incident says why
                # where people look, and its pages carry it on the chain's own timers. An earlier step of
                # this run that acted and did not fix it (on_failure: next_step) escalates as it would have.
                await self._finish(
                    "blocked",
                    f"Not acting: {description}, but {claim.text}",
                    kind=TimelineKind.GUARDRAIL_BLOCKED,
                    escalate=any(a.status == "executed" for a in self._actions),
                    reconciler=claim.reconciler,
                )
                return
            if verdict.outcome == "needs_approval" and not await self._approved(
                index, step, description, verdict
            ):
                return
            verdict = await self._judge(index, step)  # the world may have changed while a human decided
            if self._approval_said is not None:
                posted, approved = self._approval_said
                self._approval_said = None
                but = f", but not acting: {verdict.message}" if verdict.outcome == "blocked" else ""
                await self._decided(posted, step, description, f"{approved}{but}.")
            if verdict.outcome == "blocked":
                await self._finish(
                    "blocked",
                    f"Guardrail blocked {step.action} just before acting: {verdict.message}.",
                    kind=TimelineKind.GUARDRAIL_BLOCKED,
                )
                return
            await self._tell(TimelineKind.ACTION_STARTED, f"Acting: {description}.")
            # Into the saga before acting: if the call fails after the cluster took it, undoing is still
            # right (it restores the recorded values, which is harmless if nothing changed).
            stamp = workflow.now().isoformat()
            done.append((step, before, stamp))
            acting, self._held = self._held, None  # the hold is the action now: it counts for the hour
            try:
                after = await self._activity(
                    RemediationActivities.apply, StepRequest(step=step, before=before, stamp=stamp)
                )
            except ActivityError as err:
                if not _changed_meanwhile(err):
                    raise
                done.pop()  # what is there now is someone else's change: not Medic's to undo
                self._held = acting  # nothing was written: the hold goes back (in _finish)
                await self._finish(
                    "changed-meanwhile",
                    f"Not acting: {err.cause}. Someone else changed it; Medic leaves it as it is.",
                    kind=TimelineKind.REMEDIATION_CHANGED_MEANWHILE,
                )
                return
            record = self._record(
                index, step, description=description, status="executed", before=before, after=after
            )
            workflow.upsert_search_attributes([sa.ACTION.value_set("executed")])
            await self._tell(TimelineKind.ACTION_EXECUTED, f"Done: {description}.", action=record)
            if await self._verify():
                await self._finish(
                    "verified",
                    f"Verified: {self._verification_text()} held; the fix worked.",
                    kind=TimelineKind.VERIFICATION_PASSED,
                )
                return
            failed = (
                f" The query itself failed at the last check, so whether the fix worked is not known: "
                f"{self._query_failed}."
                if self._query_failed
                else ""
            )
            await self._tell(
                TimelineKind.VERIFICATION_FAILED,
                f"Verification failed: {self._verification_text()} did not "
                f"hold within {plan.runbook.verify.deadline_seconds}s.{failed}",
            )
            if plan.runbook.on_failure == "next_step" and index + 1 < len(plan.steps):
                left_alone = await self._compensate(done[-1:], "trying the next step")
                done.pop()
                if not (left_alone and workflow.patched(UNDO_UNLESS_CHANGED_PATCH)):
                    continue
                await self._finish(
                    "changed-meanwhile",
                    "Not trying the next step: someone else changed the target since Medic acted, and "
                    "Medic leaves it as it is; escalating with what was tried.",
                    kind=TimelineKind.REMEDIATION_CHANGED_MEANWHILE,
                    escalate=True,
                )
                return
            outcome = "rolled-back" if plan.runbook.on_failure == "rollback" else "failed"
            if plan.runbook.on_failure == "rollback":
                if await self._compensate(done, "the fix did not work") and workflow.patched(
                    UNDO_UNLESS_CHANGED_PATCH
                ):
                    outcome = "changed-meanwhile"  # not rolled back: someone else's change was left alone
                done.clear()
            await self._finish(
                outcome,
                "Remediation did not fix it; escalating with what was tried.",
                kind=TimelineKind.REMEDIATION_FAILED,
                escalate=True,
            )
            return
        if self._outcome == "planned":
            await self._finish(
                "dry-run",
                "Dry run complete: nothing was changed.",
                kind=TimelineKind.REMEDIATION_DRY_RUN_DONE,
            )
        await self._release()

    # ---- guardrails and approval ------------------------------------------------------------

    async def _judge(self, index: int, step: Step) -> Verdict:
        """The guardrails' verdict on step ``index``. Past the action-budget marker, a step that would act
        or ask a human holds a part of its service's hourly budget first (kept until it acts, or given
        back when it does not): the cap holds when many remediations start in the same instant."""
        plan = self._inp.plan
        budgeted = workflow.patched(ACTION_BUDGET_PATCH)
        if self._held is not None and self._held[0] != index:
            await self._release()  # an earlier step's hold: that step did not act
        facts: GuardrailFacts = await self._activity(
            RemediationActivities.facts,
            FactsRequest(
                remediation_id=self._id,
                service=plan.service,
                cooldown_seconds=plan.runbook.cooldown_minutes * 60,
                run_id=workflow.info().run_id,
                budgeted=budgeted,
            ),
        )
        target = default_registry().for_step(step).target(step)
        approval = plan.runbook.approval
        if (
            approval == "auto"
            and at_or_above(step.risk, self._inp.guardrails.approval_risk)
            and workflow.patched(RISK_BAR_PATCH)
        ):
            approval = "high-risk"  # a runbook cannot lower the operator's bar

        def judge(facts: GuardrailFacts) -> Verdict:
            return evaluate(
                self._inp.guardrails,
                facts,
                risk=step.risk,
                runbook_approval=approval,
                impact=self._inp.impact,
                namespace=target.namespace,
                cooldown=timedelta(minutes=plan.runbook.cooldown_minutes),
                now=workflow.now(),
                alerts_firing=self._alerts_firing,
            )

        if not budgeted:
            return judge(facts)
        facts = facts.model_copy(update={"actions_on_service_last_hour": 0})
        verdict = judge(facts)  # every other guardrail first: a dry run or a block holds nothing
        if verdict.outcome not in ("run", "needs_approval"):
            return verdict
        key = budget_key(plan.service, target.namespace, plan.cluster)  # '' before: as it was
        request = BudgetRequest(
            key=key,
            holder=f"{self._id}/{workflow.info().run_id}/{index}",
            label=f"{plan.runbook.name} on {target} ({plan.incident_id})",
            limit=self._inp.guardrails.max_actions_per_service_per_hour,
        )
        reply = await self._activity(RemediationActivities.reserve, request)
        self._held = (index, request) if reply.granted else None
        counted = {
            "actions_on_service_last_hour": reply.count,
            "actions_scope": budget_scope(key),
            "actions_held_by": reply.named(),
        }
        return judge(facts.model_copy(update=counted))

    async def _release(self) -> None:
        """Give back the hold of a step that did not act (none before the action-budget marker)."""
        if self._held is None:
            return
        _, request = self._held
        self._held = None
        with contextlib.suppress(ActivityError):  # a hold not given back expires with its hour
            await self._activity(RemediationActivities.release, request)

    async def _approved(self, index: int, step: Step, description: str, verdict: Verdict) -> bool:
        plan = self._inp.plan
        message = render_approval(
            remediation_id=self._id,
            step=index,
            title=f"{plan.runbook.name} on {plan.target}",
            plan=description,
            risk=step.risk,
            why=f"{plan.alertname} on {plan.service}",
            reasons=verdict.message,
            run_id=workflow.info().run_id,
        )
        posted: MessageRef | None = None
        with contextlib.suppress(ActivityError):  # no Slack: the request is still on the timeline and the API
            posted = await workflow.execute_activity_method(
                NotifyActivities.slack_message,
                SlackMessagePost(
                    channel=self._inp.approval_channel, message=message, thread=self._inp.approval_thread
                ),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
        await self._tell(
            TimelineKind.APPROVAL_REQUESTED,
            f"Approval requested ({step.risk} risk, {verdict.message}): "
            f"{description}. Approve or deny {self._id} step {index}.",
            step=index,
        )
        self._awaiting = AwaitingApproval(
            step=index, risk=step.risk, action=step.action, description=description
        )
        self._decision = None
        timeout = self._inp.guardrails.approval_timeout_seconds
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None or not self._alerts_firing, timeout=timeout
            )
        except asyncio.CancelledError:  # the incident closed, or an operator cancelled: nothing to press
            await asyncio.shield(self._decided(posted, step, description, "Cancelled: not acting."))
            raise
        except TimeoutError:
            self._awaiting = None
            await self._decided(posted, step, description, f"Timed out: nobody decided within {timeout}s.")
            await self._finish(
                "timed-out",
                f"Nobody approved within {timeout}s; not acting, escalating.",
                kind=TimelineKind.APPROVAL_TIMED_OUT,
                escalate=True,
            )
            return False
        self._awaiting = None
        decision = self._decision
        if decision is None:  # the alerts resolved while we waited: nothing left to approve
            await self._decided(posted, step, description, "No longer needed: the alerts resolved.")
            await self._finish(
                "blocked",
                "The alerts resolved while waiting for approval; not acting.",
                kind=TimelineKind.GUARDRAIL_BLOCKED,
            )
            return False
        # The timeline keeps the id (the incident names it where people read it: its names); the request
        # in Slack says the name (a mention there would notify the person of their own decision).
        who = decision.actor_name or decision.actor
        named = {"actor_name": decision.actor_name} if decision.actor_name else {}
        if not decision.approve:
            why = f": {decision.reason}" if decision.reason else ""
            await self._decided(posted, step, description, f"Denied by {who}{why}.")
            await self._finish(
                "denied",
                f"Denied by {decision.actor}{why}.",
                kind=TimelineKind.APPROVAL_DENIED,
                actor=decision.actor,
                **named,
            )
            return False
        # said on the request once the guardrails were asked again (the kill switch may be on by now)
        self._approval_said = (posted, f"Approved by {who}")
        await self._tell(
            TimelineKind.APPROVAL_GRANTED, f"Approved by {decision.actor}.", actor=decision.actor, **named
        )
        return True

    async def _decided(self, posted: MessageRef | None, step: Step, description: str, outcome: str) -> None:
        """The approval request posted in Slack says what became of it, its buttons gone."""
        if posted is None or not workflow.patched(APPROVAL_DECIDED_PATCH):
            return
        plan = self._inp.plan
        message = render_approval_decided(
            title=f"{plan.runbook.name} on {plan.target}", plan=description, risk=step.risk, outcome=outcome
        )
        with contextlib.suppress(ActivityError):  # the timeline and the API say it all the same
            await workflow.execute_activity_method(
                NotifyActivities.slack_message_update,
                SlackMessageUpdate(ref=posted, message=message),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )

    @workflow.update(name="decide")
    def decide(self, decision: Decision) -> str:
        self._decision = decision
        return "approved" if decision.approve else "denied"

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        if self._awaiting is None:
            raise ValueError(f"{self._id} is not waiting for an approval")
        risk = self._awaiting.risk
        if not may_approve(self._inp.guardrails, risk=risk, actor=decision.actor, groups=decision.groups):
            raise ValueError(f"{decision.actor} may not approve {risk}-risk actions")

    @workflow.signal(name="alerts_resolved")
    def alerts_resolved(self, _note: Ping | None = None) -> None:
        self._alerts_firing = False

    @workflow.query(name="status")
    def status(self) -> RemediationOutcome:
        plan = self._inp.plan
        return RemediationOutcome(
            remediation_id=self._id,
            outcome=self._outcome,
            actions=self._actions,
            runbook=plan.runbook.name,
            target=str(plan.target),
            incident_id=plan.incident_id,
            run_id=workflow.info().run_id,
            awaiting=self._awaiting,
        )

    # ---- acting and verifying -------------------------------------------------------------------

    async def _snapshot(self, step: Step, *, dry_run: bool) -> dict[str, Any]:
        try:
            before: dict[str, Any] = await self._activity(
                RemediationActivities.snapshot, StepRequest(step=step)
            )
        except ActivityError as err:
            if dry_run:
                # a dry run still says what it would do, even without a cluster to look at, and why not
                self._unknown = str(err.cause or err)
                return {}
            raise
        self._unknown = ""
        return before

    def _describe(self, step: Step, before: dict[str, Any]) -> str:
        action = default_registry().for_step(step)
        if before:
            return action.describe(step, before)
        why = f": {self._unknown}" if self._unknown else ""
        return f"{step.action} {action.target(step)} (current state unknown{why})"

    async def _verify(self) -> bool:
        check = self._inp.plan.runbook.verify
        deadline = workflow.now() + timedelta(seconds=check.deadline_seconds)
        held_since = None
        while workflow.now() < deadline:
            ok = check.alerts_resolved and not self._alerts_firing
            if check.promql and not ok:
                try:
                    ok = await self._activity(
                        RemediationActivities.verify, VerifyRequest(promql=check.promql)
                    )
                    self._query_failed = ""
                except ActivityError as err:
                    ok = False
                    # said with the verdict: a query Prometheus refused read as "the fix did not work"
                    self._query_failed = str(err.cause or err)
            if ok:
                held_since = held_since or workflow.now()
                if workflow.now() - held_since >= timedelta(seconds=check.for_seconds):
                    return True
            else:
                held_since = None
            with contextlib.suppress(TimeoutError):
                # Wake early only for news: the alerts resolving while nothing holds yet.
                waiting_for_news = held_since is None

                def news(waiting: bool = waiting_for_news) -> bool:
                    return waiting and check.alerts_resolved and not self._alerts_firing

                await workflow.wait_condition(news, timeout=check.interval_seconds)
        return False

    def _verification_text(self) -> str:
        check = self._inp.plan.runbook.verify
        what = f"`{check.promql}`" if check.promql else "the alerts resolving"
        return f"{what} for {check.for_seconds}s"

    async def _compensate(self, done: _Saga, why: str) -> bool:
        """Undo in reverse order. Each undo writes only while its target is as Medic's step left it;
        True when one was left alone because someone changed it since (their change is not undone)."""
        left_alone = False
        for step, before, stamp in reversed(done):
            action = default_registry().for_step(step)
            try:
                undone = await self._activity(
                    RemediationActivities.compensate, StepRequest(step=step, before=before, stamp=stamp)
                )
            except ActivityError as err:
                if _changed_meanwhile(err):
                    left_alone = True
                    await self._tell(
                        TimelineKind.ROLLBACK_CHANGED_MEANWHILE,
                        f"Did not undo {step.action} on {action.target(step)} ({why}): {err.cause}. "
                        "Someone else changed it since Medic acted; Medic leaves their change as it is.",
                    )
                    continue
                await self._tell(
                    TimelineKind.ROLLBACK_FAILED,
                    f"Could not undo {step.action} on {action.target(step)}: "
                    f"{err.cause or err}. A human must check it.",
                    escalate=True,
                )
                continue
            text = (
                f"Undid {step.action} on {action.target(step)} ({why})"
                if undone
                else f"{step.action} on {action.target(step)} cannot be undone ({why})"
            )
            await self._tell(
                TimelineKind.ROLLBACK_DONE if undone else TimelineKind.ROLLBACK_IMPOSSIBLE, text + "."
            )
        return left_alone

    # ---- bookkeeping ----------------------------------------------------------------------------

    async def _activity(self, method: Any, arg: Any) -> Any:
        heartbeats = method in (
            RemediationActivities.snapshot,
            RemediationActivities.apply,
            RemediationActivities.compensate,
        )
        return await workflow.execute_activity_method(
            method,
            arg,
            start_to_close_timeout=_TIMEOUT,
            heartbeat_timeout=_HEARTBEAT if heartbeats else None,
            retry_policy=_RETRY,
        )

    def _record(
        self,
        index: int,
        step: Step,
        *,
        description: str,
        status: Literal["dry-run", "executed"],
        before: dict[str, Any],
        after: dict[str, Any] | None = None,
    ) -> ActionRecord:
        target = default_registry().for_step(step).target(step)
        record = ActionRecord(
            step=index,
            action=step.action,
            target=str(target),
            description=description,
            risk=step.risk,
            status=status,
            before=before,
            after=after or {},
            at=workflow.now(),
        )
        self._actions.append(record)
        return record

    async def _cancelled(self, done: _Saga) -> None:
        """Undo, then tell the incident: it waits for this remediation's outcome before it may close."""
        if await self._compensate(done, "the remediation was cancelled") and workflow.patched(
            UNDO_UNLESS_CHANGED_PATCH
        ):
            await self._finish(
                "changed-meanwhile",
                "Cancelled; what someone else changed since Medic acted was left as it is.",
                kind=TimelineKind.REMEDIATION_CANCELLED,
            )
            return
        # A fix that acted counts as having acted (cooldown and hourly cap), however it ended.
        await self._finish(
            "rolled-back" if done else "cancelled",
            "Cancelled; what it had changed was undone." if done else "Cancelled before it acted.",
            kind=TimelineKind.REMEDIATION_CANCELLED,
        )

    async def _finish(
        self, outcome: str, message: str, *, kind: TimelineKind, escalate: bool = False, **data: Any
    ) -> None:
        await self._release()
        self._outcome = outcome
        workflow.upsert_search_attributes([sa.ACTION.value_set(outcome)])
        await self._tell(kind, message, escalate=escalate, outcome=outcome, **data)

    async def _tell(
        self,
        kind: TimelineKind,
        message: str,
        *,
        action: ActionRecord | None = None,
        escalate: bool = False,
        **data: Any,
    ) -> None:
        """Report to the incident; an incident that has closed meanwhile is not an error."""
        event = RemediationEvent(
            remediation_id=self._id,
            kind=kind,
            message=f"[{self._inp.plan.runbook.name}] {message}",
            data=data,
            action=action,
            escalate=escalate,
        )
        with contextlib.suppress(Exception):
            await workflow.get_external_workflow_handle(self._inp.plan.incident_id).signal(
                REMEDIATION_EVENT, event
            )


def _services_attribute(service: str | None) -> list[str]:
    """The service as it fits one search attribute value, as the incident's publisher bounds it (a
    service too long for it was a terminated workflow before: patched where the value differs)."""
    services = [service] if service else []
    fitting = keyword_list_within(services)
    if len(fitting) < len(services) and workflow.patched(BOUNDED_SERVICES_PATCH):
        return fitting
    return services


def _reconciled_by(before: dict[str, Any]) -> Claim | None:
    """The GitOps reconciler the snapshot found applying the step's fields, taken out of the snapshot
    (which is recorded and undone from as it was read); a snapshot from before carries none."""
    found = before.pop(RECONCILED_BY, None)
    return Claim.model_validate(found) if found is not None else None


def _cannot_act(err: ActivityError) -> bool:
    """The step can never act as it stands (its target missing, paused, updated OnDelete; the read
    refused): a permanent error. A cluster that did not answer (retries spent, timeouts) is not one: the
    next step would meet the same cluster, so the run fails and people are told."""
    return isinstance(err.cause, ApplicationError) and err.cause.type == "PermanentError"


def _nothing_to_do(err: ActivityError) -> bool:
    """The step would change nothing asked for (a scale out at or above its bound)."""
    return isinstance(err.cause, ApplicationError) and err.cause.type == NOTHING_TO_DO


def _changed_meanwhile(err: ActivityError) -> bool:
    """The step found its target changed since the plan read it (remediations/preconditions.py)."""
    return isinstance(err.cause, ApplicationError) and err.cause.type == CHANGED_MEANWHILE
