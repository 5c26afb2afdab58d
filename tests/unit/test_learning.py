"""The learning opt-in of the routing policy (``learning:``), the demotion decision, the plan it cuts to
chat only, and what GET /insights and ``/medic insights`` say is applied."""

from datetime import UTC, datetime, timedelta

import pytest

from medic.incident import IncidentState
from medic.insights import (
    Demoted,
    Demotion,
    Proposal,
    TeamLearning,
    anomaly_rule,
    applied_for,
    covers,
    demotion_for,
    incident_rules,
    rules_before_scans,
)
from medic.routing import NotificationPlan, RoutingPolicy, load_routing, plan_notifications
from medic.yamldoc import ConfigError
from service.insights import LearningLoop, insights, render_insights
from tests.support.shop import ctx, shop
from tests.unit.test_insights import WEEK_LATER, ScriptedReader, state

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = """
teams:
  data: {primary: data, secondary: data-2}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary], slack_channels: ["#war-room"]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, jira: true, escalation: critical}
  - {name: p2, match: {priority: [P2]}, pagerduty: true}
  - {name: rest}
learning:
  data: {demote: [PostgresDown, "anomaly:scan"], keep_paging: []}
  checkout: {demote: ["*"]}
"""
DEMOTED: Demoted = {
    "data": {
        "PostgresDown": Proposal(
            rule="PostgresDown", team="data", change="demote", evidence="never acted on: 9 incidents"
        )
    },
    "checkout": {
        "CheckoutSlow": Proposal(
            rule="CheckoutSlow", team="checkout", change="demote", evidence="never acted on: 7 incidents"
        )
    },
}


def line_of(text: str, words: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if words in line)


def policy() -> RoutingPolicy:
    return load_routing(POLICY, catalog=shop())


def plan_for(service: str, priority: str, rules: list[str], demoted: Demoted = DEMOTED) -> NotificationPlan:
    """The plan of an incident of ``service`` made of ``rules`` under the policy above."""
    return plan_notifications(
        policy(),
        priority=priority,
        owner=ctx(service),
        services=[ctx(service)],
        at=T0,
        rules=rules,
        demoted=demoted,
    )


# ---- the policy model ------------------------------------------------------------------------------


def test_a_p1_keeps_paging_unless_the_team_says_otherwise() -> None:
    """An alert name nobody acts on in dev (a warning, a staging namespace) is the same rule as the
    production outage of that name: a team's opt-in demoted its P1 too (a review, 2026-12-06)."""
    learning = {"checkout": TeamLearning(demote=["*"])}  # keep_paging: P1 by default
    assert (
        demotion_for(learning, team="checkout", rules=["CheckoutSlow"], demoted=DEMOTED, priority="P1")
        is None
    )
    kept = demotion_for(learning, team="checkout", rules=["CheckoutSlow"], demoted=DEMOTED, priority="P2")
    assert kept is not None and kept.rules == ["CheckoutSlow"]
    plan = plan_for("checkout", "P1", ["CheckoutSlow"])
    assert plan.demoted is None and plan.pagerduty


def test_the_learning_block_per_team() -> None:
    learning = policy().learning
    assert learning["data"].may_demote("PostgresDown") and learning["data"].may_demote("anomaly:scan")
    assert not learning["data"].may_demote("PostgresReplicaLag")
    assert learning["checkout"].may_demote("anything at all")  # "*"
    assert RoutingPolicy.default().learning == {}  # nobody opted in unless they say so


def test_medic_check_names_the_line_of_an_unknown_team() -> None:
    text = POLICY.replace("  checkout: {demote", "  chekout: {demote")
    with pytest.raises(ConfigError) as err:
        load_routing(text, source="routing.yaml", catalog=shop())
    [problem] = err.value.problems
    assert problem.line == line_of(text, "chekout:") and problem.field == "learning.chekout"
    assert "no service in the catalog belongs to team 'chekout' (did you mean 'checkout'?)" in problem.message


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{demote: [PostgresDown], promote: [X]}", "promote"),  # only what is built is accepted
        ('{demote: [" "]}', "an empty alert rule name"),
        ("{demote: PostgresDown}", "demote"),  # a list, not one name
    ],
)
def test_malformed_learning_entries_are_refused(entry: str, words: str) -> None:
    text = POLICY.replace('{demote: [PostgresDown, "anomaly:scan"], keep_paging: []}', entry)
    with pytest.raises(ConfigError) as err:
        load_routing(text, source="routing.yaml", catalog=shop())
    assert words in str(err.value) and f"routing.yaml:{line_of(text, entry)}" in str(err.value)


