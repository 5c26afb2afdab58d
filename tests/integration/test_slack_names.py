"""People who act through Slack are named outside Slack, not shown by their Slack user id: a signed
`/medic ack`, a pressed **Mark false positive** and a `/medic resolve`, through the real API, dev server
and worker, end in a postmortem, a Jira comment and the postmortem attached to the issue that say
"Acknowledged by Bobby", where a postmortem walk-through read "Acknowledged by U0BOB". The name is the
person's display name from Slack (``users.info``); without the ``users:read`` scope, the username Slack
sends with the command."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.doubles import JIRA_API_TOKEN, JIRA_USER, SLACK_TOKEN, JiraDouble, SlackDouble, SlackMember
from tests.doubles.slack import DEFAULT_SCOPES
from tests.integration.test_slack import SlackClient, alert_payload, detail
from tests.support.slackreq import SIGNING_SECRET, command_body, signed_headers
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: all, jira: true}
"""
BOB, FRANK, ERIN = "U0BOB", "U0FRANK", "U0ERIN"
PEOPLE = [
    SlackMember(BOB, name="bob", real_name="Bob Smith", display_name="Bobby"),
    SlackMember(FRANK, name="frank", real_name="Frank Ocean"),  # no display name: the real name
    SlackMember(ERIN, name="erin", real_name="Erin Hale", display_name="Erin H"),
]


async def command(stack: MedicStack, slack: SlackDouble, text: str, *, user: str, user_name: str) -> str:
    """A signed `/medic` command whose form carries ``user_name``, as Slack's does; the reply's text."""
    rid = f"{user}-{len(slack.requests())}"
    body = command_body(text, user_id=user, response_url=slack.response_url(rid), user_name=user_name)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        answer = await http.post("/slack/commands", content=body, headers=signed_headers(body))
    assert answer.status_code == 200, answer.text
    reply: dict[str, Any] = answer.json()
    if "Working on it" in reply.get("text", ""):

        async def followed() -> bool:
            return bool(slack.responses(rid))

        await wait_until(followed, timeout=30, what="the follow-up")
        reply = slack.responses(rid)[0]
    return str(reply["text"])


async def resolved_everywhere(jira: JiraDouble, tmp: Path) -> tuple[str, list[str], str]:
    """The postmortem file, the Jira issue's comments and the postmortem attached to it, once the
    resolution reached both (Jira is told of a resolution by closing the issue and attaching it)."""
    path = tmp / "postmortems" / "incident-checkout" / "postmortem.md"

    async def written() -> bool:
        return path.exists() and bool(jira.issues("CHK")[0].attachments)

    await wait_until(written, timeout=60, what="the postmortem, in its file and on the Jira issue")
    (issue,) = jira.issues("CHK")
    return path.read_text(), [c.body for c in issue.comments], issue.attachments[0].data.decode()


def stack_for(slack_url: str, jira_url: str, tmp: Path) -> Any:
    return medic_stack(
        quiet_seconds=600.0,
        routing_yaml=ROUTING,
        slack_bot_token=SecretStr(SLACK_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_base_url=f"{slack_url}/api/",
        slack_response_url_prefixes=[slack_url],
        postmortem_dir=tmp / "postmortems",
        jira_url=jira_url,
        jira_user=JIRA_USER,
        jira_api_token=SecretStr(JIRA_API_TOKEN),
    )


def users_info_calls(slack: SlackDouble) -> int:
    return slack.count("/api/users.info")


async def test_people_acting_in_slack_are_named_in_the_postmortem_and_jira(tmp_path: Path) -> None:
    slack, jira = SlackDouble(users=PEOPLE), JiraDouble()
    with slack.serve() as slack_url, jira.serve() as jira_url:
        async with (
            stack_for(slack_url, jira_url, tmp_path) as stack,
            stack.http() as http,
        ):
            assert (await http.post("/webhooks/alertmanager", json=alert_payload())).status_code == 200

            async def filed() -> bool:
                return bool(jira.issues("CHK"))

            await wait_until(filed, timeout=60, what="the Jira issue")
            chat = SlackClient(stack, slack)
            acked = await command(stack, slack, "ack checkout", user=BOB, user_name="bob")
            assert (
                f"<@{BOB}> acknowledged" in acked
            )  # inside Slack: the mention, which Slack shows as the name
            fp = await chat.press("medic_false_positive", "incident-checkout", user=FRANK)
            assert "false positive" in fp["text"]
            done = await command(
                stack, slack, "resolve incident-checkout the cache is warm again", user=ERIN, user_name="erin"
            )
            assert f"<@{ERIN}> resolved" in done
            postmortem, comments, attached = await resolved_everywhere(jira, tmp_path)
            d = await detail(stack)
            asked = users_info_calls(slack)

    assert "**Final**: resolved at " in postmortem and " by Erin H: the cache is warm again." in postmortem
    assert "Acknowledged by Bobby " in postmortem  # the summary, and Detection's "by Bobby via slack"
    assert "by Bobby via slack" in postmortem
    assert "Marked a false positive by Frank Ocean." in postmortem
    assert "Frank Ocean marked CheckoutDown as a false positive" in postmortem
    assert "| Bobby |" in postmortem  # the timeline's and "What people did"'s actor column
    assert attached == postmortem
    for person in (BOB, FRANK, ERIN):
        assert person not in postmortem, person
        assert not [c for c in comments if person in c], comments
    assert "Acknowledged by Bobby (slack)." in comments
    # The API keeps the id as the actor (what comparisons use) and names the person beside it.
    (ack,) = [e for e in d["timeline"] if e["kind"] == "incident.acknowledged"]
    assert (ack["actor"], ack["actor_name"], ack["message"]) == (
        BOB,
        "Bobby",
        "Acknowledged by Bobby (slack).",
    )
    (mark,) = d["false_positives"]
    assert (mark["actor"], mark["actor_name"]) == (FRANK, "Frank Ocean")
    assert asked == 3  # each person once: Frank's name was not asked again for his second entry


async def test_without_users_read_the_username_slack_sends_names_them(tmp_path: Path) -> None:
    """No ``users:read`` scope: Slack answers ``missing_scope``; the command goes on, naming the person
    by the username its form carried, and Slack is not asked again for the next person."""
    scopes = tuple(s for s in DEFAULT_SCOPES if s != "users:read")
    slack, jira = SlackDouble(users=PEOPLE, scopes=scopes), JiraDouble()
    with slack.serve() as slack_url, jira.serve() as jira_url:
        async with (
            stack_for(slack_url, jira_url, tmp_path) as stack,
            stack.http() as http,
        ):
            assert (await http.post("/webhooks/alertmanager", json=alert_payload())).status_code == 200

            async def filed() -> bool:
                return bool(jira.issues("CHK"))

            await wait_until(filed, timeout=60, what="the Jira issue")
            acked = await command(stack, slack, "ack checkout", user=BOB, user_name="bob.smith")
            assert f"<@{BOB}> acknowledged" in acked
            await command(stack, slack, "resolve incident-checkout fixed", user=ERIN, user_name="erin.hale")
            postmortem, comments, attached = await resolved_everywhere(jira, tmp_path)
            asked = users_info_calls(slack)

    assert "Acknowledged by bob.smith " in postmortem and " by erin.hale: fixed." in postmortem
    assert BOB not in postmortem and ERIN not in postmortem
    assert "Acknowledged by bob.smith (slack)." in comments and attached == postmortem
    assert asked == 1, "asked once (missing_scope), not again for the next person"
