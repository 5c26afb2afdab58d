"""Per-rule effectiveness and the proposals computed from a scripted history, and the replay
benchmark's accounting."""

from datetime import UTC, datetime, timedelta

import numpy as np

from bench.insights_replay import history, keyed, pages_after
from medic.alerts import AlertStatus
from medic.correlation import RootCauseCandidate
from medic.incident import AlertRecord, IncidentState
from medic.insights import IncidentOutcome, Proposal, effectiveness, propose
from medic.topology import ServiceContext
from service.incidents import (
    IncidentDetail,
    IncidentFilter,
    IncidentNotFound,
    IncidentSummary,
    ResolvedRun,
    ResolvedRuns,
)
from service.insights import insights

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def inc(rule: str, day: float, minutes: float, *, acted: bool = False, fp: bool = False) -> IncidentOutcome:
    opened = T0 + timedelta(days=day)
    return IncidentOutcome(
        incident_id=f"incident-{rule}-{day}",
        rules=[rule],
        opened_at=opened,
        resolved_at=opened + timedelta(minutes=minutes),
        acknowledged=acted,
        false_positive=fp,
    )


def scripted() -> list[IncidentOutcome]:
    out = [inc("Flappy", d / 10, 2) for d in range(100)]  # 10 a day for 10 days, 2 min each
    out += [inc("NobodyCares", d, 30 + d, fp=d % 3 == 0) for d in range(8)]
    out += [inc("ShortNoise", d / 2, 3) for d in range(12)] + [inc("ShortNoise", 2.2, 45, acted=True)]
    out += [inc("Useful", d, 60, acted=True) for d in range(6)] + [inc("Useful", 3.5, 2)]
    out += [inc("Rare", 1, 2), inc("Rare", 2, 2)]
    return out


def test_effectiveness_per_rule() -> None:
    records = {r.rule: r for r in effectiveness(scripted())}
    flappy = records["Flappy"]
    assert (flappy.incidents, flappy.pages, flappy.actionable, flappy.auto_resolved_quickly) == (
        100,
        100,
        0,
        100,
    )
    assert flappy.median_auto_resolve_seconds == 120.0
    assert 9.5 < flappy.per_day < 11.5
    nobody = records["NobodyCares"]
    assert nobody.false_positives == 3 and nobody.auto_resolved_quickly == 0
    assert records["ShortNoise"].shortest_actionable_seconds == 45 * 60
    assert records["ShortNoise"].longest_noise_seconds == 180
    assert next(iter(records)) == "Flappy"  # most pages first


def test_proposals_with_evidence_and_never_an_actionable_loss() -> None:
    made = propose(effectiveness(scripted()))
    by_rule = {p.rule: p for p in made}
    assert by_rule["Flappy"].change == "silence"
    assert "flapping: 100 incidents" in by_rule["Flappy"].evidence
    assert by_rule["NobodyCares"].change == "demote"
    assert "3 marked false positive" in by_rule["NobodyCares"].evidence
    short = by_rule["ShortNoise"]
    assert short.change == "raise_for" and short.for_seconds == 180
    assert "Useful" not in by_rule  # acted on more often than not
    assert "Rare" not in by_rule  # too little evidence
    proposals = keyed(made)
    for outcome in scripted():
        if outcome.actionable:
            assert pages_after(outcome, proposals)


def test_a_false_positive_mark_is_not_action() -> None:
    marked = inc("X", 0, 5, acted=True, fp=True)
    assert not marked.actionable
    assert pages_after(marked, {(None, "X"): Proposal(rule="X", change="demote", evidence="")}) is False


def test_the_replay_history_is_labelled() -> None:
    h = history(np.random.default_rng(1), 7)
    assert {o.rules[0].split("-")[0] for o in h} >= {"useful", "noisy", "flapping", "mostly"}
    assert not any(o.actionable for o in h if o.rules[0].startswith(("noisy", "flapping")))


class ScriptedReader:
    """Resolved incidents as the incident workflow leaves them (``IncidentState``)."""

    def __init__(self, states: list[IncidentState]) -> None:
        self.states = {s.id: s for s in states}

    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        assert flt.status == "resolved"
        return [
            IncidentSummary(
                id=s.id,
                title=s.title,
                status="resolved",
                priority="P3",
                impact=0.0,
                services=[],
                opened_at=s.opened_at,
                resolved_at=s.resolved_at,
                alert_count=len(s.alerts),
            )
            for s in self.states.values()
        ][: flt.limit]

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        raise NotImplementedError

    async def state(self, incident_id: str) -> IncidentState:
        if incident_id == "incident-gone":
            raise IncidentNotFound(incident_id)
        return self.states[incident_id]

    # Runs as learning reads them: one per state, resolved before the workflow published its outcome
    # (``published``: with it, as the memo carries it, and never queried).
    published = False

    async def resolved_runs(self, *, limit: int, since: datetime | None = None) -> ResolvedRuns:
        self.since = since
        await self.list(IncidentFilter(status="resolved"))  # (a listing that fails fails the same)
        return [
            ResolvedRun(
                id=s.id,
                run_id=f"run-{s.id}",
                opened_at=s.opened_at,
                resolved_at=s.resolved_at,
                outcome=s.outcome() if self.published else None,
            )
            for s in self.states.values()
        ][:limit]

    async def run_state(self, incident_id: str, run_id: str) -> IncidentState:
        assert run_id == f"run-{incident_id}"
        return await self.state(incident_id)


