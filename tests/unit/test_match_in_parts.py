"""Runbook matching in parts (workflows/local.py): an incident's fresh alerts go to ``remediate.match`` in
requests of at most DECISION_BYTES each, since an activity's input goes through the server, and the
answers merged are the answer one request gets: the same plans in the same order, each with every
alert that called for it, and the same problems."""

from pathlib import Path

from activities.remediate import MatchRequest, MatchResult, RemediationActivities
from medic.alerts import Alert
from medic.limits import model_size, runs_within
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from service.config_files import load_runbooks
from tests.unit.test_runbooks import crashloop_alert
from workflows.local import DECISION_BYTES

REPO = Path(__file__).resolve().parents[2]


RUNBOOKS = load_runbooks(REPO / "runbooks")


def _activities() -> RemediationActivities:
    return RemediationActivities(
        cluster=None,
        metrics=None,
        runbooks=lambda: RUNBOOKS,
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=lambda: GuardrailSettings(mode="dry-run"),
    )


def _storm() -> list[Alert]:
    """A storm as the hostile-input probe sends it: 600 crash-looping pods of 7 Deployments with 4.5 KB
    descriptions (2.7 MB), and some whose Deployment label cannot bind (a problem, not a plan)."""
    alerts = []
    for n in range(600):
        deployment = f"checkout-{n % 7}" if n % 50 else "Not A Name!"
        alert = crashloop_alert(deployment=deployment, pod=f"{deployment}-{n}")
        alerts.append(
            alert.model_copy(update={"fingerprint": f"f{n}", "annotations": {"description": "d" * 4500}})
        )
    return alerts


def _parts(alerts: list[Alert]) -> MatchResult:
    activities = _activities()
    runs = runs_within(alerts, room=DECISION_BYTES)
    results = [
        activities.match(MatchRequest(incident_id="i", service="checkout", alerts=alerts[r.start : r.stop]))
        for r in runs
    ]
    merged = results[0]
    for part in results[1:]:
        merged.merge(MatchResult.model_validate_json(part.model_dump_json()))  # as it comes back
    return merged


def test_a_storm_matched_in_parts_is_matched_as_one_request_would_be() -> None:
    alerts = _storm()
    runs = runs_within(alerts, room=DECISION_BYTES)
    assert len(runs) > 1
    assert [i for r in runs for i in r] == list(range(600))
    for run in runs:  # every request within its bound
        request = MatchRequest(incident_id="i", service="checkout", alerts=alerts[run.start : run.stop])
        assert model_size(request) <= DECISION_BYTES + 200
    whole = _activities().match(MatchRequest(incident_id="i", service="checkout", alerts=alerts))
    parts = _parts(alerts)
    assert parts.model_dump() == whole.model_dump()
    # No cluster to ask, so each Deployment's crash loop is a restart (the rollback says why not), and
    # each restart answers for all of its Deployment's pods, from every part
    assert [p.target.name for p in parts.plans] == [f"checkout-{n}" for n in (1, 2, 3, 4, 5, 6, 0)]
    pods = [sum(1 for n in range(600) if n % 7 == k and n % 50) for k in (1, 2, 3, 4, 5, 6, 0)]
    assert [len(p.fingerprints) for p in parts.plans] == pods
    assert len(parts.problems) == len(whole.problems) > 12


def test_one_alert_larger_than_the_bound_goes_alone() -> None:
    small = crashloop_alert()
    large = small.model_copy(update={"annotations": {"d": "x" * 300_000}})
    assert runs_within([small, large, small], room=DECISION_BYTES) == [range(0, 1), range(1, 2), range(2, 3)]
    assert runs_within([small, small], room=DECISION_BYTES) == [range(0, 2)]
