"""Runbooks: known failures and how to fix them, as validated YAML.

A runbook matches alerts (or anomalies), lists ordered steps (a discriminated union: a typo'd
action or field is an error at ``medic check`` time, never at 3 a.m.), says how risky each step
is, whether a human must approve, how to verify the fix, what to do when it did not work, and
how long to leave the target alone afterwards. Values may be bound from the alert with plain
``${alert.labels.x}`` lookups; there is no template language.
"""

import difflib
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from medic.kubenames import NameRule, name_problem
from medic.matchers import compile_regex
from medic.promql import BINDING, check_promql, has_bool, unbalanced
from medic.vocab import Risk
from medic.yamldoc import ConfigError, ConfigProblem, field_path, load_yaml_model, locate

__all__ = [
    "ACTS_ON",
    "BINDING",
    "CircuitBreakStep",
    "Matcher",
    "RerouteStep",
    "RestartStep",
    "RollbackStep",
    "Runbook",
    "ScaleStep",
    "Step",
    "Target",
    "Verification",
    "bind",
    "kind_problem",
    "load_runbook",
    "name_problems",
]

# ``target.*`` is the alert's resolved subject (medic.subject): the workload that owns the crashing pod,
# the Deployment an HPA scales, so stock kube-state-metrics alerts bind without a ``deployment`` label.
_ALLOWED_ROOTS = (
    "alert.labels.",
    "alert.annotations.",
    "incident.service",
    "incident.id",
    "target.kind",
    "target.namespace",
    "target.name",
)
_BOUND = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?|\$\{[A-Za-z0-9_.]+\})$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Strict):
    # ``${target.kind}`` is checked again once bound: only these kinds can be acted on.
    kind: Literal["Deployment", "StatefulSet"] | Annotated[str, Field(pattern=r"^\$\{target\.kind\}$")] = (
        "Deployment"
    )
    namespace: str = Field(pattern=_BOUND)
    name: str = Field(pattern=_BOUND)


class _StepBase(_Strict):
    risk: Risk = Risk.LOW
    description: str = ""


class ScaleStep(_StepBase):
    action: Literal["scale"]
    target: Target
    replicas: int | None = Field(default=None, ge=0, description="set exactly this many")
    factor: float | None = Field(default=None, gt=1, le=10, description="or multiply the current count")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=20, ge=1)
    hpa: str | None = Field(default=None, description="raise this HPA's minReplicas instead of the replicas")
    hpa_field: Literal["minReplicas", "maxReplicas"] = Field(
        default="minReplicas",
        description="with hpa: the bound to set (maxReplicas: room for an HPA that is maxed out)",
    )

    @model_validator(mode="after")
    def _one_way(self) -> "ScaleStep":
        if (self.replicas is None) == (self.factor is None):
            raise ValueError("give exactly one of replicas or factor")
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class RestartStep(_StepBase):
    action: Literal["restart"]
    target: Target


class RollbackStep(_StepBase):
    action: Literal["rollback"]
    target: Target
    to_revision: int | None = Field(
        default=None,
        ge=1,
        description="default: the previous release (the newest earlier revision that differs from the "
        "running one in more than a restart)",
    )


class CircuitBreakStep(_StepBase):
    action: Literal["circuit_break"]
    namespace: str = Field(pattern=_BOUND)
    upstream: str = Field(pattern=_BOUND, description="the failing service (Kubernetes Service name)")
    mode: Literal["istio", "configmap"] = "istio"
    consecutive_5xx: int = Field(default=5, ge=1)
    ejection_seconds: int = Field(default=30, ge=1)
    max_pending_requests: int = Field(default=100, ge=1)


class RerouteStep(_StepBase):
    action: Literal["reroute"]
    namespace: str = Field(pattern=_BOUND)
    route: str = Field(pattern=_BOUND, description="the HTTPRoute (or VirtualService) name")
    kind: Literal["HTTPRoute", "VirtualService"] = "HTTPRoute"
    weights: dict[str, int] = Field(min_length=1, description="backend -> weight, e.g. {checkout-v1: 100}")


Step = Annotated[
    ScaleStep | RestartStep | RollbackStep | CircuitBreakStep | RerouteStep, Field(discriminator="action")
]


def _is_regex(want: str) -> bool:
    return len(want) > 1 and want.startswith("/") and want.endswith("/")


