"""The traffic actions: open a circuit to a failing upstream, shift a route's weights. Same discipline as
the workload actions (remediations/actions.py): each write happens only while the object is as the plan
found it (``apply``) or as Medic's step left it (``compensate``), decided by
:func:`~remediations.preconditions.write_if_as_planned` and carried to the API as ``expect``.

What is compared: for a circuit, whether the object exists and its ``spec`` (DestinationRule) or
``data`` (ConfigMap); for a route, its rules (``spec.rules`` of an HTTPRoute, ``spec.http`` of a
VirtualService), where the weights live.
"""

import difflib
from typing import Any

from medic.runbook import BINDING, CircuitBreakStep, RerouteStep
from remediations.errors import ActionError
from remediations.gitops import FieldPath
from remediations.patches import merge_apply, merge_diff
from remediations.ports import Cluster, ObjectRef, Permission
from remediations.preconditions import LEFT_BY_MEDIC, write_if_as_planned

__all__ = ["MANAGED", "CircuitBreak", "Reroute"]

MANAGED = {"app.kubernetes.io/managed-by": "medic"}
_SINCE = "since"


def _state(obj: dict[str, Any] | None) -> dict[str, Any]:
    """What a circuit step compares: whether the object exists, and its spec and data."""
    if obj is None:
        return {"existed": False, "spec": None, "data": None}
    return {"existed": True, "spec": obj.get("spec"), "data": obj.get("data")}


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
                "data": {"open": "true", "upstream": step.upstream, _SINCE: stamp},
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

    def _states(
        self, step: CircuitBreakStep, before: dict[str, Any], stamp: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(as the plan found it, as ``apply`` stamped ``stamp`` leaves it)."""
        planned = {"existed": bool(before["existed"]), "spec": before.get("spec"), "data": before.get("data")}
        body = self._body(step, stamp)
        if not planned["existed"]:
            return planned, _state(body)
        opened = {
            key: merge_apply(planned[key], body[key]) if key in body else planned[key]
            for key in ("spec", "data")
        }
        return planned, planned | opened

    def apply(
        self, cluster: Cluster, step: CircuitBreakStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        ref = self.target(step)
        body = self._body(step, stamp)
        planned, opened = self._states(step, before, stamp)

        def write() -> None:
            if not planned["existed"]:
                cluster.create(ref, body)  # a conflict when someone created it meanwhile
                return
            patch = {k: v for k, v in body.items() if k in ("spec", "data", "metadata")}
            cluster.merge_patch(ref, patch, expect={"/spec": planned["spec"], "/data": planned["data"]})

        write_if_as_planned(
            str(ref), planned=planned, wanted=opened, found=_state(cluster.get(ref)), write=write
        )
        return {"open": True}

    def compensate(
        self, cluster: Cluster, step: CircuitBreakStep, before: dict[str, Any], stamp: str = ""
    ) -> bool:
        ref = self.target(step)
        found = _state(cluster.get(ref))
        planned, opened = self._states(step, before, stamp)
        if not stamp and opened["data"] and found["data"]:  # a request from before stamps were sent
            opened["data"] = opened["data"] | {_SINCE: found["data"].get(_SINCE)}
        expect = {"/spec": opened["spec"], "/data": opened["data"]}

        def write() -> None:
            if not planned["existed"]:
                cluster.delete(ref, expect=expect)
                return
            # The exact recorded state: a plain merge patch of it would leave what apply added.
            field = "spec" if step.mode == "istio" else "data"
            patch = {field: merge_diff(opened[field] or {}, planned[field] or {})}
            cluster.merge_patch(ref, patch, expect=expect)

        write_if_as_planned(
            str(ref), planned=opened, wanted=planned, found=found, write=write, basis=LEFT_BY_MEDIC
        )
        return True

    def permissions(self, step: CircuitBreakStep) -> list[Permission]:
        ref = self.target(step)
        group, resource = (
            ("networking.istio.io", "destinationrules") if step.mode == "istio" else ("", "configmaps")
        )
        # get, patch and delete a Role may grant by name (the chart's circuitBreakUpstreams): asked by name
        # where the runbook names the upstream; create cannot be limited by name
        bound = bool(BINDING.search(step.upstream))
        named = [
            Permission(verb=v, group=group, resource=resource, name="" if bound else ref.name, by_name=bound)
            for v in ("get", "patch", "delete")
        ]
        return [Permission(verb="create", group=group, resource=resource), *named]

    def writes(self, step: CircuitBreakStep, before: dict[str, Any] | None = None) -> list[FieldPath]:
        return [("spec",)] if step.mode == "istio" else [("data",)]

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
        before = {"key": key, "rules": rules}
        self.rerouted(step, before)  # a backend the route does not have: said before anyone approves
        return before

    @staticmethod
    def _backends(step: RerouteStep, rules: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """(name, weight) of every backend of the rules, in order (a name once per rule)."""
        refs_key = "backendRefs" if step.kind == "HTTPRoute" else "route"
        out = []
        for rule in rules:
            for backend in rule.get(refs_key, []):
                name = (
                    backend.get("name")
                    if step.kind == "HTTPRoute"
                    else backend.get("destination", {}).get("host")
                )
                out.append((str(name), backend.get("weight")))
        return out

    @staticmethod
    def rerouted(step: RerouteStep, before: dict[str, Any]) -> list[dict[str, Any]]:
        """The rules with the step's weights set: what ``apply`` leaves. Every backend the step names
        must be one of the route's: a misspelt one was passed over while the others were set (`chekout-
        canary: 0` left the canary at 50 and said it was 0; a field walk-through, 2026-12-07)."""
        rules = [dict(rule) for rule in before["rules"]]
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
            rule[refs_key] = backends
        known = dict.fromkeys(name for name, _ in Reroute._backends(step, before["rules"]))
        if missing := [name for name in step.weights if name not in known]:
            hints = [
                f"{name!r} (did you mean {near[0]!r}?)"
                if (near := difflib.get_close_matches(name, known, n=1))
                else repr(name)
                for name in missing
            ]
            raise ActionError(
                f"{', '.join(hints)} {'is no backend' if len(missing) == 1 else 'are no backends'} of "
                f"{step.kind} {step.namespace}/{step.route}, whose backends are {', '.join(known) or 'none'}:"
                " nothing was changed"
            )
        return rules

    def _set(
        self, cluster: Cluster, step: RerouteStep, key: str, *, was: list[Any], to: list[Any], basis: str
    ) -> None:
        ref = self.target(step)
        route = cluster.get(ref)
        if route is None:
            raise ActionError(f"no {step.kind} {step.namespace}/{step.route}")
        write_if_as_planned(
            str(ref),
            planned={"rules": was},
            wanted={"rules": to},
            found={"rules": _reroute_rules(step, route.get("spec") or {})[1]},
            write=lambda: cluster.merge_patch(ref, {"spec": {key: to}}, expect={f"/spec/{key}": was}),
            basis=basis,
        )

    def apply(
        self, cluster: Cluster, step: RerouteStep, before: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        rules = self.rerouted(step, before)
        self._set(cluster, step, before["key"], was=before["rules"], to=rules, basis="the plan found")
        return {"weights": step.weights}

    def compensate(
        self, cluster: Cluster, step: RerouteStep, before: dict[str, Any], stamp: str = ""
    ) -> bool:
        rules = self.rerouted(step, before)
        self._set(cluster, step, before["key"], was=rules, to=before["rules"], basis=LEFT_BY_MEDIC)
        return True

    def permissions(self, step: RerouteStep) -> list[Permission]:
        group, resource = (
            ("gateway.networking.k8s.io", "httproutes")
            if step.kind == "HTTPRoute"
            else ("networking.istio.io", "virtualservices")
        )
        return [Permission(verb=v, group=group, resource=resource) for v in ("get", "patch")]

    def writes(self, step: RerouteStep, before: dict[str, Any] | None = None) -> list[FieldPath]:
        return [("spec", "rules" if step.kind == "HTTPRoute" else "http")]

    def describe(self, step: RerouteStep, before: dict[str, Any]) -> str:
        weights = ", ".join(f"{k}={v}" for k, v in step.weights.items())
        kept = dict(b for b in self._backends(step, before.get("rules", [])) if b[0] not in step.weights)
        left = (
            "; left as they are: " + ", ".join(f"{k}={'unset' if v is None else v}" for k, v in kept.items())
            if kept
            else ""
        )
        return (
            f"shift traffic of {step.kind} {step.namespace}/{step.route} to {weights}{left}; "
            "undo: restore the weights"
        )