def state(
    i: int, rule: str, minutes: float, *, ack: bool = False, by_hand: bool = False, team: str | None = "data"
) -> IncidentState:
    """A resolved incident of one alert, owned by ``team``'s service (``team`` None: no owner known)."""
    opened = T0 + timedelta(hours=i)
    s = IncidentState(
        id=f"incident-{rule}-{i}{'' if team in (None, 'data') else '-' + str(team)}", opened_at=opened
    )
    if team is not None:
        s.contexts[f"{team}-db"] = ServiceContext(name=f"{team}-db", team=team)
        s.root_causes = [RootCauseCandidate(service=f"{team}-db", rank=1, reasons=["failing"])]
    s.alerts["fp"] = AlertRecord(
        fingerprint="fp",
        name=rule,
        status=AlertStatus.RESOLVED,
        severity="warning",
        labels={"alertname": rule},
        starts_at=opened,
        source="alertmanager",
        first_seen_at=opened,
        last_seen_at=opened,
    )
    s.notifications.pages["data"] = "trigger"  # it paged (what learning counts as a page)
    if ack:
        s.acknowledge(opened + timedelta(minutes=1), actor="slack:U1", source="slack")
    if by_hand:
        s.resolve_by_hand(opened + timedelta(minutes=minutes), actor="slack:U1", source="slack", reason="")
    else:
        s.resolved_at = opened + timedelta(minutes=minutes)
    return s


# an incident someone acted on, 8 days after the first ones: the history covers a week
WEEK_LATER = state(200, "CheckoutDown", 40, ack=True)


async def test_get_insights_from_a_scripted_history() -> None:
    states = [state(i, "DiskNoise", 2) for i in range(30)]
    # (8 days later: a history of a week at least, or nothing is silenced or demoted)
    states += [state(200 + i, "CheckoutDown", 40, ack=True, by_hand=i % 2 == 0) for i in range(6)]
    states.append(IncidentState(id="incident-gone", opened_at=T0))
    got = await insights(ScriptedReader(states), limit=1000)
    assert got.incidents == 36
    rules = {r.rule: r for r in got.rules}
    assert rules["DiskNoise"].actionable == 0 and rules["DiskNoise"].auto_resolved_quickly == 30
    assert rules["CheckoutDown"].actionable == 6
    assert [(p.rule, p.change) for p in got.proposals] == [("DiskNoise", "silence")]  # 24 a day
    assert states[30].outcome().resolved_by_person  # type: ignore[union-attr]
    assert not states[31].outcome().resolved_by_person  # type: ignore[union-attr]


async def test_medic_insights_in_slack() -> None:
    from medic.commands import HELP_TEXT, Insights, parse_command  # noqa: PLC0415
    from service.insights import render_insights  # noqa: PLC0415

    assert isinstance(parse_command("insights"), Insights)
    assert "`/medic insights`" in HELP_TEXT
    states = [state(i, "Disk_*Noise*", 2) for i in range(30)] + [WEEK_LATER]
    text = render_insights(await insights(ScriptedReader(states)))
    assert text.startswith("*Insights* from the last 31 resolved incidents.")
    assert "silence it (flapping)" in text and "flapping: 30 incidents" in text
    assert "`Disk_*Noise*`" in text  # rule names in code spans: Slack formats nothing inside
    empty = render_insights(await insights(ScriptedReader([])))
    assert "No proposals" in empty


async def test_what_the_insights_count_is_what_happened_to_people() -> None:
    """A review of the learning loop (2026-12-06): a cascade's symptom incidents, merged into their cause,
    were counted again as incidents nobody acted on; every incident counted as a page, chat-only ones
    too; and one incident Temporal could not answer for failed the whole pass."""
    from temporalio.service import RPCError, RPCStatusCode  # noqa: PLC0415

    merged = state(1, "KubePodCrashLooping", 2)
    merged.merged_into = "incident-orders-db"
    assert merged.outcome() is None
    chat_only = state(2, "CPUThrottlingHigh", 30)
    chat_only.notifications.pages.clear()
    told = chat_only.outcome()
    assert told is not None and not told.paged

    class Flaky(ScriptedReader):
        async def state(self, incident_id: str) -> IncidentState:
            if incident_id.endswith("-3"):
                raise RPCError(
                    "grpc: received message larger than max", RPCStatusCode.RESOURCE_EXHAUSTED, b""
                )
            return await super().state(incident_id)

    found = await insights(Flaky([state(i, "DiskNoise", 30) for i in range(8)] + [WEEK_LATER]))
    assert found.incidents == 8 and found.unread == 1
    assert [(p.rule, p.change) for p in found.proposals] == [("DiskNoise", "demote")]


