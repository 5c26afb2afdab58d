"""From a firing alert and a matching runbook to a concrete, bound remediation plan, and the
records a remediation leaves behind."""

import hashlib
import re
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from medic.alerts import Alert
from medic.grafana_alerts import datasource_alert
from medic.promql import bind_promql
from medic.runbook import Runbook, Step, bind, bindings, kind_problem, name_problems
from medic.subject import Subject, resolve_subject
from medic.vocab import Risk
from remediations.actions import default_registry
from remediations.ports import ObjectRef

__all__ = [
    "ActionRecord",
    "RemediationEvent",
    "RemediationPlan",
    "bind_steps",
    "match_runbooks",
    "plan_for",
    "subject_of",
]

_STEP = TypeAdapter(Step)


class RemediationPlan(BaseModel):
    runbook: Runbook
    steps: list[Step] = Field(description="the runbook's steps with every ${...} bound")
    incident_id: str
    service: str | None
    alertname: str
    fingerprints: list[str]
    target: ObjectRef = Field(description="what the first step acts on: the lock key")
    cluster: str = Field(
        default="",
        description="the cluster it acts on (MEDIC_CLUSTER of the worker that planned it; '' unset): the "
        "lock and the hourly budget are that cluster's, so Medics of two clusters sharing a Temporal "
        "namespace do not hold each other's shop/checkout",
    )

    @property
    def workflow_id(self) -> str:
        """One remediation per target at a time, across all incidents and workers: the id is the lock
        (per cluster, where the worker names its own: another cluster's namesake is another object)."""
        t = self.target
        where = f"{self.cluster}-" if self.cluster else ""
        readable = re.sub(r"[^a-z0-9-]+", "-", f"{where}{t.kind}-{t.namespace}-{t.name}".lower())[:80]
        whole = f"{t.api_version}/{t.kind}/{t.namespace}/{t.name}" + (
            f"@{self.cluster}" if self.cluster else ""
        )
        digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
        return f"remediate-{readable}-{digest}"


class ActionRecord(BaseModel):
    step: int
    action: str
    target: str
    description: str
    risk: Risk
    status: Literal["dry-run", "executed", "compensated", "failed", "not-undoable"]
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    by: str = "medic"


class RemediationEvent(BaseModel):
    """What a remediation tells its incident, for the timeline and the `actions` list."""

    remediation_id: str
    kind: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
    action: ActionRecord | None = None
    escalate: bool = False


def subject_of(alert: Alert) -> Subject:
    """The subject assignment resolved (with the cluster, when there was one), or the labels' own (an
    alert recorded before subjects were)."""
    return alert.subject or resolve_subject(alert.labels)


def _context(alert: Alert, incident_id: str, service: str | None) -> dict[str, str]:
    context = {f"alert.labels.{k}": v for k, v in alert.labels.items()}
    context.update({f"alert.annotations.{k}": v for k, v in alert.annotations.items()})
    context["incident.id"] = incident_id
    if service:
        context["incident.service"] = service
    target = subject_of(alert).target
    if target is not None:
        context.update(
            {"target.kind": target.kind, "target.namespace": target.namespace, "target.name": target.name}
        )
    return context


def _bind_value(value: object, context: dict[str, str]) -> object:
    if isinstance(value, Enum):  # a word of a vocabulary (a step's risk): nothing to bind, kept a member
        return value
    if isinstance(value, str):
        return bind(value, context)
    if isinstance(value, BaseModel):  # copied unvalidated: the names are checked first, with reasons
        fields = {name: _bind_value(getattr(value, name), context) for name in type(value).model_fields}
        return value.model_copy(update=fields)
    if isinstance(value, dict):
        return {bind(k, context): _bind_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_bind_value(v, context) for v in value]
    return value


def bind_steps(steps: list[Step], context: dict[str, str]) -> list[Step]:
    """Bind and re-validate every step: every Kubernetes name and namespace must be one the API server
    would accept, and every other bound value must still be valid. A ValueError says which and why."""
    bound = []
    for step in steps:
        raw = _bind_value(step, context)
        assert isinstance(raw, type(step))
        if wrong_kind := kind_problem(raw):
            raise ValueError(wrong_kind)
        if problems := name_problems(raw):
            raise ValueError("; ".join(problems))
        try:
            bound.append(_STEP.validate_python(raw.model_dump(mode="json")))
        except ValidationError as err:
            raise ValueError(_explain(err)) from err
    return bound


def _explain(err: ValidationError) -> str:
    """pydantic's errors in one line: ``scale.target.name: String should match pattern ...``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']} (got {str(e.get('input'))[:80]!r})"
        for e in err.errors()
    )


def match_runbooks(runbooks: list[Runbook], alert: Alert, service: str | None) -> list[Runbook]:
    """The runbooks an alert calls for. Grafana's DatasourceError and DatasourceNoData keep their
    rule's labels (medic.grafana_alerts) but say nothing of the rule's service: only a runbook naming
    them by ``alertname`` is theirs (a ``service: checkout`` label matched checkout's restart)."""
    datasource = datasource_alert(alert.labels)
    return [
        rb
        for rb in runbooks
        if not rb.match.anomaly
        and (not datasource or alert.name in rb.match.alertname)
        and rb.match.matches(
            alertname=alert.name,
            labels=alert.labels,
            service=service,
            target_kind=target.kind if (target := subject_of(alert).target) else None,
        )
    ]


def taken(plan: RemediationPlan, first: str) -> str:
    """Why ``plan`` is not made: runbook ``first`` (earlier in file-name order) has the same target, and
    one remediation acts on a target at a time. The second was merged into the first in silence, where
    `medic explain` said both would run (a runbook author's walk-through, 2026-12-07)."""
    return (
        f"{plan.target} is remediated by runbook {first}, which also matched and comes first (one "
        "remediation per target at a time; runbooks are matched in file-name order)"
    )


def plan_for(runbook: Runbook, alert: Alert, *, incident_id: str, service: str | None) -> RemediationPlan:
    """Raises ValueError when the alert lacks a label the runbook binds."""
    subject = subject_of(alert).target
    if (
        subject is not None
        and not subject.namespace
        and any(k.startswith("target.") for _, k in bindings(runbook))
    ):
        # a node's alert: its target has no namespace, and "restart.target.namespace '' is not a valid
        # namespace" did not say why (a runbook author's walk-through, 2026-12-07)
        raise ValueError(
            f"its subject is {subject.kind} {subject.name}, which is in no namespace: Medic's steps act "
            f"on workloads and routes in a namespace, none on a {subject.kind} (cordon and drain are not "
            "Medic's)"
        )
    context = _context(alert, incident_id, service)
    steps = bind_steps(runbook.steps, context)
    if runbook.verify.promql:
        promql = bind_promql(runbook.verify.promql, context)  # quoted, regex-escaped after =~
        verify = runbook.verify.model_copy(update={"promql": promql})
        runbook = runbook.model_copy(update={"verify": verify})
    target = default_registry().for_step(steps[0]).target(steps[0])
    return RemediationPlan(
        runbook=runbook,
        steps=steps,
        incident_id=incident_id,
        service=service,
        alertname=alert.name,
        fingerprints=[alert.fingerprint],
        target=target,
    )