class Matcher(_Strict):
    alertname: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict, description="label -> exact value or /regex/")
    service: list[str] = Field(default_factory=list)
    anomaly: bool = Field(default=False, description="match anomaly signals of these services instead")
    target_kind: list[str] = Field(
        default_factory=list, description="the kinds of resolved subject (target.kind) this runbook acts on"
    )
    rolled_out_within_minutes: int | None = Field(
        default=None,
        ge=1,
        le=10080,
        description="only when the first step's Deployment rolled out its running release this recently "
        "(the age of the first ReplicaSet with its pod template, a restart being no release, read from the "
        "cluster when the runbook is matched)",
    )
    not_rolled_out_within_minutes: int | None = Field(
        default=None,
        ge=1,
        le=10080,
        description="only when it did not (or the cluster cannot tell): the other side of a choice such as "
        "'roll back a fresh release, else restart'",
    )

    @model_validator(mode="after")
    def _one_rollout_condition(self) -> "Matcher":
        if self.rolled_out_within_minutes is not None and self.not_rolled_out_within_minutes is not None:
            raise ValueError("set rolled_out_within_minutes or not_rolled_out_within_minutes, not both")
        return self

    def rollout_condition(self) -> tuple[bool, int] | None:
        """(recent wanted, minutes), or None when the runbook does not care when its target rolled out."""
        if self.rolled_out_within_minutes is not None:
            return True, self.rolled_out_within_minutes
        if self.not_rolled_out_within_minutes is not None:
            return False, self.not_rolled_out_within_minutes
        return None

    @field_validator("labels")
    @classmethod
    def _regexes_compile(cls, labels: dict[str, str]) -> dict[str, str]:
        """A broken /regex/ is a `medic check` error, not a failure when an alert arrives."""
        for key, want in labels.items():
            if _is_regex(want):
                try:
                    compile_regex(want[1:-1])
                except ValueError as err:
                    raise ValueError(f"labels.{key}: {want} is not a valid regex: {err}") from err
        return labels

    def matches(
        self, *, alertname: str, labels: dict[str, str], service: str | None, target_kind: str | None = None
    ) -> bool:
        if self.alertname and alertname not in self.alertname:
            return False
        if self.target_kind and target_kind not in self.target_kind:
            return False
        if self.service and service not in self.service:
            return False
        for key, want in self.labels.items():
            value = labels.get(key)
            if value is None:
                return False
            if _is_regex(want):
                if not re.fullmatch(want[1:-1], value):
                    return False
            elif value != want:
                return False
        return True


class Verification(_Strict):
    promql: str | None = Field(default=None, description="holds while this query returns a non-empty result")
    alerts_resolved: bool = Field(default=False, description="holds once the matched alerts have resolved")
    for_seconds: int = Field(default=60, ge=0, description="how long it must hold")
    deadline_seconds: int = Field(default=600, ge=10, description="give up (and undo) after this long")
    interval_seconds: int = Field(default=15, ge=1)

    @field_validator("promql")
    @classmethod
    def _bindings_quoted(cls, promql: str | None) -> str | None:
        """A value bound outside a string literal could rewrite the query (medic/promql.py)."""
        if promql:
            check_promql(promql)
        return promql

    @model_validator(mode="after")
    def _something(self) -> "Verification":
        if not self.promql and not self.alerts_resolved:
            raise ValueError("give promql or alerts_resolved: true")
        return self


