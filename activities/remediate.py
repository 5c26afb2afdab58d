"""Remediation activities: match runbooks, gather guardrail facts, and act on the cluster.

The cluster and Prometheus are ports (``remediations.ports``); the facts that live in Temporal
(kill switch, recent actions) come from an injected source. Every cluster call is idempotent
(absolute values from a recorded snapshot); ``apply`` acts only on the object the plan found and
``compensate`` only on the object as Medic's step left it, so Temporal's retries are safe and an undo
never writes over a person's change. The steps that talk to the cluster heartbeat while they run
(activities/heartbeat.py), so a dead worker is noticed at the heartbeat timeout.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field, PrivateAttr
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.errors import translated
from activities.heartbeat import heartbeating
from activities.observe import NO_RECORDER, Recorder, recorded
from medic.alerts import Alert
from medic.clusters import ClusterScope
from medic.ports import PermanentError
from medic.runbook import Runbook, Step
from remediations.actions import ActionRegistry
from remediations.budget import BudgetReply, BudgetRequest
from remediations.controllers import claim_for
from remediations.gitops import RECONCILED_BY
from remediations.guardrails import GuardrailFacts, GuardrailSettings
from remediations.plan import RemediationPlan, match_runbooks, plan_for, taken
from remediations.ports import Cluster, ClusterError, Metrics, ObjectRef

__all__ = [
    "ActionBudgets",
    "CountedBudgets",
    "FactsRequest",
    "FactsSource",
    "MatchRequest",
    "MatchResult",
    "RemediationActivities",
    "StepRequest",
    "VerifyRequest",
]


# A rollout condition that simply does not hold (the other runbook of the pair runs): nothing to report.
_NOT_WANTED = "not wanted"


class MatchRequest(BaseModel):
    incident_id: str
    service: str | None
    alerts: list[Alert]


class MatchResult(BaseModel):
    plans: list[RemediationPlan] = Field(default_factory=list)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    problems: list[str] = Field(default_factory=list, description="runbooks that matched but could not bind")

    _index: dict[str, int] = PrivateAttr(default_factory=dict)  # target (the workflow id): its plan

    def add(self, plan: RemediationPlan) -> None:
        """One remediation per target: it answers for every alert that called for it. Another runbook
        matching the same target is a problem said on the timeline (the first in file-name order acts)."""
        if len(self._index) != len(self.plans):  # made elsewhere (a payload): index what it holds
            self._index = {p.workflow_id: i for i, p in enumerate(self.plans)}
        held = self._index.get(plan.workflow_id)
        if held is None:
            self._index[plan.workflow_id] = len(self.plans)
            self.plans.append(plan)
            return
        first = self.plans[held]
        if first.runbook.name != plan.runbook.name:
            said = (
                f"runbook {plan.runbook.name} matched {plan.alertname} but {taken(plan, first.runbook.name)}"
            )
            if said not in self.problems:
                self.problems.append(said)
            return
        first.fingerprints += [f for f in plan.fingerprints if f not in first.fingerprints]

    def merge(self, other: "MatchResult") -> None:
        """``other``'s answer, for the alerts after this one's, as one request would have had them."""
        self.guardrails = other.guardrails
        self.problems += other.problems
        for plan in other.plans:
            self.add(plan)


class FactsRequest(BaseModel):
    remediation_id: str
    service: str | None
    cooldown_seconds: int
    run_id: str = Field(default="", description="the asking run: its own earlier steps are not a cooldown")
    budgeted: bool = Field(
        default=False,
        description="the hourly count comes from the action budget (reserve), not from these facts",
    )


class StepRequest(BaseModel):
    step: Step
    before: dict[str, Any] = Field(default_factory=dict)
    stamp: str = Field(
        default="", description="the workflow's time of the apply (a compensation: of the apply it undoes)"
    )


class VerifyRequest(BaseModel):
    promql: str


class FactsSource(Protocol):
    async def gather(self, request: FactsRequest) -> GuardrailFacts: ...


class ActionBudgets(Protocol):
    """The hourly action budgets (remediations/budget.py), kept where reserving is atomic: in Temporal
    (service/budgets.py)."""

    async def reserve(self, request: BudgetRequest) -> BudgetReply: ...

    async def release(self, request: BudgetRequest) -> None: ...


class CountedBudgets:
    """A budget read from the facts' hourly count, holding nothing: not atomic, so for tests and tools
    that run remediations without the budget workflows. The worker uses the Temporal one."""

    def __init__(self, facts: FactsSource) -> None:
        self._facts = facts

    async def reserve(self, request: BudgetRequest) -> BudgetReply:
        service = request.key.removeprefix("service:") if request.key.startswith("service:") else None
        facts = await self._facts.gather(
            FactsRequest(remediation_id=request.holder, service=service, cooldown_seconds=0)
        )
        count = facts.actions_on_service_last_hour
        return BudgetReply(granted=count < request.limit, count=count)

    async def release(self, request: BudgetRequest) -> None:
        return None


class RemediationActivities:
    def __init__(
        self,
        *,
        cluster: Cluster | None,
        metrics: Metrics | None,
        runbooks: Callable[[], list[Runbook]],
        registry: ActionRegistry,
        facts: FactsSource,
        guardrails: Callable[[], GuardrailSettings],
        recorder: Recorder = NO_RECORDER,
        heartbeat_every: float = 2.0,
        argocd_namespace: str = "argocd",
        scope: ClusterScope | None = None,
        budgets: ActionBudgets | None = None,
    ) -> None:
        self._cluster, self._metrics, self._runbooks = cluster, metrics, runbooks
        self._registry, self._facts, self._guardrails = registry, facts, guardrails
        self._budgets = budgets if budgets is not None else CountedBudgets(facts)
        self._rec = recorder
        self._heartbeat_every = heartbeat_every  # well inside the workflow's heartbeat timeout (10 s)
        self._scope = scope or ClusterScope()  # MEDIC_CLUSTER: other clusters' alerts match nothing
        self._argocd_namespace = (
            argocd_namespace  # where Argo CD's Applications live (MEDIC_ARGOCD_NAMESPACE)
        )

    def _need_cluster(self) -> Cluster:
        if self._cluster is None:
            # Expected in `medic dev` (dry-run: the plan is shown without the current state), so one line
            # here and a benign failure, which the SDK logs without the two chained tracebacks.
            message = "no cluster configured (MEDIC_KUBECONFIG or in-cluster credentials)"
            activity.logger.info("%s: %s is not read or changed", message, activity.info().activity_type)
            raise ApplicationError(
                message, type="NoCluster", non_retryable=True, category=ApplicationErrorCategory.BENIGN
            )
        return self._cluster

    @activity.defn(name="remediate.match")
    def match(self, request: MatchRequest) -> MatchResult:
        result = MatchResult(guardrails=self._guardrails())
        for alert in request.alerts:
            elsewhere = self._scope.elsewhere(alert.labels)
            # The alert's own service, where it has one: an incident that absorbed others holds their
            # alerts, and the incident's (its cause's) service made checkout's HighLatency scale
            # orders-db, verified against orders-db's latency and counted in orders-db's budget (a
            # runbook naming `service: [checkout]` never matched it once merged; found recording r17)
            service = alert.service or request.service
            for runbook in match_runbooks(self._runbooks(), alert, service):
                if elsewhere:  # acting here would change this cluster's namesake of the workload
                    result.problems.append(f"runbook {runbook.name} matched {alert.name} but {elsewhere}")
                    continue
                try:
                    plan = plan_for(runbook, alert, incident_id=request.incident_id, service=service)
                    if self._scope.name and self._scope.own_locks:  # this cluster's lock and budget
                        plan = plan.model_copy(update={"cluster": self._scope.name})
                except ValueError as err:
                    result.problems.append(f"runbook {runbook.name} matched {alert.name} but {err}")
                    continue
                refused = self._rollout_refuses(runbook, plan.target)
                if refused:
                    if refused is not _NOT_WANTED:
                        result.problems.append(f"runbook {runbook.name} matched {alert.name} but {refused}")
                    continue
                result.add(plan)
        return result

    def _rollout_refuses(self, runbook: Runbook, target: ObjectRef) -> str:
        """Why the runbook's rollout condition rules it out for ``target`` ('' when it holds). Read at
        match time, when the condition is asked (the age of a Deployment's running release, a restart
        being none: remediations/rollout.py); a cluster that cannot tell counts as 'not recently', so
        the 'else' runbook of a pair (restart) runs."""
        condition = runbook.match.rollout_condition()
        if condition is None:
            return ""
        recent_wanted, minutes = condition
        since = None
        if target.kind == "Deployment" and self._cluster is not None:
            try:
                since = self._cluster.rollout(target).since
            except Exception as err:  # unknown, like no cluster: the 'else' side decides
                activity.logger.info("rollout of %s not known: %s", target, type(err).__name__)
        recent = since is not None and datetime.now(UTC) - since <= timedelta(minutes=minutes)
        if recent == recent_wanted:
            return ""
        if recent_wanted and since is None:
            return f"when {target} last rolled out is not known (it needs a release under {minutes} min old)"
        return _NOT_WANTED

    @activity.defn(name="remediate.facts")
    async def facts(self, request: FactsRequest) -> GuardrailFacts:
        return await self._facts.gather(request)

    @activity.defn(name="remediate.reserve")
    async def reserve(self, request: BudgetRequest) -> BudgetReply:
        """A hold in the hourly action budget for one step, or the refusal naming who holds it."""
        return await self._budgets.reserve(request)

    @activity.defn(name="remediate.release")
    async def release(self, request: BudgetRequest) -> None:
        """The hold of a step that did not act, given back."""
        await self._budgets.release(request)

    @activity.defn(name="remediate.snapshot")
    @translated
    def snapshot(self, request: StepRequest) -> dict[str, Any]:
        action, cluster = self._registry.for_step(request.step), self._need_cluster()
        with heartbeating(self._heartbeat_every):
            before = action.snapshot(cluster, request.step)
            target = action.target(request.step)
            try:
                claim = claim_for(
                    cluster,
                    target,
                    action.writes(request.step, before),
                    argocd_namespace=self._argocd_namespace,
                )
            except ClusterError as err:
                # The target itself could not be read (a Role that grants only deployments/scale): nothing
                # to tell a reconciler by, so the step goes on as it did before it asked. An API that does
                # not answer (TransientError) is retried instead: never taken as "nobody would revert it".
                activity.logger.warning("could not ask who else writes %s: %s", target, err)
                claim = None
        if claim is not None:  # taken out by the workflow before the snapshot is recorded
            before[RECONCILED_BY] = claim.model_dump(mode="json")
        return before

    @activity.defn(name="remediate.apply")
    @translated
    def apply(self, request: StepRequest) -> dict[str, Any]:
        action = self._registry.for_step(request.step)
        with (
            heartbeating(self._heartbeat_every),
            recorded(lambda outcome: self._rec.action(request.step.action, outcome), ok="applied"),
        ):
            return action.apply(self._need_cluster(), request.step, request.before, request.stamp)

    @activity.defn(name="remediate.compensate")
    @translated
    def compensate(self, request: StepRequest) -> bool:
        with (
            heartbeating(self._heartbeat_every),
            recorded(lambda outcome: self._rec.action(request.step.action, outcome), ok="rolled_back"),
        ):
            return self._registry.for_step(request.step).compensate(
                self._need_cluster(), request.step, request.before, request.stamp
            )

    @activity.defn(name="remediate.verify")
    @translated
    def verify(self, request: VerifyRequest) -> bool:
        if self._metrics is None:
            raise PermanentError("no Prometheus configured (MEDIC_PROMETHEUS_URL): cannot verify")
        return self._metrics.holds(request.promql)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.match,
            self.facts,
            self.reserve,
            self.release,
            self.snapshot,
            self.apply,
            self.compensate,
            self.verify,
        ]
