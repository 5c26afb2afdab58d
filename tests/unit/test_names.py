"""People named beside their Slack ids: what an incident learns of their names, and the postmortem, its
chart and the API written with them (a walk-through read "Acknowledged by U0BOB", "Resolved by U0ERIN",
"Marked false positive by U0FRANK"). The ids stay the actors; an id no request named stays as it is."""

from datetime import UTC, datetime, timedelta

from medic.alerts import Alert, AlertStatus
from medic.chart import render_timeline_svg
from medic.feedback import FalsePositive, Matcher, SilenceRecord
from medic.incident import AlertBatch, IncidentState
from medic.names import MAX_NAMES, named_text
from medic.postmortem import render_postmortem
from medic.vocab import TimelineKind
from service.incidents import detail_from_view
from tests.support.shop import ctx
from workflows.incident import IncidentView

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BOB, FRANK, ERIN, GRACE, MALLORY = "U0BOB", "U0FRANK", "U0ERIN", "U0GRACE", "U0MALLORY"


def incident(*, named: bool) -> IncidentState:
    """checkout down; acknowledged, silenced, marked a false positive, refused and resolved from Slack."""
    state = IncidentState(id="incident-checkout", opened_at=T0)
    labels = {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"}
    down = Alert(
        fingerprint="fp-1", status=AlertStatus.FIRING, labels=labels, starts_at=T0, service="checkout"
    )
    state.apply_alerts(AlertBatch(alerts=[down], received_at=T0, contexts=[ctx("checkout")]), at=T0)
    name = (lambda n: n) if named else (lambda n: "")
    state.acknowledge(T0 + timedelta(minutes=2), actor=BOB, source="slack", name=name("Bob Smith"))
    state.add_silence(
        SilenceRecord(
            id="s-1",
            matchers=[Matcher(name="alertname", value="CheckoutDown")],
            starts_at=T0 + timedelta(minutes=3),
            ends_at=T0 + timedelta(hours=1),
            created_by=GRACE,
            created_by_name=name("Grace Hopper"),
        ),
        at=T0 + timedelta(minutes=3),
    )
    state.mark_false_positive(
        FalsePositive(
            at=T0 + timedelta(minutes=4),
            actor=FRANK,
            actor_name=name("Frank Ocean"),
            rules=["CheckoutDown"],
            incident_id=state.id,
        )
    )
    state.add_note(  # nobody named this one: its id stays
        T0 + timedelta(minutes=5),
        kind=TimelineKind.COMMAND_REFUSED,
        message=f"Refused resolve by {MALLORY}: may not.",
        actor=MALLORY,
        data={"via": "slack"},
    )
    state.resolve_by_hand(
        T0 + timedelta(minutes=9), actor=ERIN, source="slack", reason="the cache is warm", name=name("Erin H")
    )
    return state


def test_the_postmortem_and_its_chart_name_the_people_their_requests_named() -> None:
    state = incident(named=True)
    assert (state.acknowledged_by, state.resolved_by) == (BOB, ERIN)  # the ids: what Slack compares
    text = render_postmortem(state, now=T0 + timedelta(minutes=10))
    assert "resolved at 2026-11-23 12:09:00 UTC by Erin H: the cache is warm." in text
    assert "Acknowledged by Bob Smith 2m 00s after detection." in text
    assert "by Bob Smith via slack, 2m 00s after detection (MTTA)" in text
    assert "Marked a false positive by Frank Ocean." in text
    assert "Silence s-1 by Grace Hopper" in text
    assert "| Bob Smith | incident.acknowledged | Acknowledged by Bob Smith (slack). |" in text
    assert "Frank Ocean marked CheckoutDown as a false positive" in text
    for person in (BOB, FRANK, ERIN, GRACE):
        assert person not in text, person
    assert f"Refused resolve by {MALLORY}: may not." in text  # unknown: as it is
    svg = render_timeline_svg(state, now=T0 + timedelta(minutes=10))
    assert "Bob Smith" in svg and BOB not in svg


def test_without_names_the_postmortem_is_as_it_was() -> None:
    state = incident(named=False)
    assert state.names == {} and "names" not in state.model_dump_json()
    text = render_postmortem(state, now=T0 + timedelta(minutes=10))
    assert f"Acknowledged by {BOB} " in text and f"by {ERIN}: the cache is warm." in text


def test_the_api_keeps_the_id_as_actor_and_names_the_person_beside_it() -> None:
    state = incident(named=True)
    view = IncidentView(state=state, alerts_total=1, timeline_total=len(state.timeline))
    d = detail_from_view(view)
    (ack,) = [e for e in d.timeline if e.kind == TimelineKind.INCIDENT_ACKNOWLEDGED]
    assert (ack.actor, ack.actor_name, ack.message) == (
        BOB,
        "Bob Smith",
        "Acknowledged by Bob Smith (slack).",
    )
    (refused,) = [e for e in d.timeline if e.kind == TimelineKind.COMMAND_REFUSED]
    assert (refused.actor, refused.actor_name) == (MALLORY, None)
    assert (d.false_positives[0].actor, d.false_positives[0].actor_name) == (FRANK, "Frank Ocean")
    assert (d.silences[0].created_by, d.silences[0].created_by_name) == (GRACE, "Grace Hopper")
    assert state.timeline[-1].message == "Resolved by U0ERIN (slack): the cache is warm."  # kept as recorded


def test_only_slack_ids_are_named_cleanly_and_boundedly() -> None:
    state = IncidentState(id="incident-x", opened_at=T0)
    state.acknowledge(T0, actor="alice@example.com", source="pagerduty", name="Alice")  # not a Slack id
    state.learn_name(BOB, " Bob\n\tSmith\x07 ")
    state.learn_name(FRANK, FRANK)  # no name but the id
    state.learn_name(ERIN, "")
    assert state.names == {BOB: "Bob Smith"}
    for n in range(MAX_NAMES + 10):
        state.learn_name(f"U0P{n:04d}", f"Person {n}")
    assert len(state.names) == MAX_NAMES
    state.learn_name(BOB, "Bobby")  # a known one still changes
    assert state.names[BOB] == "Bobby"


def test_ids_are_named_as_words_of_their_own() -> None:
    names = {BOB: "Bob Smith", "U0BO": "Bo"}
    assert named_text(f"Refused ack by {BOB}: may not.", names) == "Refused ack by Bob Smith: may not."
    assert named_text(f"{BOB} and U0BOBBY and xU0BO", names) == "Bob Smith and U0BOBBY and xU0BO"
    assert named_text("U0BO, U0BOB", names) == "Bo, Bob Smith"
    assert named_text("nothing here", {}) == "nothing here"


def test_a_merged_incident_brings_its_peoples_names() -> None:
    symptom = incident(named=True)
    cause = IncidentState(id="incident-orders-db", opened_at=T0)
    cause.learn_name(ERIN, "Erin (cause)")
    cause.absorb(symptom, at=T0 + timedelta(minutes=10))
    assert cause.names[BOB] == "Bob Smith" and cause.names[ERIN] == "Erin (cause)"  # its own stands