# ---- the decision ----------------------------------------------------------------------------------


def test_demoted_only_when_the_team_opted_in_for_every_rule_and_each_is_proposed() -> None:
    learning = policy().learning
    got = demotion_for(learning, team="data", rules=["PostgresDown"], demoted=DEMOTED)
    assert got == Demotion(
        team="data", rules=["PostgresDown"], evidence={"PostgresDown": "never acted on: 9 incidents"}
    )
    assert got.by == "medic learning"
    # one rule of the incident that the team did not opt in for, or that is not proposed: it pages
    assert demotion_for(learning, team="data", rules=["PostgresDown", "DiskFull"], demoted=DEMOTED) is None
    assert demotion_for(learning, team="data", rules=["anomaly:scan"], demoted=DEMOTED) is None
    # a team without an entry, an incident without an owner, an incident without rules
    assert demotion_for(learning, team="payments", rules=["PostgresDown"], demoted=DEMOTED) is None
    assert demotion_for(learning, team=None, rules=["PostgresDown"], demoted=DEMOTED) is None
    assert demotion_for(learning, team="data", rules=[], demoted=DEMOTED) is None
    star = demotion_for(learning, team="checkout", rules=["CheckoutSlow"], demoted=DEMOTED)
    assert star is not None and star.rules == ["CheckoutSlow"]


def test_a_demoted_plan_is_chat_only_and_says_why() -> None:
    plan = plan_for("orders-db", "P1", ["PostgresDown"])  # team data keeps no priority paging
    assert (plan.rule, plan.channels("slack")) == ("p1", ["#data-oncall"])
    assert (plan.pagerduty, plan.escalation, plan.jira_project) == (None, [], None)
    assert plan.demoted is not None and plan.demoted.team == "data"
    message = plan.demoted.message(plan.rule)
    assert message.startswith("Demoted to chat only by medic learning: team data opted in")
    assert "PostgresDown: never acted on: 9 incidents" in message and "remove the opt-in" in message

    paging = plan_for("orders-db", "P1", ["DiskFull"])
    assert paging.pagerduty == "data" and paging.jira_project == "DATA" and len(paging.escalation) == 2
    assert paging.demoted is None
    # the same incident without any demotion proposed now (no insights yet): pages as the rule says
    unproposed = plan_for("orders-db", "P1", ["PostgresDown"], demoted={})
    assert unproposed.escalation and unproposed.demoted is None


def test_a_plan_that_only_chats_anyway_is_not_called_demoted() -> None:
    plan = plan_for("orders-db", "P4", ["PostgresDown"])
    assert plan.rule == "rest" and plan.demoted is None


def test_the_rules_of_an_incident_as_learning_counts_them() -> None:
    """Alert rules and anomaly rules both, and each Medic scan its own: every scan was one rule
    (`anomaly:medic-scan`), and an incident with alerts counted no finding (an anomaly walk-through: a
    noisy pod-memory scan's demotion held another scan's real outage back)."""
    scans = [anomaly_rule("medic-scan", "pod-memory"), anomaly_rule("medic-scan", "error-ratio")]
    assert scans == ["anomaly:medic-scan/pod-memory", "anomaly:medic-scan/error-ratio"]
    assert incident_rules(["B", "A", "B"], [anomaly_rule("grafana")]) == ["A", "B", "anomaly:grafana"]
    assert incident_rules([], scans) == sorted(scans)
    assert rules_before_scans(["B", "A"], ["medic-scan"]) == ["A", "B"]  # as before 0.2.0
    assert rules_before_scans([], ["medic-scan", "grafana"]) == ["anomaly:grafana", "anomaly:medic-scan"]
    # a demotion made before 0.2.0 named the whole source: it covers each scan's rule
    assert covers(["anomaly:medic-scan"], scans[0]) and covers(scans[:1], scans[0])
    assert not covers(scans[:1], scans[1]) and not covers(["PostgresDown"], scans[0])


