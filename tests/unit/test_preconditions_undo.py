"""Issue 13, the rest of it: rollback, circuit break, reroute and every compensation act only on the
object as the plan found it (an action) or as Medic's own step left it (an undo). A person's change in
between is ``ChangedMeanwhile``: nothing written, the change left alone. The in-memory cluster here;
tests/doubles/test_kubernetes_undo.py holds the same over the Kubernetes API double."""

import time
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.errors import CHANGED_MEANWHILE
from activities.remediate import RemediationActivities, StepRequest
from medic.runbook import CircuitBreakStep, RerouteStep, RollbackStep, ScaleStep, Target
from remediations.actions import CircuitBreak, Reroute, Rollback, Scale, default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef, RolloutInfo
from remediations.preconditions import ChangedMeanwhile
from tests.support.fakes import FakeCluster

TARGET = Target(namespace="shop", name="checkout")
SCALE = ScaleStep(action="scale", target=TARGET, replicas=6)
HPA_SCALE = SCALE.model_copy(update={"hpa": "checkout"})
ROLLBACK = RollbackStep(action="rollback", target=TARGET)
STAMP = "2026-12-04T12:00:00+00:00"
REF = "deployment/shop/checkout"
HPA = "horizontalpodautoscaler/shop/checkout"
ROUTE = "httproute/shop/checkout"


def _writes(cluster: FakeCluster) -> list[str]:
    return [verb for verb, _, _ in cluster.writes]


# -- scale: the undo --------------------------------------------------------------------------------------


def test_undoing_a_scale_restores_only_what_medic_left() -> None:
    cluster = FakeCluster(replicas=2)
    before = Scale().snapshot(cluster, SCALE)
    Scale().apply(cluster, SCALE, before, STAMP)
    assert Scale().compensate(cluster, SCALE, before, STAMP)
    assert cluster.replicas[REF] == 2
    Scale().compensate(cluster, SCALE, before, STAMP)  # a retry of the undo: already undone
    assert cluster.writes == [("scale", REF, 6), ("scale", REF, 2)]


def test_an_undo_leaves_a_persons_scale_alone() -> None:
    cluster = FakeCluster(replicas=2)
    before = Scale().snapshot(cluster, SCALE)
    Scale().apply(cluster, SCALE, before, STAMP)
    cluster.replicas[REF] = 3  # a person, after Medic's step
    with pytest.raises(ChangedMeanwhile, match=r"replicas is 3 \(Medic's step left 6 and would set 2\)"):
        Scale().compensate(cluster, SCALE, before, STAMP)
    assert cluster.replicas[REF] == 3 and _writes(cluster) == ["scale"]


def test_an_undo_of_an_hpa_checks_both_bounds() -> None:
    cluster = FakeCluster()
    cluster.objects[HPA] = {"spec": {"minReplicas": 2, "maxReplicas": 4}}
    before = Scale().snapshot(cluster, HPA_SCALE)
    Scale().apply(cluster, HPA_SCALE, before, STAMP)
    assert cluster.objects[HPA]["spec"] == {"minReplicas": 6, "maxReplicas": 6}
    cluster.objects[HPA]["spec"]["maxReplicas"] = 12  # a person raises the ceiling
    with pytest.raises(ChangedMeanwhile, match="max_replicas is 12"):
        Scale().compensate(cluster, HPA_SCALE, before, STAMP)
    assert cluster.objects[HPA]["spec"] == {"minReplicas": 6, "maxReplicas": 12}
    cluster.objects[HPA]["spec"]["maxReplicas"] = 6  # put back as Medic left it: the undo may act
    Scale().compensate(cluster, HPA_SCALE, before, STAMP)
    assert cluster.objects[HPA]["spec"] == {"minReplicas": 2, "maxReplicas": 4}


# -- rollback ---------------------------------------------------------------------------------------------


def test_a_rollback_acts_once_and_its_undo_rolls_forward() -> None:
    cluster = FakeCluster()
    before = Rollback().snapshot(cluster, ROLLBACK)
    assert before == {"revision": 3, "to_revision": 2}
    Rollback().apply(cluster, ROLLBACK, before, STAMP)
    assert cluster.running == "v2" and cluster.rollout(Rollback().target(ROLLBACK)).runs == [2, 4]
    Rollback().apply(cluster, ROLLBACK, before, STAMP)  # the retry: revision 2 runs already
    Rollback().compensate(cluster, ROLLBACK, before, STAMP)
    Rollback().compensate(cluster, ROLLBACK, before, STAMP)  # the undo's retry
    assert cluster.running == "v3"
    assert [value for verb, _, value in cluster.writes if verb == "rollback"] == [2, 3]


