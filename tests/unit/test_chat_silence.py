"""Once Alertmanager holds a silence, nothing may fail: a person told "try again" would make a second."""

from datetime import UTC, datetime
from typing import Any, cast

from temporalio.client import Client

from medic.access import AccessPolicy
from medic.feedback import Matcher
from medic.ports import TransientError
from service.chat.authz import Authorizer
from service.chat.runner import ChatRunner, SlackUser
from service.control import Controls
from service.incidents import IncidentDetail, IncidentFilter, IncidentSummary, TemporalIncidentReader
from service.settings import Settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class OneSilence:
    def __init__(self) -> None:
        self.created: list[list[Matcher]] = []
        self.down: str | None = None  # what Alertmanager answers, when it is down

    async def create(
        self,
        matchers: list[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        if self.down is not None:
            raise TransientError(self.down)
        self.created.append(matchers)
        return f"sil-{len(self.created)}"

    def link(self, silence_id: str) -> str:
        return f"http://alertmanager/#/silences/{silence_id}"


CHECKOUT = IncidentSummary(
    id="incident-checkout",
    title="CheckoutSlow on checkout",
    status="open",
    priority="P2",
    impact=60.0,
    services=["checkout"],
    opened_at=NOW,
    alert_count=1,
)


class Reader:
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        return [CHECKOUT]


class _Handle:
    async def signal(self, *_: Any, **__: Any) -> None:
        raise RuntimeError("Failed client connect: transport error")


class TemporalDown:
    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle()


def _runner(reader: object, silences: OneSilence) -> ChatRunner:
    return ChatRunner(
        client=cast(Client, TemporalDown()),
        settings=Settings(_env_file=None),
        reader=cast(TemporalIncidentReader, reader),
        controls=cast(Controls, None),
        authorizer=Authorizer(AccessPolicy()),
        silences=silences,
        now=lambda: NOW,
    )


async def test_a_silence_made_while_temporal_is_down_is_reported_not_retried() -> None:
    silences = OneSilence()
    runner = _runner(Reader(), silences)
    reply = await runner.command("silence service=checkout 1h", user=SlackUser(id="U1", name="ana"))
    assert len(silences.created) == 1
    assert "sil-1" in reply.text and "Could not record it on `incident-checkout`" in reply.text


class SummaryOnly:
    """An incident whose history no longer replays: the reader has only visibility's summary."""

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        return IncidentDetail(
            **CHECKOUT.model_dump(),
            severity="critical",
            alerts=[],
            anomalies=[],
            timeline=[],
            partial="its history does not replay on the running workers ([TMPRL1100] Nondeterminism error)",
        )


async def test_commands_that_act_on_an_incident_known_only_by_its_summary_change_nothing() -> None:
    """approve/deny would say "nothing is waiting" and the Silence button "nothing is firing" about an
    incident whose remediations and alerts Medic cannot read; both are refused with the reason, and no
    silence is made. Reading it still works."""
    silences = OneSilence()
    runner = _runner(SummaryOnly(), silences)
    ana = SlackUser(id="U1", name="ana")
    for command in (
        "approve incident-checkout",
        "deny incident-checkout -- not now",
        "silence incident-checkout service=checkout 1h",
    ):
        reply = await runner.command(command, user=ana)
        assert "only the summary" in reply.text and "Nondeterminism" in reply.text, (command, reply.text)
    shown = await runner.command("show incident-checkout", user=ana)
    assert "CheckoutSlow on checkout" in shown.text and "Only its summary" in shown.text
    assert silences.created == []


async def test_a_tool_that_is_down_is_named() -> None:
    """Alertmanager down was said as "could not reach Temporal or a tool it needs"."""
    down = OneSilence()
    down.down = "Alertmanager answered 503"
    runner = _runner(Reader(), down)
    reply = await runner.command("silence service=checkout 1h", user=SlackUser(id="U1", name="ana"))
    assert reply.text == ":hourglass: Alertmanager answered 503; try again in a moment."