# ---- what is shown as applied ------------------------------------------------------------------


def test_applied_for_names_the_team_whose_demotion_it_is_where_it_opted_in() -> None:
    learning = {"data": TeamLearning(demote=["PostgresDown"]), "web": TeamLearning(demote=["*"])}
    demote = Proposal(rule="PostgresDown", team="data", change="demote", evidence="")
    assert applied_for(demote, learning) == ["data"]
    assert applied_for(demote.model_copy(update={"team": "web"}), learning) == ["web"]
    assert applied_for(demote.model_copy(update={"rule": "Other"}), learning) == []  # data: not that rule
    assert applied_for(demote.model_copy(update={"team": "payments"}), learning) == []  # no opt-in
    assert applied_for(demote.model_copy(update={"team": None}), learning) == []  # nobody owned them
    silence = Proposal(rule="PostgresDown", team="data", change="silence", evidence="")
    assert applied_for(silence, learning) == []


async def test_one_teams_ignored_alerts_are_no_evidence_for_another_team() -> None:
    """The kube-prometheus rules fire for every team's pods. Keyed by alertname alone, the 30
    KubePodCrashLooping incidents team web never acted on demoted team data's (which opted in) on
    data's 2 incidents of the rule, one of which was acted on here (a review, 2026-12-06). Per team:
    data's own two are too few to say anything, and web, which did not opt in, is only proposed."""
    web = [state(i, "KubePodCrashLooping", 30, team="web") for i in range(30)]
    data = [state(40, "KubePodCrashLooping", 30), state(60, "KubePodCrashLooping", 45)]
    learning = {"data": TeamLearning(demote=["KubePodCrashLooping"])}
    found = await insights(ScriptedReader([*web, *data, WEEK_LATER]), learning=learning)
    [proposal] = found.proposals
    assert (proposal.rule, proposal.team, proposal.change, proposal.applied_for) == (
        "KubePodCrashLooping",
        "web",
        "demote",
        [],
    )
    assert proposal.evidence.startswith("never acted on: 30 incidents")
    by_team = {(r.rule, r.team): r.incidents for r in found.rules}
    assert by_team[("KubePodCrashLooping", "web")] == 30 and by_team[("KubePodCrashLooping", "data")] == 2
    loop = LearningLoop(ScriptedReader([*web, *data, WEEK_LATER]))
    await loop.refresh()
    assert (
        demotion_for(
            learning, team="data", rules=["KubePodCrashLooping"], demoted=loop.demotions(), priority="P3"
        )
        is None
    )
    assert "`KubePodCrashLooping` (team web): demote it to chat only" in render_insights(found)


async def test_a_team_that_never_acts_on_a_rule_others_act_on_may_demote_its_own() -> None:
    """Team web acts on every HighLatency of its own; team data never acted on its 10 and opted in:
    data's are demoted, web's keep paging. Keyed by alertname alone the rule was acted on, and
    data's kept paging for nothing."""
    web = [state(i, "HighLatency", 40, ack=True, team="web") for i in range(6)]
    data = [state(10 + i, "HighLatency", 30) for i in range(10)]
    learning = {"data": TeamLearning(demote=["HighLatency"]), "web": TeamLearning(demote=["*"])}
    loop = LearningLoop(ScriptedReader([*web, *data, WEEK_LATER]))
    found = await loop.refresh()
    # (and, across both teams, a `for:` of 30 min keeps web's, which all lasted 40)
    assert [(p.team, p.change) for p in found.proposals if p.rule == "HighLatency"] == [
        (None, "raise_for"),
        ("data", "demote"),
    ]
    demoted = loop.demotions()
    assert list(demoted) == ["data"] and demoted["data"]["HighLatency"].evidence.startswith(
        "never acted on: 10"
    )
    assert demotion_for(learning, team="data", rules=["HighLatency"], demoted=demoted, priority="P3")
    assert not demotion_for(learning, team="web", rules=["HighLatency"], demoted=demoted, priority="P3")