def test_a_rollback_does_not_act_when_the_deployment_runs_another_revision() -> None:
    cluster = FakeCluster()
    before = Rollback().snapshot(cluster, ROLLBACK)
    cluster.deploy("v4")  # a person's rollout (revision 4) after the plan
    with pytest.raises(ChangedMeanwhile, match=r"revision is 4 \(the plan found 3 and would set 2\)"):
        Rollback().apply(cluster, ROLLBACK, before, STAMP)
    assert cluster.running == "v4" and cluster.writes == []


def test_a_rollback_refuses_a_rollout_between_its_read_and_its_write() -> None:
    cluster = FakeCluster()
    before = Rollback().snapshot(cluster, ROLLBACK)
    real = cluster.rollout

    def read_then_a_person_deploys(ref: ObjectRef) -> RolloutInfo:
        info = real(ref)
        cluster.deploy("v4")
        return info

    cluster.rollout = read_then_a_person_deploys  # type: ignore[method-assign]
    with pytest.raises(ChangedMeanwhile, match="about to write"):
        Rollback().apply(cluster, ROLLBACK, before, STAMP)
    assert cluster.running == "v4" and cluster.writes == []


def test_undoing_a_rollback_leaves_a_persons_rollout_alone() -> None:
    cluster = FakeCluster()
    before = Rollback().snapshot(cluster, ROLLBACK)
    Rollback().apply(cluster, ROLLBACK, before, STAMP)
    cluster.deploy("v5")  # a person ships a fix after Medic rolled back
    with pytest.raises(ChangedMeanwhile, match="Medic's step left 2"):
        Rollback().compensate(cluster, ROLLBACK, before, STAMP)
    assert cluster.running == "v5" and _writes(cluster) == ["rollback"]


# -- circuit break ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["configmap", "istio"])
def test_a_circuit_opens_once_and_closes_only_as_medic_left_it(mode: str) -> None:
    step = CircuitBreakStep(action="circuit_break", namespace="shop", upstream="payments", mode=mode)
    ref = str(CircuitBreak().target(step))
    cluster = FakeCluster()
    before = CircuitBreak().snapshot(cluster, step)
    CircuitBreak().apply(cluster, step, before, STAMP)
    CircuitBreak().apply(cluster, step, before, STAMP)  # the retry: already open
    assert _writes(cluster) == ["create"]
    field = "data" if mode == "configmap" else "spec"
    cluster.objects[ref][field]["owner"] = "payments-team"  # a person edits the open circuit
    with pytest.raises(ChangedMeanwhile, match="Medic's step left"):
        CircuitBreak().compensate(cluster, step, before, STAMP)
    assert ref in cluster.objects and _writes(cluster) == ["create"]  # not deleted over their edit
    del cluster.objects[ref][field]["owner"]
    CircuitBreak().compensate(cluster, step, before, STAMP)
    CircuitBreak().compensate(cluster, step, before, STAMP)  # the undo's retry: gone already
    assert ref not in cluster.objects and _writes(cluster) == ["create", "delete"]


def test_a_circuit_someone_created_meanwhile_is_not_overwritten() -> None:
    step = CircuitBreakStep(action="circuit_break", namespace="shop", upstream="payments", mode="configmap")
    ref = str(CircuitBreak().target(step))
    cluster = FakeCluster()
    before = CircuitBreak().snapshot(cluster, step)
    cluster.objects[ref] = {"data": {"open": "false"}}  # a person, after the plan
    with pytest.raises(ChangedMeanwhile, match="existed is True"):
        CircuitBreak().apply(cluster, step, before, STAMP)
    assert cluster.objects[ref] == {"data": {"open": "false"}} and cluster.writes == []