class Runbook(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    match: Matcher
    steps: list[Step] = Field(min_length=1)
    approval: Literal["auto", "always", "high-risk"] = Field(
        default="high-risk", description="auto: the mode decides; always: a human approves every step"
    )
    verify: Verification
    on_failure: Literal["rollback", "next_step", "escalate"] = "rollback"
    cooldown_minutes: int = Field(default=30, ge=0)

    @model_serializer(mode="wrap")
    def _without_defaults_older_workers_refuse(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        """Plans carry their runbook in workflow inputs, and a runbook forbids fields it does not know: a
        worker of the release before ``reconcilers`` (mid-upgrade, or after a rollback) could not read a
        plan holding it. Left out at its default, which is what such a worker does anyway."""
        data: dict[str, Any] = handler(self)
        if data.get("reconcilers") == "refuse":
            del data["reconcilers"]
        return data

    reconcilers: Literal["refuse", "ignore"] = Field(
        default="refuse",
        description="refuse: a step whose fields a GitOps reconciler (Argo CD, Flux) or an operator that "
        "owns the target would put back (or may: Medic cannot read it, or cannot know what the operator "
        "writes) does not act, and the incident says which and what to do (in its chats and pager notes; no "
        "escalation level is paged early); ignore: act anyway "
        "(the fields are ignored by it, or its revert is wanted after the fix). An HPA's replicas are "
        "never acted on directly (scale through it with hpa:)",
    )


def bind(value: str, context: dict[str, str]) -> str:
    """Replace each ``${path}`` with its value; a missing one is a ValueError naming it."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise ValueError(f"${{{key}}} has no value for this alert")
        return context[key]

    return BINDING.sub(one, value)


def name_problems(step: Step) -> list[str]:
    """Why the Kubernetes names and namespaces of a (bound) step are not valid: empty when they are.
    Checked after binding, before a plan is made (a label may hold anything)."""
    label, subdomain, service = NameRule.DNS1123_LABEL, NameRule.DNS1123_SUBDOMAIN, NameRule.DNS1035_LABEL
    names: list[tuple[str, str, NameRule, str]] = []
    if isinstance(step, ScaleStep | RestartStep | RollbackStep):
        names += [
            ("target.namespace", step.target.namespace, label, "namespace"),
            ("target.name", step.target.name, subdomain, f"{step.target.kind} name"),
        ]
    if isinstance(step, ScaleStep) and step.hpa is not None:
        names.append(("hpa", step.hpa, subdomain, "HorizontalPodAutoscaler name"))
    if isinstance(step, CircuitBreakStep):
        names += [
            ("namespace", step.namespace, label, "namespace"),
            ("upstream", step.upstream, service, "Service name"),
        ]
    if isinstance(step, RerouteStep):
        names += [
            ("namespace", step.namespace, label, "namespace"),
            ("route", step.route, subdomain, step.kind),
        ]
        names += [(f"weights.{k}", k, subdomain, "backend name") for k in step.weights]
    found = (
        name_problem(f"{step.action}.{field}", value, rule, what=what) for field, value, rule, what in names
    )
    return [p for p in found if p]


def bindings(runbook: Runbook) -> list[tuple[tuple[int | str, ...], str]]:
    """Every ``${...}`` the runbook binds, with where."""
    found: list[tuple[tuple[int | str, ...], str]] = []

    def walk(value: object, loc: tuple[int | str, ...]) -> None:
        if isinstance(value, str):
            for m in BINDING.finditer(value):
                found.append((loc, m.group(1)))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*loc, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*loc, i))

    walk(runbook.model_dump(mode="json"), ())
    return found


# The kinds a subject resolves to (medic/subject.py), as Kubernetes writes them: `deployment` matched
# nothing, in silence (a field walk-through, 2026-12-07). A kind of a custom resource the cluster lookup
# names (a Rollout) is the author's to know.
SUBJECT_KINDS = (
    "CronJob",
    "DaemonSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Job",
    "Node",
    "PersistentVolumeClaim",
    "Pod",
    "Service",
    "StatefulSet",
)


# The kinds each workload action acts on (remediations/actions.py): a rollback reads a Deployment's
# ReplicaSets, and neither a StatefulSet's ControllerRevisions nor DaemonSets are read or written. A
# rollback of a StatefulSet passed `medic check` and failed at every alert; a DaemonSet's restart was
# skipped at every alert with pydantic's words (a runbook author's walk-through, 2026-12-07).
ACTS_ON: dict[str, tuple[str, ...]] = {
    "scale": ("Deployment", "StatefulSet"),
    "restart": ("Deployment", "StatefulSet"),
    "rollback": ("Deployment",),
}
_BY_HAND = {
    "restart": "kubectl rollout restart {kind}/{name} -n {ns}",
    "rollback": "kubectl rollout undo {kind}/{name} -n {ns}, and delete any pod stuck on the bad revision",
}


def kind_problem(step: Step) -> str | None:
    """Why a (bound) workload step cannot act on its target's kind; None when it can."""
    if not isinstance(step, ScaleStep | RestartStep | RollbackStep):
        return None
    kinds, kind = ACTS_ON[step.action], step.target.kind
    if kind in kinds:
        return None
    where = f"{step.target.namespace}/{step.target.name}"
    said = f"{step.action} acts on a {' or a '.join(kinds)}, not on {kind} {where}"
    if (hand := _BY_HAND.get(step.action)) and kind in ("StatefulSet", "DaemonSet"):
        said += ": do it by hand, " + hand.format(
            kind=kind.lower(), name=step.target.name, ns=step.target.namespace
        )
    return said


def _kind_mistakes(runbook: Runbook) -> list[tuple[tuple[int | str, ...], str]]:
    """A workload step on a kind its action does not act on: named in the step, or let through by
    ``match.target_kind`` to a step that binds ``${target.kind}``."""
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, step in enumerate(runbook.steps):
        if not isinstance(step, ScaleStep | RestartStep | RollbackStep):
            continue
        kinds = ACTS_ON[step.action]
        acts_on = " or ".join(kinds)
        if not step.target.kind.startswith("${"):
            if step.target.kind not in kinds:
                why = (
                    "Medic does not read a StatefulSet's ControllerRevisions, so it would fail at every alert"
                    if step.action == "rollback"
                    else "it would fail at every alert"
                )
                out.append((("steps", i, "target", "kind"), f"{step.action} acts on {acts_on} only: {why}"))
            continue
        for j, kind in enumerate(runbook.match.target_kind):
            if kind in SUBJECT_KINDS and kind not in kinds:
                out.append(
                    (
                        ("match", "target_kind", j),
                        f"steps[{i}] binds target.kind and {step.action} acts on {acts_on} only: every "
                        f"{kind} alert would match and be skipped; leave {kind} out, or act on it by hand",
                    )
                )
    return out


def _mistakes(runbook: Runbook) -> list[tuple[tuple[int | str, ...], str]]:
    """What a runbook says that cannot work as written, each with where (checked when a file is read,
    not by the models: a plan in a workflow's history carries its runbook, and must still be read).
    Each was accepted in silence and did something else at run time (a field walk-through, 2026-12-07)."""
    out: list[tuple[tuple[int | str, ...], str]] = []
    m = runbook.match
    if not (m.alertname or m.labels or m.service or m.target_kind):
        out.append(
            (
                ("match",),
                "names no alertname, labels, service or target_kind: it would match every "
                + ("anomaly of every service" if m.anomaly else "alert of every service")
                + "; say which alerts it is for",
            )
        )
    for i, kind in enumerate(m.target_kind):
        if kind in SUBJECT_KINDS:
            continue
        near = [k for k in SUBJECT_KINDS if k.lower() == kind.lower()] or difflib.get_close_matches(
            kind, SUBJECT_KINDS, n=1, cutoff=0.8
        )
        if near or not kind[:1].isupper():
            hint = f"did you mean {near[0]!r}? " if near else ""
            out.append(
                (
                    ("match", "target_kind", i),
                    f"{kind!r} is no kind a subject resolves to, so the runbook never matches: {hint}"
                    f"kinds are written as Kubernetes writes them ({', '.join(SUBJECT_KINDS)})",
                )
            )
    out += _kind_mistakes(runbook)
    for i, step in enumerate(runbook.steps):
        if isinstance(step, ScaleStep) and step.replicas is not None:
            lo, hi = step.min_replicas, step.max_replicas
            if not lo <= step.replicas <= hi:
                fix = (
                    f"min_replicas: {step.replicas}"
                    if step.replicas < lo
                    else f"max_replicas: {step.replicas}"
                )
                out.append(
                    (
                        ("steps", i, "replicas"),
                        f"replicas {step.replicas} is outside min_replicas..max_replicas ({lo}..{hi}), which"
                        f" would set {max(lo, min(hi, step.replicas))} instead: set {fix} to allow it",
                    )
                )
    check = runbook.verify
    # checked at once and every interval_seconds while before the deadline: it holds once a check at
    # least for_seconds after the first one that held finds it still holding
    last = math.ceil(check.for_seconds / check.interval_seconds) * check.interval_seconds
    if last >= check.deadline_seconds:
        out.append(
            (
                ("verify", "deadline_seconds"),
                f"verify can never pass: it must hold for {check.for_seconds}s, checked every "
                f"{check.interval_seconds}s, so its last check would be at {last}s, not before the "
                f"deadline ({check.deadline_seconds}s); a fix that worked would be undone. Leave the fix "
                f"time to work: e.g. deadline_seconds: {last + max(300, check.for_seconds)}",
            )
        )
    if check.promql:
        if (wrong := unbalanced(check.promql)) is not None:
            out.append((("verify", "promql"), f"{wrong}: Prometheus would refuse it at every check"))
        if has_bool(check.promql):
            out.append(
                (
                    ("verify", "promql"),
                    "a `bool` comparison answers 0 or 1 for every series, so the result is never empty and "
                    "verify holds at once, fixed or not (it holds while the query returns any series): "
                    "drop `bool` to keep only the series that pass",
                )
            )
    return out


def load_runbook(text: str, *, source: str) -> Runbook:
    runbook, root = load_yaml_model(text, Runbook, source=source)
    problems = [
        ConfigProblem(
            source,
            locate(root, loc),
            field_path(loc),
            f"${{{key}}}: bindings may use alert.labels.*, alert.annotations.*, incident.service, "
            "incident.id, target.kind, target.namespace, target.name",
        )
        for loc, key in bindings(runbook)
        if not (key.startswith(_ALLOWED_ROOTS[:2]) or key in _ALLOWED_ROOTS[2:])
    ]
    problems += [
        ConfigProblem(source, locate(root, loc), field_path(loc), said) for loc, said in _mistakes(runbook)
    ]
    if runbook.on_failure == "next_step" and len(runbook.steps) == 1:
        loc: tuple[int | str, ...] = ("on_failure",)
        problems.append(
            ConfigProblem(source, locate(root, loc), "on_failure", "next_step needs more than one step")
        )
    if problems:
        raise ConfigError(problems)
    return runbook
