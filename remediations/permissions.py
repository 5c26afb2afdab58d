"""What each runbook step needs the Kubernetes API to allow, so a missing grant is found when Medic starts
(or `medic doctor` runs), not at 3 a.m. when the step is refused with a 403.

Each action says the verbs of the calls it makes (``permissions``, beside those calls in
remediations/actions.py and remediations/traffic.py); the chart's Role grants them
(deploy/helm/medic/templates/rbac.yaml). Checking them is the caller's (a SelfSubjectAccessReview each).
"""

from medic.runbook import BINDING, CircuitBreakStep, RerouteStep, Runbook, Step
from remediations.actions import default_registry
from remediations.ports import Permission

__all__ = ["Permission", "needed", "runbook_needs"]


def needed(step: Step) -> list[Permission]:
    """The permissions a step needs in its namespace: what its action says it calls."""
    return default_registry().for_step(step).permissions(step)


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
