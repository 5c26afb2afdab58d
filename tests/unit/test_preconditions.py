"""Issue 13: a step acts only on the target the plan found. The decision (act, already done, changed
meanwhile), the actions that use it, and the heartbeat the cluster steps send while they block."""

import threading
import time
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.remediate import RemediationActivities, StepRequest
from medic.runbook import RestartStep, ScaleStep, Target
from remediations.actions import Restart, Scale, default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef
from remediations.preconditions import ChangedMeanwhile, still_as_planned
from tests.support.fakes import FakeCluster

TARGET = Target(namespace="shop", name="checkout")
SCALE = ScaleStep(action="scale", target=TARGET, replicas=6)
RESTART = RestartStep(action="restart", target=TARGET)
REF = "deployment/shop/checkout"


@pytest.mark.parametrize(
    ("found", "act"),
    [
        ({"replicas": 2}, True),  # as the plan found it: act
        ({"replicas": 6}, False),  # as the step wants it: an earlier attempt landed, write nothing
    ],
)
def test_act_or_already_done(found: dict[str, int], act: bool) -> None:
    assert still_as_planned(REF, planned={"replicas": 2}, wanted={"replicas": 6}, found=found) is act


def test_anything_else_is_changed_meanwhile_and_says_what() -> None:
    with pytest.raises(ChangedMeanwhile, match=r"replicas is 3 \(the plan found 2 and would set 6\)"):
        still_as_planned(REF, planned={"replicas": 2}, wanted={"replicas": 6}, found={"replicas": 3})
    with pytest.raises(ChangedMeanwhile, match="max_replicas is 12"):
        still_as_planned(
            REF,
            planned={"replicas": 2, "max_replicas": 10},
            wanted={"replicas": 6, "max_replicas": 10},
            found={"replicas": 2, "max_replicas": 12},
        )


def test_scale_retried_after_its_write_landed_writes_nothing() -> None:
    cluster = FakeCluster(replicas=2)
    before = Scale().snapshot(cluster, SCALE)
    assert Scale().apply(cluster, SCALE, before, "t1") == {"replicas": 6}
    assert Scale().apply(cluster, SCALE, before, "t1") == {"replicas": 6}  # the retry
    assert cluster.writes == [("scale", REF, 6)]


def test_scale_refuses_a_target_someone_changed() -> None:
    cluster = FakeCluster(replicas=2)
    before = Scale().snapshot(cluster, SCALE)
    cluster.replicas[REF] = 3  # a person, between the plan and the step
    with pytest.raises(ChangedMeanwhile):
        Scale().apply(cluster, SCALE, before, "t1")
    assert cluster.writes == [] and cluster.replicas[REF] == 3


def test_scale_refuses_a_change_that_lands_between_its_read_and_its_write() -> None:
    """The write carries the precondition too: the read alone would miss this race."""
    cluster = FakeCluster(replicas=2)
    before = Scale().snapshot(cluster, SCALE)
    real_read = cluster.get_replicas

    def read_then_a_person_scales(ref: ObjectRef) -> int:
        value = real_read(ref)
        cluster.replicas[REF] = 3
        return value

    cluster.get_replicas = read_then_a_person_scales  # type: ignore[method-assign]
    with pytest.raises(ChangedMeanwhile, match="about to write"):
        Scale().apply(cluster, SCALE, before, "t1")
    assert cluster.writes == []


def test_restart_retried_restarts_once_and_not_over_someone_elses_restart() -> None:
    cluster = FakeCluster()
    before = Restart().snapshot(cluster, RESTART)
    Restart().apply(cluster, RESTART, before, "2026-01-01T00:00:00Z")
    Restart().apply(cluster, RESTART, before, "2026-01-01T00:00:00Z")  # the retry
    assert len(cluster.writes) == 1
    cluster.annotations[REF]["kubectl.kubernetes.io/restartedAt"] = "2026-01-01T00:05:00Z"  # kubectl
    with pytest.raises(ChangedMeanwhile):
        Restart().apply(cluster, RESTART, before, "2026-01-01T00:00:00Z")
    assert len(cluster.writes) == 1


class SlowCluster(FakeCluster):
    def set_replicas(self, ref: ObjectRef, replicas: int, *, expect: int | None = None) -> None:
        time.sleep(0.5)  # a slow API server
        super().set_replicas(ref, replicas, expect=expect)


def test_a_step_heartbeats_while_it_blocks() -> None:
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    activities = RemediationActivities(
        cluster=SlowCluster(),
        metrics=None,
        runbooks=list,
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked
        guardrails=GuardrailSettings,
        heartbeat_every=0.05,
    )
    started = time.monotonic()
    after: dict[str, Any] = env.run(activities.apply, StepRequest(step=SCALE, before={"replicas": 2}))
    assert after == {"replicas": 6}
    assert len(beats) >= 5 and beats[-1] - started >= 0.4  # all along, not only at the start
    assert not [t for t in threading.enumerate() if t.name == "medic-heartbeat"]  # stopped with the step
