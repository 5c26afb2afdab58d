"""The remediation actions: read what will change, set absolute values, and undo from the record.

Each action works in three idempotent calls, each its own Temporal activity:
``snapshot`` reads the state it will change (recorded in history), ``apply`` sets absolute
values computed from that snapshot, ``compensate`` puts the snapshot back. A restart is stamped with
the workflow's time, so a retry restarts nothing twice.

``apply`` acts only on the object the plan found (:func:`still_as_planned`): a retry whose first
attempt landed (its answer lost with a dead worker) finds the values it wanted and writes nothing; a
target someone changed in between (scaled by hand to 3 while Medic's 6 was in flight) is
:class:`ChangedMeanwhile`, recorded, never overwritten. The write itself carries the same
precondition (``expect``), so a change between the read and the write is caught too.
"""

import contextlib
import math
from typing import Any, Protocol

from medic.runbook import CircuitBreakStep, RerouteStep, RestartStep, RollbackStep, ScaleStep, Step
from remediations.patches import merge_diff
from remediations.ports import Cluster, ClusterConflict, ClusterError, ObjectRef
from remediations.preconditions import ChangedMeanwhile, still_as_planned

__all__ = ["ACTIONS", "Action", "ActionError", "ActionRegistry", "default_registry"]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_RESTARTED_AT_PATH = "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"
MANAGED = {"app.kubernetes.io/managed-by": "medic"}


class ActionError(Exception):
    """The action cannot be carried out as asked (no previous revision, bounds, missing object)."""


def _changed_while_writing(target: ObjectRef, err: ClusterConflict) -> ChangedMeanwhile:
    return ChangedMeanwhile(f"{target} changed as Medic was about to write: {err}")


class Action(Protocol):
    name: str

    def target(self, step: Any) -> ObjectRef: ...

    def snapshot(self, cluster: Cluster, step: Any) -> dict[str, Any]: ...

    def apply(self, cluster: Cluster, step: Any, before: dict[str, Any], stamp: str) -> dict[str, Any]: ...

    def compensate(self, cluster: Cluster, step: Any, before: dict[str, Any]) -> bool:
        """Put ``before`` back; False when the action cannot be undone (a restart)."""

    def describe(self, step: Any, before: dict[str, Any]) -> str: ...


def _workload(step: ScaleStep | RestartStep | RollbackStep) -> ObjectRef:
    return ObjectRef(
        api_version="apps/v1", kind=step.target.kind, namespace=step.target.namespace, name=step.target.name
    )


class Scale:
    name = "scale"

    def target(self, step: ScaleStep) -> ObjectRef:
        if step.hpa:
            return ObjectRef(
                api_version="autoscaling/v2",
                kind="HorizontalPodAutoscaler",
                namespace=step.target.namespace,
                name=step.hpa,
            )
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: ScaleStep) -> dict[str, Any]:
        if step.hpa:
            hpa = cluster.get(self.target(step))
            if hpa is None:
                raise ActionError(f"no HorizontalPodAutoscaler {step.hpa} in {step.target.namespace}")
            spec = hpa.get("spec", {})
            current = int(spec.get("minReplicas", 1))
            return {"replicas": current, "max_replicas": int(spec.get("maxReplicas", current))}
        return {"replicas": cluster.get_replicas(self.target(step))}

    @staticmethod
    def desired(step: ScaleStep, before: dict[str, Any]) -> int:
        current = int(before["replicas"])
        wanted = (
            step.replicas if step.replicas is not None else math.ceil(max(current, 1) * (step.factor or 1))
        )
        return max(step.min_replicas, min(step.max_replicas, wanted))

    def apply(self, cluster: Cluster, step: ScaleStep, before: dict[str, Any], stamp: str) -> dict[str, Any]:
        wanted = self.desired(step, before)
        ref = self.target(step)
        planned: dict[str, Any] = {key: before[key] for key in ("replicas", "max_replicas") if key in before}
        goal = {"replicas": wanted} | (
            {"max_replicas": max(wanted, int(before["max_replicas"]))} if "max_replicas" in before else {}
        )
        if not still_as_planned(str(ref), planned=planned, wanted=goal, found=self.snapshot(cluster, step)):
            return {"replicas": wanted}
        try:
            if step.hpa:
                patch: dict[str, Any] = {"spec": {"minReplicas": wanted}}
                if goal["max_replicas"] != before["max_replicas"]:
                    patch["spec"]["maxReplicas"] = goal["max_replicas"]
                expect = {
                    "/spec/minReplicas": before["replicas"],
                    "/spec/maxReplicas": before["max_replicas"],
                }
                cluster.merge_patch(ref, patch, expect=expect)
            else:
                cluster.set_replicas(ref, wanted, expect=int(before["replicas"]))
        except ClusterConflict as err:
            raise _changed_while_writing(ref, err) from err
        return {"replicas": wanted}

    def compensate(self, cluster: Cluster, step: ScaleStep, before: dict[str, Any]) -> bool:
        if step.hpa:
            cluster.merge_patch(
                self.target(step),
                {"spec": {"minReplicas": before["replicas"], "maxReplicas": before["max_replicas"]}},
            )
        else:
            cluster.set_replicas(self.target(step), int(before["replicas"]))
        return True

    def describe(self, step: ScaleStep, before: dict[str, Any]) -> str:
        what = f"HPA {step.hpa} minReplicas" if step.hpa else f"{step.target.kind} replicas"
        return (
            f"scale {what} of {step.target.namespace}/{step.target.name} from {before['replicas']} to "
            f"{self.desired(step, before)} (bounds {step.min_replicas}..{step.max_replicas}); "
            f"undo: back to {before['replicas']}"
        )