async def test_a_learning_loop_that_cannot_read_for_an_hour_demotes_nothing() -> None:
    """A demotion kept while no pass works may outlive someone acting on the rule: after 4 failed
    passes (an hour at the default), nothing is demoted until a pass works again."""
    import asyncio  # noqa: PLC0415

    from temporalio.service import RPCError, RPCStatusCode  # noqa: PLC0415

    from service.insights import LearningLoop  # noqa: PLC0415

    class Down(ScriptedReader):
        async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

    loop = LearningLoop(Down([state(i, "DiskNoise", 30) for i in range(8)]), every=timedelta(0))
    loop._demoted = {"data": {"DiskNoise": Proposal(rule="DiskNoise", change="demote", evidence="")}}
    passes = asyncio.create_task(loop.run())
    for _ in range(100):
        await asyncio.sleep(0)
    passes.cancel()
    assert loop.demotions() == {}


def test_nothing_is_silenced_or_demoted_on_less_than_a_week_of_history() -> None:
    """The latest 500 incidents of the benchmark's noisy month were 3.3 days: a rule acted on now and
    then looked never acted on, and 5 to 7 actionable incidents lost their page on three seeds of four.
    On less than 7 days no rule is silenced or demoted; `for:` proposals, which keep every actionable
    incident, still come."""
    from medic.insights import MIN_DAYS, history_days  # noqa: PLC0415

    h = history(np.random.default_rng(4), 28)
    busy = sorted(h, key=lambda o: o.opened_at)[-500:]
    assert history_days(busy) < MIN_DAYS
    short = propose(effectiveness(busy), days=history_days(busy))
    assert short and {p.change for p in short} == {"raise_for"}
    week = [o for o in h if o.opened_at >= h[0].opened_at.replace(day=1)][:]
    full = propose(effectiveness(week), days=history_days(week))
    assert {"silence", "demote"} <= {p.change for p in full}


async def test_a_false_positive_mark_takes_credit_only_from_the_rules_it_names() -> None:
    """The Slack button marks the rules the incident had then; the cause's alert that joined later and
    was acknowledged and fixed by hand kept no credit (6 of 6 acted on, counted as never acted on)."""
    from medic.feedback import FalsePositive  # noqa: PLC0415
    from service.insights import render_insights  # noqa: PLC0415

    states = []
    for i in range(6):
        s = state(24 * i, "KubePodCrashLooping", 30, ack=True, by_hand=True)
        s.alerts["cause"] = s.alerts["fp"].model_copy(update={"fingerprint": "cause", "name": "PostgresDown"})
        s.false_positives.append(
            FalsePositive(at=s.opened_at, actor="slack:U9", rules=["KubePodCrashLooping"], incident_id=s.id)
        )
        states.append(s)
    got = await insights(ScriptedReader([*states, WEEK_LATER]))
    rules = {r.rule: r for r in got.rules}
    assert rules["PostgresDown"].actionable == 6 and rules["PostgresDown"].false_positives == 0
    assert rules["KubePodCrashLooping"].actionable == 0 and rules["KubePodCrashLooping"].false_positives == 6
    assert "PostgresDown" not in {p.rule for p in got.proposals}
    text = render_insights(got, top=1)
    assert "… and 2 more rules." in text


def fired(i: int, rule: str, firing: float, *, quiet: float = 5, ack: bool = False) -> IncidentState:
    """An incident whose alert fired ``firing`` minutes and that resolved ``quiet`` minutes after it
    ended (Medic's quiet period), acknowledged or not."""
    s = state(i, rule, firing + quiet, ack=ack)
    s.alerts["fp"].ends_at = s.alerts["fp"].starts_at + timedelta(minutes=firing)
    return s


