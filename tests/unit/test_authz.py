"""Slack user-group membership: asked of Slack for a minute at a time, and while Slack cannot be
asked, the last answer stands for ten minutes at most, never for ever."""

from medic.access import AccessPolicy
from service.chat.authz import Authorizer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_membership_outlives_a_slack_outage_by_ten_minutes_at_most() -> None:
    policy = AccessPolicy.model_validate({"ack": ["S0ONCALL"]})
    clock, slack_up, asked = Clock(), [True], []

    def members(group: str) -> list[str]:
        asked.append(group)
        if not slack_up[0]:
            raise ConnectionError("slack is down")
        return ["U1"]

    authz = Authorizer(policy, members=members, now=clock)
    assert await authz.groups_of("U1") == ["S0ONCALL"]
    clock.now = 30.0
    assert await authz.groups_of("U1") == ["S0ONCALL"] and len(asked) == 1  # cached for a minute
    slack_up[0] = False
    clock.now = 300.0
    assert await authz.groups_of("U1") == ["S0ONCALL"]  # Slack down: what it last said still holds
    clock.now = 601.0
    assert await authz.groups_of("U1") == []  # but not for ever


async def test_a_refusal_while_a_group_cannot_be_read_says_so() -> None:
    """A group Slack could not read refused its members with "may not" alone: they were told they are
    not on call, where Medic did not know (a walk-through's leftover, 2026-12-06)."""
    from typing import cast  # noqa: PLC0415

    from temporalio.client import Client  # noqa: PLC0415

    from service.chat.runner import ChatRunner, SlackUser  # noqa: PLC0415
    from service.control import Controls  # noqa: PLC0415
    from service.incidents import TemporalIncidentReader  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.unit.test_chat_silence import OneSilence, Reader  # noqa: PLC0415

    policy = AccessPolicy.model_validate({"silence": ["S0ONCALL"]})

    def members(group: str) -> list[str]:
        raise RuntimeError("missing_scope")

    authz = Authorizer(policy, members=members, now=Clock())
    runner = ChatRunner(
        client=cast(Client, None),
        settings=Settings(_env_file=None),
        reader=cast(TemporalIncidentReader, Reader()),
        controls=cast(Controls, None),
        authorizer=authz,
        silences=OneSilence(),
    )
    reply = await runner.command("silence service=checkout 1h", user=SlackUser(id="U1", name="ana"))
    assert "U1 may not silence: only members of Slack group S0ONCALL may." in reply.text
    assert "Medic could not read Slack group S0ONCALL (missing_scope) just now, so it does not" in reply.text
    assert authz.unread() == {"S0ONCALL": "missing_scope"}
