"""People of another organisation in a Slack Connect channel: "a verb left out is open to everyone in the
workspace" (docs/slack.md) was not enforced, and in a channel shared with another company its people
could press Acknowledge and Resolve, and Approve wherever the policy left it open (a security review,
2026-12-07; slackapi/java-slack-sdk#1041: an external clicker's ``user.team_id`` differs from
``team.id``). Slack's interaction payload reference: ``user.team_id`` is the person's organisation, an
Enterprise Grid's ``E…`` id for its members. They may only where listed by id."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import pytest

from medic.access import AccessPolicy
from service.chat.endpoint import SlackEndpoint
from service.chat.replies import Reply
from service.chat.runner import ChatRunner, SlackUser
from service.chat.verify import SlackVerifier
from tests.support.slackreq import SIGNING_SECRET

PAYLOAD = json.loads(
    (Path(__file__).parents[1] / "fixtures/slack/bolt_block_actions_payload.json").read_text()
)
POLICY = AccessPolicy.model_validate(
    {"groups": {"partners": ["W0PARTNER"]}, "resolve": ["*"], "approve": ["partners", "S0SRE"]}
)


@pytest.mark.parametrize("verb", ["ack", "resolve", "silence", "kill_switch"])
def test_another_organisations_person_may_not_where_the_policy_names_nobody_or_everyone(verb: str) -> None:
    decision = POLICY.check(verb, user="W0OUTSIDER", external=True)
    assert not decision.allowed, decision.reason
    assert verb == "resolve" or "another organisation (a Slack Connect channel)" in decision.reason
    assert POLICY.check(verb, user="W0OUTSIDER").allowed  # the workspace's own people: as before


def test_another_organisations_person_may_where_listed_by_id_not_by_slack_group() -> None:
    assert POLICY.check("approve", user="W0PARTNER", external=True, risk="high").allowed  # a named group
    assert not POLICY.check("approve", user="W0OTHER", user_groups=["S0SRE"], external=True).allowed
    assert POLICY.check("approve", user="W0OTHER", user_groups=["S0SRE"]).allowed


class Pressed:
    def __init__(self) -> None:
        self.users: list[SlackUser] = []

    async def command(self, text: str, *, user: SlackUser) -> Reply:
        return Reply(text="ran")

    async def press(self, action_id: str, value: str, *, user: SlackUser) -> Reply:
        self.users.append(user)
        return Reply(text="pressed")


@pytest.fixture
async def pressed() -> AsyncIterator[tuple[SlackEndpoint, Pressed]]:
    runner = Pressed()
    endpoint = SlackEndpoint(
        verifier=SlackVerifier(SIGNING_SECRET),
        runner=cast(ChatRunner, runner),
        inline_seconds=2.0,
        response_url_prefixes=["https://hooks.slack.com/"],
        http=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
    )
    yield endpoint, runner


@pytest.mark.parametrize(
    ("user_team", "external"),
    [
        ("T111", False),  # the reference payload as Slack sent it: the workspace's own person
        ("E111", False),  # a member of the workspace's Enterprise Grid
        ("T0OTHERCO", True),  # another company's person in a Slack Connect channel
        (None, False),  # not said: not known to be external
    ],
)
async def test_the_button_says_whose_organisation_the_person_is_of(
    pressed: tuple[SlackEndpoint, Pressed], user_team: str | None, external: bool
) -> None:
    endpoint, runner = pressed
    payload: dict[str, Any] = json.loads(json.dumps(PAYLOAD))
    payload["response_url"] = "https://hooks.slack.com/actions/T111/1/abc"
    payload["actions"] = [{"action_id": "ack", "value": "incident-checkout", "type": "button"}]
    if user_team is None:
        payload["user"].pop("team_id")
    else:
        payload["user"]["team_id"] = user_team
    body = urlencode({"payload": json.dumps(payload)}).encode()
    await endpoint.interaction(body)
    await endpoint.drain()
    [user] = runner.users
    assert user.id == "W111" and user.external is external
