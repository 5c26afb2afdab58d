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
