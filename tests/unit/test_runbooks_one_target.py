"""Two runbooks that match the same target: one remediation acts on a target at a time, so the first
in file-name order acts and the other is said (``remediation.skipped``), by the worker and by `medic
explain` alike. The second was merged into the first in silence, where `medic explain` said both would
run (a runbook author's walk-through, 2026-12-07)."""

from pathlib import Path

from activities.remediate import MatchRequest, RemediationActivities
from medic.runbook import Runbook, load_runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from service.explain import explain_webhook
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_runbooks import crashloop_alert

REPO = Path(__file__).resolve().parents[2]


def _runbook(name: str, step: str, **match: str) -> Runbook:
    extra = "".join(f"\n  {k}: {v}" for k, v in match.items())
    return load_runbook(
        f"""
name: {name}
match:
  alertname: [KubePodCrashLooping]{extra}
steps:
  - {step}
    target: {{kind: Deployment, namespace: "${{target.namespace}}", name: "${{target.name}}"}}
verify: {{alerts_resolved: true}}
""",
        source=f"{name}.yaml",
    )


SCALE = _runbook("a-scale", "action: scale\n    factor: 2")
RESTART = _runbook("b-restart", "action: restart")


def test_the_worker_plans_the_first_and_says_the_second() -> None:
    acts = RemediationActivities(
        cluster=None,
        metrics=None,
        runbooks=lambda: [SCALE, RESTART],
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=lambda: GuardrailSettings(mode="dry-run"),
    )
    alerts = [
        crashloop_alert(pod="checkout-7d9f8b6c5d-abcde"),
        crashloop_alert(pod="checkout-7d9f8b6c5d-fghij"),
    ]
    alerts[1] = alerts[1].model_copy(update={"fingerprint": "f2"})
    result = acts.match(MatchRequest(incident_id="incident-checkout", service="checkout", alerts=alerts))
    (plan,) = result.plans
    assert plan.runbook.name == "a-scale" and plan.fingerprints == ["f1", "f2"]
    assert result.problems == [
        "runbook b-restart matched KubePodCrashLooping but deployment/shop/checkout is remediated by runbook "
        "a-scale, which also matched and comes first (one remediation per target at a time; runbooks are "
        "matched in file-name order)"
    ]


def test_medic_explain_says_the_same() -> None:
    entry = {
        "status": "firing",
        "labels": {
            "alertname": "KubePodCrashLooping",
            "namespace": "shop",
            "deployment": "checkout",
            "pod": "checkout-7d9f8b6c5d-abcde",
            "container": "checkout",
            "severity": "warning",
        },
        "annotations": {},
        "startsAt": "2026-12-07T10:00:00Z",
        "fingerprint": "f1",
    }
    (found,) = explain_webhook(payload([entry]), catalog=fixture_catalog(), runbooks=[SCALE, RESTART])
    (alert,) = found["alerts"]
    first, second = alert["runbooks"]
    assert first["runbook"] == "a-scale" and "problem" not in first
    assert second["runbook"] == "b-restart" and "is remediated by runbook a-scale" in second["problem"]
    # a pair chosen by the age of the release (the shipped crash-loop runbooks) is shown whole: the
    # worker's call, when it matches
    shipped = [
        load_runbook((REPO / "runbooks" / f).read_text(), source=f)
        for f in ("crashloop-after-rollout-rollback.yaml", "crashloop-restart.yaml")
    ]
    (found,) = explain_webhook(payload([entry]), catalog=fixture_catalog(), runbooks=shipped)
    plans = found["alerts"][0]["runbooks"]
    assert [p.get("problem") for p in plans] == [None, None] and all(p["only_if"] for p in plans)


def test_a_node_alerts_runbook_says_why_it_cannot_act() -> None:
    """A runbook on KubeNodeNotReady binding `${target.*}` was skipped with "restart.target.namespace ''
    is not a valid namespace" (a runbook author's walk-through, 2026-12-07)."""
    node = _runbook("node-restart", "action: restart")
    entry = {
        "status": "firing",
        "labels": {"alertname": "KubeNodeNotReady", "node": "ip-10-0-1-7", "condition": "Ready"},
        "annotations": {},
        "startsAt": "2026-12-07T10:00:00Z",
        "fingerprint": "n1",
    }
    rb = node.model_copy(update={"match": node.match.model_copy(update={"alertname": ["KubeNodeNotReady"]})})
    (found,) = explain_webhook(payload([entry]), catalog=fixture_catalog(), runbooks=[rb])
    ((plan,),) = [a["runbooks"] for a in found["alerts"]]
    assert plan["problem"] == (
        "its subject is Node ip-10-0-1-7, which is in no namespace: Medic's steps act on workloads and "
        "routes in a namespace, none on a Node (cordon and drain are not Medic's)"
    )
