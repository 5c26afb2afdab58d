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


def test_matcher_errors_never_show_part_of_a_secret() -> None:
    """An error cuts the offending piece out of the command; a secret in it is redacted before the cut."""
    from medic.matchers import CommandError, parse_matchers  # noqa: PLC0415
    from medic.redact import register_secrets  # noqa: PLC0415

    secret = "s3cr3t-value-that-is-long-0123456789abcdef"
    register_secrets([secret])
    for text in (f'alertname="{secret}', f"alertname=x {secret}==y", f'job="{secret}" bad~~x'):
        try:
            parse_matchers(text)
        except CommandError as err:
            message = str(err)
        else:
            raise AssertionError(f"{text!r} parsed")
        for cut in range(12, len(secret) + 1, 6):
            assert secret[:cut] not in message, message