async def test_a_for_proposal_is_made_from_how_long_the_alerts_fired_not_the_incidents() -> None:
    """Prometheus sends an alert once its `for:` has passed: the `for:` to add is how long the alerts
    fired. An incident lasts 5 minutes more (the quiet period); the proposal said "raise its `for:` to
    7 min" for alerts that fired 2, and the 10-minute "gone by themselves" count took alerts that
    fired 5 at most (a review, 2026-12-06)."""
    noise = [fired(i, "LatencyBlip", 1 + i % 2) for i in range(12)]  # fired 1-2 min, nobody acted
    real = [fired(20 + i, "LatencyBlip", 20, ack=True) for i in range(3)]
    kept = fired(30, "LatencyBlip", 7)  # fired 7 min, nobody acted: 12 min as an incident
    got = await insights(ScriptedReader([*noise, *real, kept, WEEK_LATER]))
    record = next(r for r in got.rules if r.rule == "LatencyBlip")
    assert record.longest_noise_seconds == 7 * 60 and record.shortest_actionable_seconds == 20 * 60
    assert record.auto_resolved_quickly == 13  # as incidents (6 to 12 minutes) 12 were
    assert record.median_auto_resolve_seconds == 120.0
    [proposal] = [p for p in got.proposals if p.rule == "LatencyBlip"]
    assert (proposal.change, proposal.for_seconds, proposal.team) == ("raise_for", 7 * 60, None)
    assert "its alerts nobody acted on fired 7 min at most, every actionable one at least 20 min" in (
        proposal.evidence
    )
    from service.insights import render_insights  # noqa: PLC0415

    assert "raise its `for:` by 7 min" in render_insights(got)


def test_an_alert_still_firing_when_resolved_by_hand_fired_until_then() -> None:
    s = state(0, "DiskFull", 30, by_hand=True)
    s.alerts["fp"].status = AlertStatus.FIRING
    s.alerts["fp"].ends_at = s.opened_at + timedelta(days=1)  # Prometheus's ValidUntil: no end
    outcome = s.outcome()
    assert outcome is not None and outcome.fired("DiskFull") == 30 * 60


async def test_published_outcomes_are_read_from_the_listing_and_old_runs_are_queried_a_share_a_pass() -> None:
    """A run that published its outcome is not queried (a query replays its history on a worker); runs
    resolved before outcomes were published are queried, at most QUERIED a pass, the newest first, the
    rest in later passes, each once."""
    from service.insights import QUERIED, OutcomeCache  # noqa: PLC0415

    states = [state(i, "DiskNoise", 30) for i in range(QUERIED + 300)] + [WEEK_LATER]

    class Counting(ScriptedReader):
        reads = 0

        async def run_state(self, incident_id: str, run_id: str) -> IncidentState:
            self.reads += 1
            return await super().run_state(incident_id, run_id)

    published = Counting(states)
    published.published = True
    got = await insights(published)
    assert (published.reads, got.incidents, got.unread) == (0, QUERIED + 301, 0)
    assert published.since is not None and published.since > datetime.now(UTC) - timedelta(days=29)

    old, cache = Counting(states), OutcomeCache()
    first = await insights(old, cache=cache)
    assert (old.reads, first.incidents, first.unread) == (QUERIED, QUERIED, 301)
    second = await insights(old, cache=cache)
    assert (old.reads, second.incidents, second.unread) == (QUERIED + 301, QUERIED + 301, 0)
    # the same figures either way
    assert second.rules == got.rules and second.proposals == got.proposals
    third = await insights(old, cache=cache)
    assert old.reads == QUERIED + 301 and third.rules == got.rules  # nothing read twice


def test_the_published_outcome_round_trips_as_the_memo_carries_it() -> None:
    """The memo holds the outcome as JSON without its defaults; read back, it is the same outcome. An
    incident of very many rules publishes none (its state is queried)."""
    import json  # noqa: PLC0415

    from workflows.publish import outcome_memo  # noqa: PLC0415

    s = state(3, "HighLatency", 12, ack=True)
    memo = outcome_memo(s)
    assert memo is not None and "paged" not in memo  # (a default)
    assert IncidentOutcome.model_validate(json.loads(json.dumps(memo))) == s.outcome()
    for k in range(600):
        s.alerts[f"fp{k}"] = s.alerts["fp"].model_copy(
            update={"fingerprint": f"fp{k}", "name": f"Rule{k:04d}"}
        )
    assert outcome_memo(s) is None
    merged = state(4, "HighLatency", 12)
    merged.merged_into = "incident-orders-db"
    assert outcome_memo(merged) is None


def test_a_missing_heartbeat_is_never_proposed_for_a_silence_or_a_demotion() -> None:
    """A Prometheus restarted every evening for 20 minutes, nobody acting: the heartbeat's outages look
    like noise, but its page is the pipeline's only alarm while it is down (medic.dead_man): no silence,
    no demotion, whoever opted in (its noise is mended by missing_after or the route)."""
    heartbeat = [inc("anomaly:medic-heartbeat", d, 35) for d in range(14)]
    flapping = [inc("anomaly:medic-heartbeat", d / 10, 2) for d in range(100)]
    noise = [inc("anomaly:grafana-ml", d, 35) for d in range(14)]  # another detector's: as before
    made = propose(effectiveness(heartbeat + flapping + noise), days=14)
    assert [p.rule for p in made] == ["anomaly:grafana-ml"]
