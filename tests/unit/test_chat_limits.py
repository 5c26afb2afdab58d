"""What a person can type or click fits what Medic keeps: a deny reason the parser takes fits the
remediation's Decision (a 600-character reason answered "failed inside Medic"), and the Silence 1h
button works on labels too long for a matcher (a 1,000+ character label failed the same way)."""

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from temporalio.client import Client, WorkflowExecutionStatus

from medic.access import AccessPolicy
from medic.alerts import AlertStatus
from medic.commands import DECISION_REASON_MAX, Deny, parse_command
from medic.feedback import Matcher
from medic.incident import AlertRecord, RemediationTrack
from service.chat.authz import Authorizer
from service.chat.runner import ChatRunner, SlackUser
from service.control import Controls
from service.incidents import IncidentDetail, TemporalIncidentReader
from service.settings import Settings
from tests.unit.test_chat_silence import OneSilence
from workflows.remediation import AwaitingApproval, Decision, RemediationOutcome

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INCIDENT, REMEDIATION = "incident-checkout", "remediate-deployment-shop-checkout-1"
USER = SlackUser(id="U0SRE", name="sre")


def _max_length(model: Any, field: str) -> int:
    return next(int(m.max_length) for m in model.model_fields[field].metadata if hasattr(m, "max_length"))


def test_the_parsers_bound_is_the_decisions() -> None:
    assert _max_length(Deny, "reason") == DECISION_REASON_MAX == _max_length(Decision, "reason")


def _alert(**labels: str) -> AlertRecord:
    return AlertRecord(
        fingerprint=str(abs(hash(tuple(labels.items())))),
        name=labels.get("alertname", "CheckoutDown"),
        status=AlertStatus.FIRING,
        severity="critical",
        service="checkout",
        labels={"alertname": "CheckoutDown", "service": "checkout", **labels},
        starts_at=NOW,
        source="alertmanager",
        first_seen_at=NOW,
        last_seen_at=NOW,
    )


class Reader:
    def __init__(self, *alerts: AlertRecord) -> None:
        self.alerts = list(alerts)

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        return IncidentDetail(
            id=incident_id,
            title="CheckoutDown",
            status="open",
            priority="P1",
            impact=90,
            services=["checkout"],
            opened_at=NOW,
            alert_count=len(self.alerts),
            severity="critical",
            alerts=self.alerts,
            anomalies=[],
            remediations={REMEDIATION: RemediationTrack(runbook="restart", fingerprints=[])},
            timeline=[],
        )


class Handle:
    def __init__(self, client: "FakeClient") -> None:
        self._client = client

    async def describe(self) -> Any:
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)

    async def query(self, *_: Any, **__: Any) -> RemediationOutcome:
        return RemediationOutcome(
            remediation_id=REMEDIATION,
            outcome="awaiting_approval",
            incident_id=INCIDENT,
            awaiting=AwaitingApproval(step=0, risk="high", action="restart"),
        )

    async def signal(self, *args: Any, **__: Any) -> None:
        self._client.signals.append(args)


class FakeClient:
    def __init__(self) -> None:
        self.signals: list[Any] = []

    def get_workflow_handle(self, workflow_id: str) -> Handle:
        return Handle(self)


class DecidingControls:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    async def decide(self, remediation_id: str, decision: Decision) -> str:
        self.decisions.append(decision)
        return "denied"


def _runner(reader: Reader, *, controls: Any = None, silences: OneSilence | None = None) -> ChatRunner:
    return ChatRunner(
        client=cast(Client, FakeClient()),
        settings=Settings(_env_file=None),
        reader=cast(TemporalIncidentReader, reader),
        controls=cast(Controls, controls),
        authorizer=Authorizer(AccessPolicy()),
        silences=silences,
        now=lambda: NOW,
    )


async def test_a_deny_reason_the_parser_takes_reaches_the_remediation() -> None:
    controls = DecidingControls()
    runner = _runner(Reader(), controls=controls)
    longest = "r" * DECISION_REASON_MAX
    reply = await runner.command(f"deny checkout -- {longest}", user=USER)
    assert "denied" in reply.text and "inside Medic" not in reply.text, reply.text
    assert [d.reason for d in controls.decisions] == [longest]


async def test_a_longer_deny_reason_is_refused_with_the_limit() -> None:
    controls = DecidingControls()
    reply = await _runner(Reader(), controls=controls).command("deny checkout -- " + "r" * 600, user=USER)
    assert "600 characters" in reply.text and str(DECISION_REASON_MAX) in reply.text, reply.text
    assert "inside Medic" not in reply.text and controls.decisions == []
    assert parse_command("deny checkout -- " + "r" * DECISION_REASON_MAX)


def _as_re2(matcher: Matcher) -> re.Pattern[str]:
    """How Alertmanager reads a regex matcher (anchored; Python's re agrees with RE2 on these)."""
    return re.compile(f"^(?:{matcher.value})$")


async def test_silence_button_on_labels_too_long_for_a_matcher() -> None:
    long_value = "web.v2 (canary) [x] " * 80  # 1,600 characters, regex metacharacters included
    other = "y" * 1_500
    reader = Reader(
        _alert(pod="p1", detail=long_value, note=other), _alert(pod="p2", detail=long_value, note=other)
    )
    reader.alerts.append(_alert(alertname="CheckoutSlow", **{"n" * 300: "v", "pod": "p3"}))
    silences = OneSilence()
    reply = await _runner(reader, silences=silences).press("medic_silence", INCIDENT, user=USER)
    assert "silenced for 1h" in reply.text and "inside Medic" not in reply.text, reply.text
    down, slow = silences.created
    by_name = {m.name: m for m in down}
    assert set(by_name) == {"alertname", "service", "detail", "note"}  # pod differs, so it is left out
    for name, value in (("detail", long_value), ("note", other)):
        matcher = by_name[name]
        assert matcher.is_regex and len(matcher.value) <= 1000
        assert _as_re2(matcher).match(value), "the silence still matches the alert"
        assert not _as_re2(matcher).match("z" + value), "and only what starts like it"
    assert not _as_re2(by_name["detail"]).match(long_value.replace(".", "x", 1)), "escaped, not a wildcard"
    assert {m.name for m in slow} == {"alertname", "service", "pod"}  # a 300-character name is left out
    assert all(not m.is_regex for m in slow)


async def test_silence_button_keeps_exact_matchers_for_ordinary_labels() -> None:
    silences = OneSilence()
    reply = await _runner(Reader(_alert(pod="p1", ns="shop")), silences=silences).press(
        "medic_silence", INCIDENT, user=USER
    )
    assert "silenced for 1h" in reply.text
    (matchers,) = silences.created
    assert matchers == [
        Matcher(name="alertname", value="CheckoutDown"),
        Matcher(name="ns", value="shop"),
        Matcher(name="pod", value="p1"),
        Matcher(name="service", value="checkout"),
    ]
