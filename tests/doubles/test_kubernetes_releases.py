"""A restart is not a release, over the API: the double numbers a restart's ReplicaSet as the deployment
controller does (a new revision for the same images), and Medic's rollback and its "rolled out recently"
look through it (remediations/rollout.py). The walk-through: bad 1.2 (revision 3) over good 1.1 (2);
Medic's restart makes revision 4, then its rollback must land on 1.1, not on revision 3 (1.2 again)."""

from datetime import UTC, datetime
from pathlib import Path

from activities.adapters.kubernetes import KubernetesCluster
from activities.remediate import MatchRequest, RemediationActivities
from medic.runbook import RestartStep, RollbackStep, Target
from remediations.actions import Restart, Rollback, default_registry
from remediations.guardrails import GuardrailSettings
from remediations.rollout import RESTARTED_AT
from service.config_files import load_runbooks
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import DEPLOYMENTS, REVISION, REVISION_HISTORY
from tests.doubles.test_kubernetes import CURRENT, DEPLOYMENT, IMAGES, NS, _deployment, _image, cluster, k8s
from tests.unit.test_runbooks import crashloop_alert

__all__ = ["cluster", "k8s"]  # the fixtures, shared with test_kubernetes.py

REPO = Path(__file__).resolve().parents[2]
LONG_AGO = "2020-01-01T00:00:00Z"
TARGET = Target(namespace=NS, name="checkout")
RESTART = RestartStep(action="restart", target=TARGET)
ROLLBACK = RollbackStep(action="rollback", target=TARGET)


def _released_long_ago(k8s: KubernetesDouble) -> None:
    """Every ReplicaSet the Deployment has now was created in 2020."""
    with k8s.store.lock:
        for rs in k8s.store.owned_replicasets(k8s.store.get(DEPLOYMENTS, NS, "checkout")):
            rs["metadata"]["creationTimestamp"] = LONG_AGO


def _restart(cluster: KubernetesCluster, stamp: str) -> None:
    """Medic's restart step, as it writes it."""
    Restart().apply(cluster, RESTART, Restart().snapshot(cluster, RESTART), stamp)


def test_the_double_numbers_a_restart_and_a_rollback_as_the_controller_does(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """The restart annotation changes the pod template, so its hash: a new ReplicaSet, the next revision,
    the same image. A rollback to a template a ReplicaSet has re-uses that ReplicaSet and moves it to the
    newest number, its old one kept in revision-history (kubectl rollout undo; the deployment
    controller's sync.go, getNewReplicaSet)."""
    names = {rs["metadata"]["name"] for rs in k8s.replicasets(NS, "checkout")}
    _restart(cluster, "2026-12-07T12:00:00+00:00")
    assert k8s.revisions(NS, "checkout") == {1: IMAGES[0], 2: IMAGES[1], 3: CURRENT, 4: CURRENT}
    (fresh,) = [rs for rs in k8s.replicasets(NS, "checkout") if rs["metadata"]["name"] not in names]
    assert fresh["metadata"]["annotations"][REVISION] == "4"
    assert fresh["spec"]["template"]["metadata"]["annotations"] == {RESTARTED_AT: "2026-12-07T12:00:00+00:00"}
    cluster.rollback(DEPLOYMENT, 2)
    assert k8s.revisions(NS, "checkout") == {1: IMAGES[0], 5: IMAGES[1], 3: CURRENT, 4: CURRENT}
    (reused,) = [
        rs for rs in k8s.replicasets(NS, "checkout") if rs["metadata"]["annotations"][REVISION] == "5"
    ]
    assert reused["metadata"]["annotations"][REVISION_HISTORY] == "2"
    assert len(k8s.replicasets(NS, "checkout")) == 4  # re-used, not made again
    template = _deployment(k8s)["spec"]["template"]
    assert RESTARTED_AT not in (template["metadata"].get("annotations") or {})  # revision 2 had none


def test_the_adapter_tells_each_revision_and_its_template(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    _restart(cluster, "2026-12-07T12:00:00+00:00")
    info = cluster.rollout(DEPLOYMENT)
    assert [(r.revision, r.earlier) for r in info.history] == [(4, []), (3, []), (2, []), (1, [])]
    assert info.template == _deployment(k8s)["spec"]["template"]
    (four,) = [r for r in info.history if r.revision == 4]
    assert four.template == info.template  # pod-template-hash dropped
    cluster.rollback(DEPLOYMENT, 2)
    after = [(r.revision, r.earlier) for r in cluster.rollout(DEPLOYMENT).history]
    assert after == [(5, [2]), (4, []), (3, []), (1, [])]


def test_after_a_restart_the_rollback_goes_to_the_release_before(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    _restart(cluster, "2026-12-07T12:00:00+00:00")
    before = Rollback().snapshot(cluster, ROLLBACK)
    assert before == {
        "revision": 4,
        "to_revision": 2,
        "images": {"checkout": CURRENT},
        "to_images": {"checkout": IMAGES[1]},
        "skipped": [3],
    }
    Rollback().apply(cluster, ROLLBACK, before, "2026-12-07T12:05:00+00:00")
    assert _image(_deployment(k8s)) == IMAGES[1]
    # and its undo rolls forward to what ran: the restarted release
    assert Rollback().compensate(cluster, ROLLBACK, before)
    assert _image(_deployment(k8s)) == CURRENT


def test_a_restart_does_not_make_the_release_fresh(cluster: KubernetesCluster, k8s: KubernetesDouble) -> None:
    _released_long_ago(k8s)
    released = datetime(2020, 1, 1, tzinfo=UTC)
    assert cluster.rollout(DEPLOYMENT).since == released
    _restart(cluster, "2026-12-07T12:00:00+00:00")
    _restart(cluster, "2026-12-07T13:00:00+00:00")
    assert cluster.rollout(DEPLOYMENT).since == released  # revision 3's, not the restarts' (4, 5)
    _deploy(cluster, "registry.example.com/checkout:1.3")
    since = cluster.rollout(DEPLOYMENT).since
    assert since is not None and since > released  # a release is


def test_after_a_restart_the_crashloop_pair_still_restarts(
    cluster: KubernetesCluster, k8s: KubernetesDouble
) -> None:
    """The shipped crashloop-after-rollout-rollback wants a release under 30 minutes old: a restart's
    fresh ReplicaSet is none, so the crash loop that follows a restart of an old release is the restart
    runbook's again (its cooldown, then its rollback step), never a rollback to the restarted template."""
    _released_long_ago(k8s)
    activities = RemediationActivities(
        cluster=cluster,
        metrics=None,
        runbooks=lambda: load_runbooks(REPO / "runbooks"),
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=GuardrailSettings,
    )

    def matched() -> list[str]:
        request = MatchRequest(
            incident_id="incident-checkout", service="checkout", alerts=[crashloop_alert()]
        )
        return [p.runbook.name for p in activities.match(request).plans]

    assert matched() == ["crashloop-restart"]
    _restart(cluster, "2026-12-07T12:00:00+00:00")
    assert matched() == ["crashloop-restart"]
    _deploy(cluster, "registry.example.com/checkout:1.3")  # a release, just now
    assert matched() == ["crashloop-after-rollout-rollback"]


def _deploy(cluster: KubernetesCluster, image: str) -> None:
    """A person's rollout (kubectl set image)."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "checkout", "image": image}]}}}}
    cluster.merge_patch(DEPLOYMENT, patch)