class Restart:
    name = "restart"

    def target(self, step: RestartStep) -> ObjectRef:
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: RestartStep) -> dict[str, Any]:
        obj = cluster.get(self.target(step))
        if obj is None:
            raise ActionError(f"no {step.target.kind} {step.target.namespace}/{step.target.name}")
        annotations = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
        return {"restarted_at": annotations.get(RESTARTED_AT)}

    def apply(
        self, cluster: Cluster, step: RestartStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        ref = self.target(step)
        planned = {"restarted_at": before.get("restarted_at")}
        now = self.snapshot(cluster, step)
        if still_as_planned(str(ref), planned=planned, wanted={"restarted_at": stamp}, found=now):
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
            try:
                cluster.merge_patch(ref, patch, expect={_RESTARTED_AT_PATH: planned["restarted_at"]})
            except ClusterConflict as err:
                raise _changed_while_writing(ref, err) from err
        return {"restarted_at": stamp}

    def compensate(self, cluster: Cluster, step: RestartStep, before: dict[str, Any]) -> bool:
        return False  # pods that restarted cannot be un-restarted

    def describe(self, step: RestartStep, before: dict[str, Any]) -> str:
        return (
            f"rolling restart of {step.target.kind} {step.target.namespace}/{step.target.name}; "
            "undo: none (a restart replaces pods, it changes no configuration)"
        )


class Rollback:
    name = "rollback"

    def target(self, step: RollbackStep) -> ObjectRef:
        return _workload(step)

    def snapshot(self, cluster: Cluster, step: RollbackStep) -> dict[str, Any]:
        info = cluster.rollout(self.target(step))
        to = step.to_revision or (info.previous[0] if info.previous else None)
        if to is None:
            raise ActionError(
                f"{step.target.namespace}/{step.target.name} has no previous revision to roll back to"
            )
        return {"revision": info.revision, "to_revision": to}

    def apply(
        self, cluster: Cluster, step: RollbackStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        cluster.rollback(self.target(step), int(before["to_revision"]))
        return {"revision_template": before["to_revision"]}

    def compensate(self, cluster: Cluster, step: RollbackStep, before: dict[str, Any]) -> bool:
        cluster.rollback(self.target(step), int(before["revision"]))
        return True

    def describe(self, step: RollbackStep, before: dict[str, Any]) -> str:
        return (
            f"roll back Deployment {step.target.namespace}/{step.target.name} from revision "
            f"{before['revision']} to revision {before['to_revision']}; undo: roll forward to "
            f"revision {before['revision']}'s template"
        )


class CircuitBreak:
    name = "circuit_break"

    def target(self, step: CircuitBreakStep) -> ObjectRef:
        if step.mode == "istio":
            return ObjectRef(
                api_version="networking.istio.io/v1beta1",
                kind="DestinationRule",
                namespace=step.namespace,
                name=f"medic-circuit-{step.upstream}",
            )
        return ObjectRef(
            api_version="v1",
            kind="ConfigMap",
            namespace=step.namespace,
            name=f"medic-circuit-{step.upstream}",
        )

    def snapshot(self, cluster: Cluster, step: CircuitBreakStep) -> dict[str, Any]:
        existing = cluster.get(self.target(step))
        if existing is None:
            return {"existed": False}
        return {"existed": True, "spec": existing.get("spec"), "data": existing.get("data")}

    def _body(self, step: CircuitBreakStep, stamp: str) -> dict[str, Any]:
        ref = self.target(step)
        metadata = {
            "name": ref.name,
            "namespace": ref.namespace,
            "labels": {**MANAGED, "medic.io/circuit": step.upstream},
        }
        if step.mode == "configmap":
            return {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata,
                "data": {"open": "true", "upstream": step.upstream, "since": stamp},
            }
        return {
            "apiVersion": ref.api_version,
            "kind": "DestinationRule",
            "metadata": metadata,
            "spec": {
                "host": step.upstream,
                "trafficPolicy": {
                    "connectionPool": {"http": {"http1MaxPendingRequests": step.max_pending_requests}},
                    "outlierDetection": {
                        "consecutive5xxErrors": step.consecutive_5xx,
                        "interval": "5s",
                        "baseEjectionTime": f"{step.ejection_seconds}s",
                        "maxEjectionPercent": 100,
                    },
                },
            },
        }

    def apply(
        self, cluster: Cluster, step: CircuitBreakStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        body = self._body(step, stamp)
        ref = self.target(step)
        if cluster.get(ref) is None:
            cluster.create(ref, body)
        else:
            cluster.merge_patch(ref, {k: v for k, v in body.items() if k in ("spec", "data", "metadata")})
        return {"open": True}

    def compensate(self, cluster: Cluster, step: CircuitBreakStep, before: dict[str, Any]) -> bool:
        ref = self.target(step)
        if not before["existed"]:
            with contextlib.suppress(ClusterError):  # already gone is fine
                cluster.delete(ref)
        else:
            # The exact recorded state: a plain merge patch of it would leave what apply added.
            field = "spec" if step.mode == "istio" else "data"
            current = (cluster.get(ref) or {}).get(field) or {}
            cluster.merge_patch(ref, {field: merge_diff(current, before[field] or {})})
        return True

    def describe(self, step: CircuitBreakStep, before: dict[str, Any]) -> str:
        how = (
            f"an Istio DestinationRule ejecting hosts after {step.consecutive_5xx} consecutive 5xx"
            if step.mode == "istio"
            else "the medic-circuit ConfigMap flag"
        )
        return f"open the circuit to {step.upstream} in {step.namespace} with {how}; undo: close it again"


def _reroute_rules(step: RerouteStep, spec: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    if step.kind == "HTTPRoute":
        return "rules", [dict(rule) for rule in spec.get("rules", [])]
    return "http", [dict(rule) for rule in spec.get("http", [])]


class Reroute:
    name = "reroute"

    def target(self, step: RerouteStep) -> ObjectRef:
        if step.kind == "HTTPRoute":
            return ObjectRef(
                api_version="gateway.networking.k8s.io/v1",
                kind="HTTPRoute",
                namespace=step.namespace,
                name=step.route,
            )
        return ObjectRef(
            api_version="networking.istio.io/v1beta1",
            kind="VirtualService",
            namespace=step.namespace,
            name=step.route,
        )

    def snapshot(self, cluster: Cluster, step: RerouteStep) -> dict[str, Any]:
        route = cluster.get(self.target(step))
        if route is None:
            raise ActionError(f"no {step.kind} {step.namespace}/{step.route}")
        key, rules = _reroute_rules(step, route.get("spec", {}))
        return {"key": key, "rules": rules}

    def apply(
        self, cluster: Cluster, step: RerouteStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        rules = [dict(rule) for rule in before["rules"]]
        matched = False
        for rule in rules:
            refs_key = "backendRefs" if step.kind == "HTTPRoute" else "route"
            backends = [dict(b) for b in rule.get(refs_key, [])]
            for backend in backends:
                name = (
                    backend.get("name")
                    if step.kind == "HTTPRoute"
                    else backend.get("destination", {}).get("host")
                )
                if name in step.weights:
                    backend["weight"] = step.weights[name]
                    matched = True
            rule[refs_key] = backends
        if not matched:
            raise ActionError(f"none of {sorted(step.weights)} is a backend of {step.kind} {step.route}")
        cluster.merge_patch(self.target(step), {"spec": {before["key"]: rules}})
        return {"weights": step.weights}

    def compensate(self, cluster: Cluster, step: RerouteStep, before: dict[str, Any]) -> bool:
        cluster.merge_patch(self.target(step), {"spec": {before["key"]: before["rules"]}})
        return True

    def describe(self, step: RerouteStep, before: dict[str, Any]) -> str:
        weights = ", ".join(f"{k}={v}" for k, v in step.weights.items())
        return (
            f"shift traffic of {step.kind} {step.namespace}/{step.route} to {weights}; "
            "undo: restore the weights"
        )


class ActionRegistry:
    """Actions by name. Registering a name twice is an error, never a silent overwrite."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"an action named {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise ActionError(f"no action named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._actions)

    def for_step(self, step: Step) -> Action:
        return self.get(step.action)


ACTIONS: tuple[Action, ...] = (Scale(), Restart(), Rollback(), CircuitBreak(), Reroute())


def default_registry() -> ActionRegistry:
    registry = ActionRegistry()
    for action in ACTIONS:
        registry.register(action)
    return registry
