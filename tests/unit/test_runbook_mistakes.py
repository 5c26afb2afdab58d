"""What a runbook says that cannot work as written is refused when the file is read (``medic check``,
the worker's start), with file:line: each was accepted in silence and did something else at run time (a
runbook author's walk-through, 2026-12-07). Checked by the loader, not the models: a plan in a
workflow's history carries its runbook, and must still be read after the upgrade."""

import pytest

from medic.runbook import Runbook, ScaleStep, load_runbook
from medic.yamldoc import ConfigError

BASE = """\
name: x
match:
  alertname: [KubePodCrashLooping]
steps:
  - action: restart
    target: {namespace: shop, name: checkout}
verify:
  promql: 'sum(rate(errors{namespace="shop"}[5m])) < 1'
  for_seconds: 60
  deadline_seconds: 600
"""


def _said(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_runbook(text, source="x.yaml")
    return str(err.value)


def test_the_base_is_valid() -> None:
    assert load_runbook(BASE, source="x.yaml").name == "x"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        # match: {} matched every alert of every service (a restart on KubeDeploymentReplicasMismatch)
        (
            "match:\n  alertname: [KubePodCrashLooping]\n",
            "match: {}\n",
            "x.yaml:2: match: names no alertname, labels, service or target_kind: it would match every alert",
        ),
        (
            "match:\n  alertname: [KubePodCrashLooping]\n",
            "match: {anomaly: true}\n",
            "it would match every anomaly of every service",
        ),
        # lower case never matched (subjects are Deployment), and explain said nothing
        (
            "  alertname: [KubePodCrashLooping]\n",
            "  alertname: [KubePodCrashLooping]\n  target_kind: [deployment]\n",
            "x.yaml:4: match.target_kind[0]: 'deployment' is no kind a subject resolves to, so the runbook "
            "never matches: did you mean 'Deployment'?",
        ),
        (
            "  alertname: [KubePodCrashLooping]\n",
            "  alertname: [KubePodCrashLooping]\n  target_kind: [Deploymnet]\n",
            "did you mean 'Deployment'?",
        ),
        # for_seconds equal to the deadline: every check held, and it "did not hold within 600s"
        (
            "  for_seconds: 60\n",
            "  for_seconds: 600\n",
            "x.yaml:10: verify.deadline_seconds: verify can never pass: it must hold for 600s, checked every "
            "15s, so its last check would be at 600s, not before the deadline (600s)",
        ),
        # Prometheus answered 400 at every check: read as "the fix did not work", rolled back
        (
            'namespace="shop"}',
            'namespace="shop}',
            "x.yaml:8: verify.promql: Value error, the string starting at character 26 of the query is never",
        ),
        (
            "[5m])) < 1'",
            "[5m]) < 1'",
            "x.yaml:8: verify.promql: '(' at character 4 is never closed: Prometheus would refuse it at "
            "every check",
        ),
        # `< bool 0.5` answered 0 with latency at 2 s: held at once
        (
            "< 1'",
            "< bool 1'",
            "verify.promql: a `bool` comparison answers 0 or 1 for every series",
        ),
    ],
)
def test_a_mistake_is_said_where_it_is(old: str, new: str, says: str) -> None:
    assert old in BASE
    assert says in _said(BASE.replace(old, new))


def test_a_bool_inside_the_query_counting_what_passes_is_fine() -> None:
    """Only the outermost comparison's bool makes every series pass: one inside counts (a review)."""
    for fine in (
        'sum(increase(kube_pod_container_status_restarts_total{namespace="shop"}[5m]) > bool 0) == 0',
        'sum(kube_pod_status_ready{namespace="shop", condition="true"} == bool 1) >= 3',
    ):
        text = BASE.replace("""'sum(rate(errors{namespace="shop"}[5m])) < 1'""", repr(fine).replace('"', '"'))
        assert load_runbook(text, source="x.yaml").verify.promql == fine
    wrapped = BASE.replace("< 1'", "< bool 1)'").replace("'sum(", "'(sum(")
    assert "a `bool` comparison" in _said(wrapped)  # parentheses around the whole: still the outermost


def test_an_exact_count_outside_its_bounds_is_said_at_its_line() -> None:
    text = BASE.replace(
        "  - action: restart\n    target: {namespace: shop, name: checkout}\n",
        "  - action: scale\n    target: {namespace: shop, name: checkout}\n    replicas: 50\n",
    )
    said = _said(text)
    assert "x.yaml:7: steps[0].replicas: replicas 50 is outside min_replicas..max_replicas (1..20)" in said
    assert "set max_replicas: 50 to allow it" in said


def test_a_kind_of_a_custom_resource_is_the_authors_to_know() -> None:
    text = BASE.replace("  alertname: [KubePodCrashLooping]\n", "  target_kind: [Rollout, StatefulSet]\n")
    assert load_runbook(text, source="x.yaml").match.target_kind == ["Rollout", "StatefulSet"]


def test_a_plan_in_a_history_still_reads_its_runbook() -> None:
    """A runbook read before these checks, carried in a running remediation's input, is read again on
    replay: the models themselves refuse none of it."""
    rb = Runbook.model_validate(
        {
            "name": "x",
            "match": {},
            "steps": [{"action": "scale", "target": {"namespace": "shop", "name": "c"}, "replicas": 50}],
            "verify": {"promql": "up < bool 1", "for_seconds": 600, "deadline_seconds": 600},
        }
    )
    assert isinstance(rb.steps[0], ScaleStep) and rb.steps[0].replicas == 50


def test_a_rollback_of_a_statefulset_is_refused_at_its_line() -> None:
    """Medic rolls back a Deployment (its ReplicaSets); a StatefulSet's rollback passed `medic check` and
    `medic explain`, then failed at every alert ("rollouts are for apps/v1 Deployments") and paged (a
    runbook author's walk-through, 2026-12-07)."""
    text = BASE.replace(
        "  - action: restart\n    target: {namespace: shop, name: checkout}\n",
        "  - action: rollback\n    target: {kind: StatefulSet, namespace: shop, name: ledger}\n",
    )
    assert (
        "x.yaml:6: steps[0].target.kind: rollback acts on Deployment only: Medic does not read a "
        in _said(text)
    )


def test_a_target_kind_its_bound_step_cannot_act_on_is_refused() -> None:
    """`target_kind: [DaemonSet]` with `kind: ${target.kind}`: every KubeDaemonSetRolloutStuck matched and
    was skipped, with pydantic's words, while `medic check` said ok."""
    text = BASE.replace(
        "  alertname: [KubePodCrashLooping]\n",
        "  alertname: [KubeDaemonSetRolloutStuck]\n  target_kind: [StatefulSet, DaemonSet]\n",
    ).replace("{namespace: shop, name: checkout}", '{kind: "${target.kind}", namespace: shop, name: x}')
    said = _said(text)
    assert (
        "x.yaml:4: match.target_kind[1]: steps[0] binds target.kind and restart acts on Deployment or "
        "StatefulSet only: every DaemonSet alert would match and be skipped" in said
    )
    assert "target_kind[0]" not in said
