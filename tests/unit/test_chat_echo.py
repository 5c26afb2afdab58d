"""Issue 13: a reply that repeats what the person typed (a mistyped command, a help topic) passes it
through medic.redact first, so a secret pasted into a mistyped command does not come back in Slack."""

import pytest

from medic.redact import REDACTED, register_secrets
from service.chat.runner import ChatRunner, SlackUser

CONFIGURED = "s3cr3t-webhook-value-4242"  # a configured secret value
SLACK_TOKEN = "xoxb-123456789012-123456789012-abcdefghijABCDEFGHIJklmn"  # a credential shape


@pytest.mark.parametrize(
    "typed",
    [
        f"show checkout {SLACK_TOKEN}",  # more than an incident id: quoted back
        f"help {CONFIGURED}",  # a help topic, echoed
        f"silence alertname=x {CONFIGURED}",  # not a duration: quoted back
        f'silence alertname="{SLACK_TOKEN} 2h',  # an unclosed quote: quoted back
        f"list --service={CONFIGURED}",
    ],
)
async def test_an_echoed_error_is_redacted(typed: str) -> None:
    register_secrets([CONFIGURED])
    runner = ChatRunner(
        client=None,  # type: ignore[arg-type]  # a parse error needs nothing else
        settings=None,  # type: ignore[arg-type]
        reader=None,  # type: ignore[arg-type]
        controls=None,  # type: ignore[arg-type]
        authorizer=None,  # type: ignore[arg-type]
        silences=None,
    )
    reply = await runner.command(typed, user=SlackUser(id="U1"))
    assert CONFIGURED not in reply.text and SLACK_TOKEN not in reply.text, reply.text
    assert REDACTED in reply.text, reply.text  # it was echoed, redacted
