"""What each runbook step needs the Kubernetes API to allow, so a missing grant is found when Medic starts
(or `medic doctor` runs), not at 3 a.m. when the step is refused with a 403.

The verbs are the calls the actions make (remediations/actions.py, remediations/traffic.py,
remediations/controllers.py, remediations/gitops.py) and the chart's Role grants
(deploy/helm/medic/templates/rbac.yaml). Checking them is the caller's (a SelfSubjectAccessReview each).
"""

from pydantic import BaseModel, ConfigDict

from medic.runbook import (
    BINDING,
    CircuitBreakStep,
    RerouteStep,
    RestartStep,
    RollbackStep,
    Runbook,
    ScaleStep,
    Step,
)

__all__ = ["Permission", "needed", "runbook_needs"]


class Permission(BaseModel):
    """A verb on a resource (``deployments/scale``: resource ``deployments``, subresource ``scale``)."""

    model_config = ConfigDict(frozen=True)

    verb: str
    group: str
    resource: str
    subresource: str = ""
    name: str = ""  # one object by name (a Role may grant it by resourceNames)
    required: bool = True  # False: a read that makes the step safer, not one it cannot act without
    by_name: bool = False  # a Role may grant it by name only, and the name is bound from the alert

    @property
    def writes(self) -> bool:
        return self.verb not in ("get", "list", "watch")

    def __str__(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {what}" + (f" ({self.group})" if self.group else "")


def _workloads(kind: str) -> list[str]:
    """The resources a step's target kind may be: both when it is bound from the alert."""
    if kind == "Deployment":
        return ["deployments"]
    if kind == "StatefulSet":
        return ["statefulsets"]
    return ["deployments", "statefulsets"]


def needed(step: Step) -> list[Permission]:
    """The permissions a step needs in its namespace."""
    out: list[Permission] = []
    if isinstance(step, ScaleStep):
        if step.hpa:
            out += [
                Permission(verb=v, group="autoscaling", resource="horizontalpodautoscalers")
                for v in ("get", "patch")
            ]
        else:
            for resource in _workloads(step.target.kind):
                out += [
                    Permission(verb=v, group="apps", resource=resource, subresource="scale")
                    for v in ("get", "patch")
                ]
                out.append(Permission(verb="get", group="apps", resource=resource, required=False))
            out.append(
                Permission(
                    verb="list", group="autoscaling", resource="horizontalpodautoscalers", required=False
                )
            )
    elif isinstance(step, RestartStep):
        for resource in _workloads(step.target.kind):
            out += [Permission(verb=v, group="apps", resource=resource) for v in ("get", "patch")]
    elif isinstance(step, RollbackStep):
        out += [Permission(verb=v, group="apps", resource="deployments") for v in ("get", "patch")]
        out.append(Permission(verb="list", group="apps", resource="replicasets"))
    elif isinstance(step, CircuitBreakStep):
        group, resource = (
            ("networking.istio.io", "destinationrules") if step.mode == "istio" else ("", "configmaps")
        )
        out.append(Permission(verb="create", group=group, resource=resource))  # not limited by name
        bound = bool(BINDING.search(step.upstream))
        name = "" if bound else f"medic-circuit-{step.upstream}"
        out += [
            Permission(verb=v, group=group, resource=resource, name=name, by_name=bound)
            for v in ("get", "patch", "delete")
        ]
    elif isinstance(step, RerouteStep):
        group, resource = (
            ("gateway.networking.k8s.io", "httproutes")
            if step.kind == "HTTPRoute"
            else ("networking.istio.io", "virtualservices")
        )
        out += [Permission(verb=v, group=group, resource=resource) for v in ("get", "patch")]
    return out


def _namespace(step: Step) -> str | None:
    """The step's namespace when the runbook names it; None when it is bound from the alert."""
    namespace = step.namespace if isinstance(step, CircuitBreakStep | RerouteStep) else step.target.namespace
    return None if BINDING.search(namespace) else namespace


def runbook_needs(runbook: Runbook, namespaces: list[str]) -> dict[str, list[Permission]]:
    """Namespace -> the permissions the runbook's steps need there: a step's own namespace when the
    runbook names it, else each of ``namespaces`` (MEDIC_REMEDIATION_NAMESPACES; ``[""]``: all)."""
    out: dict[str, list[Permission]] = {}
    for index, step in enumerate(runbook.steps):
        fixed = _namespace(step)
        asks = needed(step)
        if index == 0 and runbook.match.rollout_condition() is not None:
            # matched by when the first step's Deployment rolled out: its ReplicaSets are read then (a
            # cluster that cannot tell counts as "not recently")
            asks += [
                Permission(verb="get", group="apps", resource="deployments", required=False),
                Permission(verb="list", group="apps", resource="replicasets", required=False),
            ]
        for namespace in [fixed] if fixed is not None else namespaces:
            wanted = out.setdefault(namespace, [])
            wanted += [p for p in asks if p not in wanted]
    return out
