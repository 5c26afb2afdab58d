"""Issue 14: a crash loop right after a rollout is rolled back first; otherwise the Deployment is
restarted under its cooldown. The shipped pair (crashloop-after-rollout-rollback, crashloop-restart)
is chosen when the runbooks are matched, from the age of the ReplicaSet that runs the current release."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activities.remediate import MatchRequest, RemediationActivities
from medic.runbook import load_runbook
from medic.yamldoc import ConfigError
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef, RolloutInfo
from service.config_files import load_runbooks
from tests.unit.test_runbooks import crashloop_alert

REPO = Path(__file__).resolve().parents[2]


class RolledOut:
    """Only what matching asks of the cluster: the rollout of the plan's Deployment."""

    def __init__(self, since: datetime | None, *, fails: bool = False) -> None:
        self.since, self.fails, self.asked = since, fails, list[ObjectRef]()

    def rollout(self, ref: ObjectRef) -> RolloutInfo:
        self.asked.append(ref)
        if self.fails:
            raise TimeoutError("the API server did not answer")
        return RolloutInfo(revision=4, previous=[3], runs=[4], since=self.since)


def _matched(cluster: Any) -> tuple[list[str], list[str]]:
    activities = RemediationActivities(
        cluster=cluster,
        metrics=None,
        runbooks=lambda: load_runbooks(REPO / "runbooks"),
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=GuardrailSettings,
    )
    result = activities.match(
        MatchRequest(incident_id="incident-checkout", service="checkout", alerts=[crashloop_alert()])
    )
    return [p.runbook.name for p in result.plans], result.problems


def test_a_fresh_release_is_rolled_back_first() -> None:
    cluster = RolledOut(datetime.now(UTC) - timedelta(minutes=12))
    assert _matched(cluster) == (["crashloop-after-rollout-rollback"], [])
    assert {str(r) for r in cluster.asked} == {"deployment/shop/checkout"}


def test_an_old_release_is_restarted() -> None:
    assert _matched(RolledOut(datetime.now(UTC) - timedelta(hours=5))) == (["crashloop-restart"], [])


@pytest.mark.parametrize("cluster", [None, RolledOut(None), RolledOut(None, fails=True)])
def test_when_nobody_can_tell_the_restart_runs_and_the_rollback_says_why_not(cluster: Any) -> None:
    """No cluster (`medic dev`), a rollback that re-used an old ReplicaSet, or the API down."""
    plans, problems = _matched(cluster)
    assert plans == ["crashloop-restart"]
    (problem,) = problems
    assert "crashloop-after-rollout-rollback" in problem and "last rolled out is not known" in problem


def test_a_runbook_cannot_want_both() -> None:
    text = (REPO / "runbooks" / "crashloop-restart.yaml").read_text()
    both = text.replace(
        "  not_rolled_out_within_minutes: 30\n",
        "  not_rolled_out_within_minutes: 30\n  rolled_out_within_minutes: 30\n",
    )
    assert both != text
    with pytest.raises(ConfigError, match="not both"):
        load_runbook(both, source="both.yaml")
