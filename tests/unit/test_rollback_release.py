"""A rollback goes to the previous release, not to the previous revision: a rolling restart makes a new
revision of the same release (a pod-template annotation, kubectl.kubernetes.io/restartedAt), and "the
previous revision" right after one is the crashing release itself. The same holds for when a release
rolled out: a restart does not make it fresh (remediations/rollout.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from medic.runbook import RollbackStep, Target
from remediations.actions import Rollback
from remediations.errors import ActionError
from remediations.ports import Cluster, ObjectRef, Revision, RolloutInfo
from remediations.rollout import RESTARTED_AT, Choice, previous_release, release, released_at

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
STEP = RollbackStep(action="rollback", target=Target(namespace="shop", name="checkout"))


def template(image: str, *, restarted: str | None = None, env: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "checkout", "image": image}
    if env:
        container["env"] = [{"name": "MODE", "value": env}]
    meta: dict[str, Any] = {"labels": {"app": "checkout"}}
    if restarted:
        meta["annotations"] = {RESTARTED_AT: restarted}
    return {"metadata": meta, "spec": {"containers": [container]}}


def info(*revisions: tuple[int, dict[str, Any]], earlier: dict[int, list[int]] | None = None) -> RolloutInfo:
    """A Deployment that ran ``revisions`` (oldest first) and runs the last; each ReplicaSet made an hour
    after the one before."""
    earlier = earlier or {}
    history = [
        Revision(revision=n, earlier=earlier.get(n, []), template=t, created=T0 + timedelta(hours=i))
        for i, (n, t) in enumerate(sorted(revisions))
    ][::-1]
    current, running = max(revisions)
    return RolloutInfo(
        revision=current,
        previous=sorted((n for n, _ in revisions if n != current), reverse=True),
        template=running,
        history=history,
        runs=sorted([current, *earlier.get(current, [])]),
    )


V1, V2 = template("checkout:v1"), template("checkout:v2")


def restarted(t: dict[str, Any], stamp: str) -> dict[str, Any]:
    return template(t["spec"]["containers"][0]["image"], restarted=stamp)


def test_a_real_earlier_release_is_the_previous_revision() -> None:
    assert previous_release(info((1, V1), (2, V2))) == Choice(1)


def test_a_revision_that_differs_only_by_a_restart_is_passed_over() -> None:
    """The walk-through: bad v2 (revision 2) over good v1 (1); the restart made revision 3."""
    rollout = info((1, V1), (2, V2), (3, restarted(V2, "2026-12-07T12:00:00Z")))
    assert previous_release(rollout) == Choice(1, (2,))


def test_several_restarts_are_passed_over() -> None:
    rollout = info(
        (1, V1),
        (2, restarted(V1, "a")),  # a restart of v1 before v2 shipped: v1 still
        (3, V2),
        (4, restarted(V2, "b")),
        (5, restarted(V2, "c")),
    )
    assert previous_release(rollout) == Choice(2, (4, 3))
    before = Rollback().snapshot(_reads(rollout), STEP)
    assert (
        ", the newest earlier release (revisions 4 and 3 differ from the running one only by restarts);"
        in (Rollback().describe(STEP, before))
    )
    assert release(rollout.history[-2].template) == release(V1)


def test_with_no_earlier_release_the_step_cannot_act() -> None:
    rollout = info((2, V2), (3, restarted(V2, "2026-12-07T12:00:00Z")))
    choice = previous_release(rollout)
    assert choice == Choice(None, (2,))
    assert choice.why_none(3) == (
        "no earlier release than the running one: revisions 3 and 2 differ only by a restart"
    )
    many = info((2, V2), (3, restarted(V2, "a")), (4, restarted(V2, "b")))
    assert previous_release(many).why_none(4) == (
        "no earlier release than the running one: revisions 4, 3 and 2 differ only by restarts"
    )
    with pytest.raises(ActionError, match=r"^shop/checkout has no earlier release than the running one: "):
        Rollback().snapshot(_reads(rollout), STEP)
    with pytest.raises(ActionError, match=r"^shop/checkout has no previous revision to roll back to$"):
        Rollback().snapshot(_reads(info((1, V1))), STEP)


def test_any_other_change_of_the_template_is_a_release() -> None:
    """An environment variable, not an image: still a release (a config change can break a Deployment)."""
    rollout = info((1, V2), (2, template("checkout:v2", env="fast")))
    assert previous_release(rollout) == Choice(1)
    before = Rollback().snapshot(_reads(rollout), STEP)
    assert Rollback().describe(STEP, before) == (
        "roll back Deployment shop/checkout from revision 2 (checkout:v2) to revision 1 (checkout:v2) "
        "(the same images: other settings of the pod template differ); undo: roll forward to revision "
        "2's template"
    )


def test_after_a_rollback_and_a_restart_the_previous_release_is_the_one_rolled_back_from() -> None:
    """v1 (1), v2 (2), rolled back to v1 (its ReplicaSet re-used as 3), restarted (4): the release before
    v1 now is v2, as `kubectl rollout undo` would have said before the restart."""
    rollout = info((2, V2), (3, V1), (4, restarted(V1, "a")), earlier={3: [1]})
    assert previous_release(rollout) == Choice(2, (3,))


def test_a_cluster_that_does_not_tell_templates_gets_the_previous_number() -> None:
    assert previous_release(RolloutInfo(revision=4, previous=[3, 1], runs=[4])) == Choice(3)


def test_the_plan_names_the_images_and_the_restart_passed_over() -> None:
    rollout = info((1, V1), (2, V2), (3, restarted(V2, "2026-12-07T12:00:00Z")))
    before = Rollback().snapshot(_reads(rollout), STEP)
    assert before == {
        "revision": 3,
        "to_revision": 1,
        "images": {"checkout": "checkout:v2"},
        "to_images": {"checkout": "checkout:v1"},
        "skipped": [2],
    }
    assert Rollback().describe(STEP, before) == (
        "roll back Deployment shop/checkout from revision 3 (checkout:v2) to revision 1 (checkout:v1), "
        "the newest earlier release (revision 2 differs from the running one only by a restart); undo: "
        "roll forward to revision 3's template"
    )


def test_with_several_containers_the_plan_names_those_it_changes() -> None:
    def pod(app: str) -> dict[str, Any]:
        return {
            "spec": {
                "initContainers": [{"name": "migrate", "image": f"migrate:{app}"}],
                "containers": [{"name": "checkout", "image": app}, {"name": "envoy", "image": "envoy:1.30"}],
            }
        }

    before = Rollback().snapshot(_reads(info((1, pod("checkout:v1")), (2, pod("checkout:v2")))), STEP)
    assert (
        Rollback()
        .describe(STEP, before)
        .startswith(
            "roll back Deployment shop/checkout from revision 2 (checkout checkout:v2, migrate "
            "migrate:checkout:v2) to revision 1 (checkout checkout:v1, migrate migrate:checkout:v1); "
        )
    )


def test_a_snapshot_recorded_before_images_were_is_described_as_then() -> None:
    """Histories replayed from before this change hold only the numbers."""
    assert Rollback().describe(STEP, {"revision": 3, "to_revision": 2}) == (
        "roll back Deployment shop/checkout from revision 3 to revision 2; undo: roll forward to "
        "revision 3's template"
    )


def test_a_given_revision_is_taken_as_given() -> None:
    rollout = info((1, V1), (2, V2), (3, restarted(V2, "a")))
    step = STEP.model_copy(update={"to_revision": 2})
    before = Rollback().snapshot(_reads(rollout), step)
    assert (before["to_revision"], before["to_images"], "skipped" in before) == (
        2,
        {"checkout": "checkout:v2"},
        False,
    )


# -- when the running release rolled out ---------------------------------------------------------------


def test_a_restart_does_not_make_a_release_fresh() -> None:
    rollout = info((1, V1), (2, V2), (3, restarted(V2, "a")), (4, restarted(V2, "b")))
    assert rollout.template is not None
    assert released_at(rollout.template, rollout.history) == T0 + timedelta(hours=1)  # revision 2's
    fresh = info((1, V1), (2, V2))
    assert fresh.template is not None
    assert released_at(fresh.template, fresh.history) == T0 + timedelta(hours=1)


def test_a_release_put_back_by_a_rollback_has_no_known_age_even_restarted() -> None:
    """Its ReplicaSet's creation time is that of its first rollout, not of its return."""
    rollout = info((2, V2), (3, V1), (4, restarted(V1, "a")), earlier={3: [1]})
    assert rollout.template is not None
    assert released_at(rollout.template, rollout.history) is None


def test_a_template_no_replicaset_has_yet_has_no_known_age() -> None:
    assert released_at(template("checkout:v3"), info((1, V1), (2, V2)).history) is None


class _Reads:
    """Only what a rollback's snapshot asks of the cluster."""

    def __init__(self, rollout: RolloutInfo) -> None:
        self._rollout = rollout

    def rollout(self, ref: ObjectRef) -> RolloutInfo:
        return self._rollout


def _reads(rollout: RolloutInfo) -> Cluster:
    return cast(Cluster, _Reads(rollout))
