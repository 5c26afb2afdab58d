"""Runbooks: the shipped ones are valid, bad ones fail at `medic check` with lines, bindings bind."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from medic.alerts import Alert, AlertStatus
from medic.runbook import Runbook, load_runbook
from medic.yamldoc import ConfigError
from remediations.actions import ACTIONS, default_registry
from remediations.plan import match_runbooks, plan_for
from service.config_files import load_runbooks

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def crashloop_alert(**labels: str) -> Alert:
    return Alert(
        fingerprint="f1",
        status=AlertStatus.FIRING,
        starts_at=NOW,
        service="checkout",
        labels={"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "checkout", **labels},
    )


def test_shipped_runbooks_are_valid_and_cover_every_action_but_reroute() -> None:
    runbooks = load_runbooks(REPO / "runbooks")
    assert len(runbooks) >= 4
    used = {step.action for rb in runbooks for step in rb.steps}
    assert used >= {"restart", "scale", "circuit_break", "rollback"}


def test_every_step_type_has_a_registered_action() -> None:
    registry = default_registry()
    assert registry.names() == sorted(a.name for a in ACTIONS)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ACTIONS[0])


def restart_runbook(matched: list[Runbook]) -> list[Runbook]:
    """Of the shipped crash-loop pair (roll back a fresh release, else restart), the restart."""
    return [r for r in matched if r.name == "crashloop-restart"]


def test_plan_binds_labels_into_steps_and_verification() -> None:
    runbooks = load_runbooks(REPO / "runbooks")
    alert = crashloop_alert()
    (runbook,) = restart_runbook(match_runbooks(runbooks, alert, "checkout"))
    plan = plan_for(runbook, alert, incident_id="incident-checkout", service="checkout")
    step = plan.steps[0]
    assert step.action == "restart" and step.target.namespace == "shop" and step.target.name == "checkout"
    assert plan.runbook.verify.promql is not None and 'namespace="shop"' in plan.runbook.verify.promql
    assert plan.workflow_id.startswith("remediate-deployment-shop-checkout-")


def test_missing_label_is_a_clear_error() -> None:
    runbooks = load_runbooks(REPO / "runbooks")
    alert = Alert(
        fingerprint="f",
        status=AlertStatus.FIRING,
        starts_at=NOW,
        labels={"alertname": "KubePodCrashLooping", "namespace": "shop"},
    )
    assert match_runbooks(runbooks, alert, None) == []  # no subject: nothing to act on (issue 14)
    runbook = next(rb for rb in runbooks if rb.name == "bad-deploy-rollback")
    with pytest.raises(ValueError, match=r"\$\{alert.labels.deployment\} has no value"):
        plan_for(runbook, alert, incident_id="incident-x", service=None)


def test_bound_value_is_validated_again() -> None:
    """A label value that is not a valid Kubernetes name must not reach the cluster."""
    runbooks = load_runbooks(REPO / "runbooks")
    alert = crashloop_alert(deployment="Not A Name!")
    (runbook,) = restart_runbook(match_runbooks(runbooks, alert, None))
    with pytest.raises(ValueError, match=r"target\.name"):
        plan_for(runbook, alert, incident_id="incident-x", service=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nmatch: {}\nsteps: []\nverify: {alerts_resolved: true}\n", "r.yaml:3: steps:"),
        (
            "name: x\nmatch: {}\nsteps:\n  - action: explode\nverify: {alerts_resolved: true}\n",
            "r.yaml:4: steps[0].action: unknown action 'explode'; known: 'scale', 'restart',",
        ),
        (
            "name: x\nmatch: {}\nsteps:\n  - action: scale\n    target: {namespace: a, name: b}\n"
            "verify: {alerts_resolved: true}\n",
            "r.yaml:4: steps[0]: Value error, give exactly one",  # (not steps[0].scale: no such key)
        ),
        (
            "name: x\nmatch: {}\nsteps:\n  - action: restart\n"
            "    target: {namespace: '${alert.secret}', name: b}\nverify: {alerts_resolved: true}\n",
            "r.yaml:5: steps[0].target.namespace: ${alert.secret}",
        ),
        (
            "name: x\nmatch: {}\nsteps:\n  - action: restart\n    target: {namespace: a, name: b}\n"
            "verify: {}\n",
            "r.yaml:6: verify: Value error, give promql",
        ),
        (
            "name: x\nmatch: {labels: {pod: '/[/'}}\nsteps:\n  - action: restart\n"
            "    target: {namespace: a, name: b}\nverify: {alerts_resolved: true}\n",
            "r.yaml:2: match.labels: Value error, labels.pod: /[/ is not a valid regex",
        ),
        (  # re.compile raises OverflowError here, not re.error
            "name: x\nmatch: {labels: {pod: '/a{4294967296}/'}}\nsteps:\n  - action: restart\n"
            "    target: {namespace: a, name: b}\nverify: {alerts_resolved: true}\n",
            "r.yaml:2: match.labels: Value error, labels.pod: /a{4294967296}/ is not a valid regex",
        ),
    ],
)
def test_bad_runbooks_fail_with_lines(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_runbook(text, source="r.yaml")
    assert any(str(p).startswith(expected) for p in err.value.problems), [str(p) for p in err.value.problems]


def test_a_misspelt_step_key_gets_its_line_and_a_hint() -> None:
    """A step's keys had no "did you mean", unlike every other file's (the README promises it): a
    misspelt ``action`` said "Unable to extract tag using discriminator 'action'" at the step, and a
    misspelt key of a step was placed at ``steps[0].scale.<key>``, on the step's first line."""
    step = "  - action: scale\n    target: {namespace: a, name: b}\n    replicas: 2\n"
    text = f"name: x\nmatch: {{alertname: [A]}}\nsteps:\n{step}verify: {{alerts_resolved: true}}\n"

    def said(broken: str) -> list[str]:
        with pytest.raises(ConfigError) as err:
            load_runbook(broken, source="r.yaml")
        return [str(p) for p in err.value.problems]

    assert said(text.replace("action:", "acton:")) == [
        "r.yaml:4: steps[0].acton: Extra inputs are not permitted (did you mean 'action'?); action says"
        " which kind this is: 'scale', 'restart', 'rollback', 'circuit_break', 'reroute'"
    ]
    assert said(text.replace("replicas:", "replcas:")) == [
        "r.yaml:6: steps[0].replcas: Extra inputs are not permitted (did you mean 'replicas'?)"
    ]
    assert said(text.replace("action: scale", "action: scael")) == [
        "r.yaml:4: steps[0].action: unknown action 'scael' (did you mean 'scale'?); known: 'scale',"
        " 'restart', 'rollback', 'circuit_break', 'reroute'"
    ]
    assert said(text.replace("  - action: scale\n", "  - risk: low\n")) == [
        "r.yaml:4: steps[0]: action is missing: it says which kind this is, one of 'scale', 'restart',"
        " 'rollback', 'circuit_break', 'reroute'"
    ]
    assert load_runbook(text, source="r.yaml").steps[0].action == "scale"