def test_a_circuit_on_an_existing_object_is_undone_exactly_unless_changed() -> None:
    step = CircuitBreakStep(action="circuit_break", namespace="shop", upstream="payments", mode="configmap")
    ref = str(CircuitBreak().target(step))
    cluster = FakeCluster()
    cluster.objects[ref] = {"data": {"owner": "payments-team"}}
    before = CircuitBreak().snapshot(cluster, step)
    CircuitBreak().apply(cluster, step, before, STAMP)
    assert cluster.objects[ref]["data"] == {
        "owner": "payments-team",
        "open": "true",
        "upstream": "payments",
        "since": STAMP,
    }
    CircuitBreak().compensate(cluster, step, before, STAMP)
    assert cluster.objects[ref]["data"] == {"owner": "payments-team"}
    CircuitBreak().apply(cluster, step, before, "2026-12-04T13:00:00+00:00")  # a second run
    cluster.objects[ref]["data"]["open"] = "false"  # a person closes it by hand
    with pytest.raises(ChangedMeanwhile):
        CircuitBreak().compensate(cluster, step, before, "2026-12-04T13:00:00+00:00")
    assert cluster.objects[ref]["data"]["open"] == "false"


# -- reroute ----------------------------------------------------------------------------------------------


def _route(stable: int, canary: int) -> dict[str, Any]:
    backends = [{"name": "checkout-stable", "weight": stable}, {"name": "checkout-canary", "weight": canary}]
    return {"spec": {"rules": [{"backendRefs": backends}]}}


def _weights(cluster: FakeCluster) -> list[int]:
    return [b["weight"] for b in cluster.objects[ROUTE]["spec"]["rules"][0]["backendRefs"]]


REROUTE = RerouteStep(
    action="reroute",
    namespace="shop",
    route="checkout",
    weights={"checkout-stable": 100, "checkout-canary": 0},
)


def test_a_reroute_acts_once_and_is_undone() -> None:
    cluster = FakeCluster()
    cluster.objects[ROUTE] = _route(90, 10)
    before = Reroute().snapshot(cluster, REROUTE)
    Reroute().apply(cluster, REROUTE, before, STAMP)
    Reroute().apply(cluster, REROUTE, before, STAMP)  # the retry
    assert _weights(cluster) == [100, 0]
    Reroute().compensate(cluster, REROUTE, before, STAMP)
    Reroute().compensate(cluster, REROUTE, before, STAMP)  # the undo's retry
    assert _weights(cluster) == [90, 10] and _writes(cluster) == ["patch", "patch"]


def test_a_reroute_leaves_a_persons_weights_alone() -> None:
    cluster = FakeCluster()
    cluster.objects[ROUTE] = _route(90, 10)
    before = Reroute().snapshot(cluster, REROUTE)
    cluster.objects[ROUTE] = _route(50, 50)  # a person, after the plan
    with pytest.raises(ChangedMeanwhile):
        Reroute().apply(cluster, REROUTE, before, STAMP)
    cluster.objects[ROUTE] = _route(90, 10)
    Reroute().apply(cluster, REROUTE, before, STAMP)
    cluster.objects[ROUTE] = _route(80, 20)  # a person, after Medic's step
    with pytest.raises(ChangedMeanwhile, match="Medic's step left"):
        Reroute().compensate(cluster, REROUTE, before, STAMP)
    assert _weights(cluster) == [80, 20] and _writes(cluster) == ["patch"]


# -- the activity -----------------------------------------------------------------------------------------


class SlowCluster(FakeCluster):
    def set_replicas(self, ref: ObjectRef, replicas: int, *, expect: int | None = None) -> None:
        time.sleep(0.3)  # a slow API server
        super().set_replicas(ref, replicas, expect=expect)


def _activities(cluster: FakeCluster) -> RemediationActivities:
    return RemediationActivities(
        cluster=cluster,
        metrics=None,
        runbooks=list,
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked
        guardrails=GuardrailSettings,
        heartbeat_every=0.05,
    )


def test_the_undo_heartbeats_and_reports_a_change_as_changed_meanwhile() -> None:
    cluster = SlowCluster(replicas=6)
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    request = StepRequest(step=SCALE, before={"replicas": 2}, stamp=STAMP)
    assert env.run(_activities(cluster).compensate, request) is True
    assert cluster.replicas[REF] == 2 and len(beats) >= 3
    cluster.replicas[REF] = 6
    Scale().apply(cluster, SCALE, {"replicas": 2}, STAMP)  # nothing: 6 already
    cluster.replicas[REF] = 3
    with pytest.raises(ApplicationError) as caught:
        env.run(_activities(cluster).compensate, request)
    assert caught.value.type == CHANGED_MEANWHILE and caught.value.non_retryable
    assert cluster.replicas[REF] == 3