class CountingReader(ScriptedReader):
    """Resolved incidents with their resolution times in the listing, counting the states read."""

    def __init__(self, states: list[IncidentState]) -> None:
        super().__init__(states)
        self.reads: list[str] = []

    async def state(self, incident_id: str) -> IncidentState:
        self.reads.append(incident_id)
        return self.states[incident_id]


async def test_get_insights_says_which_demotions_medic_applies() -> None:
    reader = CountingReader([state(i, "DiskNoise", 30) for i in range(8)] + [WEEK_LATER])
    learning = {"data": TeamLearning(demote=["DiskNoise"]), "web": TeamLearning(demote=["Other"])}
    found = await insights(reader, learning=learning)
    [proposal] = found.proposals
    assert (proposal.rule, proposal.change, proposal.applied_for) == ("DiskNoise", "demote", ["data"])
    text = render_insights(found)
    assert "*Applied by Medic* for data (remove the opt-in to undo)" in text
    # without the opt-in (removed from the policy) it is only proposed again
    plain = await insights(reader)
    assert plain.proposals[0].applied_for == [] and "Applied by Medic" not in render_insights(plain)


async def test_the_learning_loop_keeps_the_demotions_and_reads_each_resolved_incident_once() -> None:
    reader = CountingReader([state(i, "DiskNoise", 30) for i in range(8)] + [WEEK_LATER])
    loop = LearningLoop(reader, every=timedelta(minutes=15))
    assert loop.demotions() == {}  # before the first pass: nothing is demoted
    await loop.refresh()
    assert {team: list(rules) for team, rules in loop.demotions().items()} == {"data": ["DiskNoise"]}
    assert loop.demotions()["data"]["DiskNoise"].evidence.startswith("never acted on: 8 incidents")
    assert len(reader.reads) == 9  # 8, and the incident a week later
    # someone acted on the next one: the rule earns its page again, reading only the new incident
    acted = state(50, "DiskNoise", 40, ack=True)
    reader.states[acted.id] = acted
    await loop.refresh()
    assert loop.demotions() == {} and reader.reads[9:] == [acted.id]


def test_a_false_positive_mark_covers_the_findings_it_was_made_over() -> None:
    """A mark from Slack names the incident's alert rules; a scan's finding the incident held was
    judged with them, not credited as acted on (then never proposed for demotion: a review)."""
    from medic.alerts import Alert, AlertStatus  # noqa: PLC0415
    from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow  # noqa: PLC0415
    from medic.feedback import FalsePositive  # noqa: PLC0415
    from medic.incident import AlertBatch, AnomalyBatch, IncidentState  # noqa: PLC0415
    from medic.insights import effectiveness  # noqa: PLC0415
    from tests.support.shop import ctx  # noqa: PLC0415

    t0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    s = IncidentState(id="incident-checkout", opened_at=t0)
    labels = {"alertname": "CheckoutLatencyHigh", "service": "checkout", "severity": "warning"}
    alert = Alert(
        fingerprint="f1", status=AlertStatus.FIRING, starts_at=t0, service="checkout", labels=labels
    )
    s.apply_alerts(AlertBatch(alerts=[alert], received_at=t0, contexts=[ctx("checkout")]), at=t0)
    finding = AnomalySignal(
        source="medic-scan",
        service="checkout",
        series={"pod": "checkout-1", SCAN_LABEL: "pod-memory"},
        value=1.0,
        expected=ExpectedBand(lower=0, upper=0.5),
        score=0.9,
        window=TimeWindow(start=t0, end=t0 + timedelta(minutes=15)),
    )
    s.apply_anomalies(AnomalyBatch(signals=[finding], received_at=t0, contexts=[ctx("checkout")]), at=t0)
    s.acknowledge(t0 + timedelta(minutes=2), actor="U1", source="slack")
    mark = FalsePositive(at=t0 + timedelta(minutes=3), actor="U1", rules=s.rules(), incident_id=s.id)
    s.mark_false_positive(mark)
    out = s.outcome()
    assert out is not None
    scan = next(r for r in effectiveness([out]) if r.rule == "anomaly:medic-scan/pod-memory")
    assert scan.actionable == 0 and scan.false_positives == 1