def test_the_shipped_crash_loop_verify_counts_the_deployments_own_pods_only() -> None:
    """`pod=~"checkout-.*"` counted checkout-worker's restarts too: a fix to checkout was judged failed,
    and undone, because a neighbour crashed (a runbook author's walk-through, against a real Prometheus).
    A Deployment's pods are `<name>-<pod-template-hash>-<suffix>`; Prometheus anchors the regex."""
    import re  # noqa: PLC0415

    for name in ("crashloop-restart", "crashloop-after-rollout-rollback"):
        rb = load_runbook((REPO / "runbooks" / f"{name}.yaml").read_text(), source=name)
        plan = plan_for(
            rb, crashloop_alert(pod="checkout-7d9f8b6c5d-x2x4z"), incident_id="i", service="checkout"
        )
        query = plan.runbook.verify.promql or ""
        (pattern,) = re.findall(r'pod=~"([^"]+)"', query)
        assert re.fullmatch(pattern, "checkout-7d9f8b6c5d-x2x4z")
        for other in (
            "checkout-worker-6f7b9c8d4-abcde",
            "checkout-v2-5c9d7f-zzzzz",
            "checkoutx-7d9f8b6c5d-x2x4z",
        ):
            assert not re.fullmatch(pattern, other), (name, other)


def test_a_bound_kind_the_step_cannot_act_on_is_said_plainly() -> None:
    """A runbook read before `medic check` refused it (or with no target_kind) still matches a DaemonSet's
    alert: the skip says what Medic acts on and what to do by hand, where it quoted pydantic
    ("restart.target.kind.literal['Deployment','StatefulSet']: Input should be ...")."""
    runbook = Runbook.model_validate(
        {
            "name": "ds-restart",
            "match": {"alertname": ["KubeDaemonSetRolloutStuck"]},
            "steps": [
                {
                    "action": "restart",
                    "target": {
                        "kind": "${target.kind}",
                        "namespace": "${target.namespace}",
                        "name": "${target.name}",
                    },
                }
            ],
            "verify": {"alerts_resolved": True},
        }
    )
    alert = Alert(
        fingerprint="f",
        status=AlertStatus.FIRING,
        starts_at=NOW,
        labels={"alertname": "KubeDaemonSetRolloutStuck", "namespace": "logging", "daemonset": "fluent-bit"},
    )
    with pytest.raises(ValueError) as err:
        plan_for(runbook, alert, incident_id="incident-x", service=None)
    assert str(err.value) == (
        "restart acts on a Deployment or a StatefulSet, not on DaemonSet logging/fluent-bit: do it by hand, "
        "kubectl rollout restart daemonset/fluent-bit -n logging"
    )
