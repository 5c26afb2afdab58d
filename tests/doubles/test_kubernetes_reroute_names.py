"""A reroute names its backends as the route does: a misspelt one was passed over while the others were
set (`chekout-canary: 0` left the canary at 50, and the timeline said it was 0), and the plan did not
say which backends it leaves as they are (a runbook author's walk-through, 2026-12-07)."""

import pytest

from activities.adapters.kubernetes import KubernetesCluster
from medic.runbook import RerouteStep
from remediations.actions import ActionError, Reroute
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.test_kubernetes import NS, cluster, k8s

__all__ = ["cluster", "k8s"]  # the fixtures, shared with test_kubernetes.py


def _step(weights: dict[str, int]) -> RerouteStep:
    return RerouteStep(action="reroute", namespace=NS, route="checkout", weights=weights)


def _weights(k8s: KubernetesDouble) -> list[int]:
    route = k8s.obj("gateway.networking.k8s.io/v1", "httproutes", NS, "checkout")
    return [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]]


def test_a_backend_the_route_does_not_have_stops_the_step_before_it_writes(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    was = _weights(k8s)
    typo = _step({"checkout-stable": 100, "chekout-canary": 0})
    with pytest.raises(
        ActionError,
        match=r"'chekout-canary' \(did you mean 'checkout-canary'\?\) is no backend of HTTPRoute "
        r"shop/checkout, whose backends are checkout-stable, checkout-canary, checkout-legacy: nothing was "
        r"changed",
    ):
        Reroute().snapshot(cluster, typo)
    assert _weights(k8s) == was and k8s.writes() == []


def test_the_plan_says_which_backends_it_leaves_as_they_are(cluster: KubernetesCluster) -> None:
    step = _step({"checkout-stable": 100})
    before = Reroute().snapshot(cluster, step)
    said = Reroute().describe(step, before)
    assert said.startswith(
        "shift traffic of HTTPRoute shop/checkout to checkout-stable=100; left as they are:"
    )
    assert "checkout-canary=" in said and "checkout-legacy=unset" in said
    every = _step({"checkout-stable": 100, "checkout-canary": 0, "checkout-legacy": 0})
    assert "left as they are" not in Reroute().describe(every, Reroute().snapshot(cluster, every))
