"""Who a Slack user is by name (``users.info`` through the real slack-sdk client, against the Slack
double): the display name, else the real name; asked once an hour per person, at most a bounded number
of people held; without the ``users:read`` scope, on an error or past the timeout, the name the request
carried, and the command never fails for it."""

import threading
from collections.abc import Iterator

import pytest

from activities.adapters.slack import SlackChat
from medic.ports import PermanentError
from service.chat.names import SlackNames
from tests.doubles import SLACK_TOKEN, SlackDouble, SlackMember
from tests.doubles.slack import DEFAULT_SCOPES

PEOPLE = [
    SlackMember("U0BOB", name="bob", real_name="Bob Smith", display_name="Bobby"),
    SlackMember("U0FRANK", name="frank", real_name="Frank Ocean"),  # no display name set
    SlackMember("U0NONE", name="none"),  # neither
]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Iterator[tuple[SlackDouble, SlackChat]]:
    double = SlackDouble(users=PEOPLE)
    with double.serve() as url:
        yield double, SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", rate_limit_retries=0)


def asked(double: SlackDouble) -> int:
    return double.count("/api/users.info")


def test_the_display_name_else_the_real_name_else_none(slack: tuple[SlackDouble, SlackChat]) -> None:
    _, chat = slack
    assert chat.display_name("U0BOB") == "Bobby"
    assert chat.display_name("U0FRANK") == "Frank Ocean"
    assert chat.display_name("U0NONE") == ""
    assert chat.display_name("U0NOBODY") == ""  # user_not_found: nobody to name, not an error


def test_without_users_read_slack_refuses_with_missing_scope() -> None:
    double = SlackDouble(users=PEOPLE, scopes=[s for s in DEFAULT_SCOPES if s != "users:read"])
    with double.serve() as url:
        chat = SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", rate_limit_retries=0)
        with pytest.raises(PermanentError, match="missing_scope"):
            chat.display_name("U0BOB")


async def test_names_are_asked_once_an_hour_per_person(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    clock = Clock()
    names = SlackNames(chat.display_name, now=clock)
    assert await names.name("U0BOB", fallback="bob") == "Bobby"
    clock.now = 3500.0
    assert await names.name("U0BOB", fallback="bob") == "Bobby" and asked(double) == 1  # held
    assert await names.name("U0NOBODY", fallback="ghost") == "ghost"  # Slack knows nobody: the request's
    assert await names.name("U0NOBODY", fallback="ghost") == "ghost" and asked(double) == 2
    double.users["U0BOB"].display_name = "Bob (on call)"
    clock.now = 3601.0
    assert await names.name("U0BOB", fallback="bob") == "Bob (on call)" and asked(double) == 3  # an hour on


async def test_the_names_held_are_bounded(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    names = SlackNames(chat.display_name, max_users=2, now=Clock())
    for user in ("U0BOB", "U0FRANK", "U0NONE"):
        await names.name(user)
    assert asked(double) == 3
    assert await names.name("U0NONE") == "" and await names.name("U0FRANK") == "Frank Ocean"
    assert asked(double) == 3  # the two latest are held
    assert await names.name("U0BOB") == "Bobby" and asked(double) == 4  # the first made room for them


async def test_without_the_scope_the_requests_own_name_and_slack_is_not_asked_again() -> None:
    double = SlackDouble(users=PEOPLE, scopes=[s for s in DEFAULT_SCOPES if s != "users:read"])
    with double.serve() as url:
        chat = SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", rate_limit_retries=0)
        clock = Clock()
        names = SlackNames(chat.display_name, now=clock)
        assert await names.name("U0BOB", fallback="bob.smith") == "bob.smith"
        assert await names.name("U0FRANK", fallback="frank") == "frank"
        assert await names.name("U0NONE") == ""  # no name at all: none (the id stays the actor)
        assert asked(double) == 1  # refused once: not asked again for an hour
        clock.now = 3601.0
        await names.name("U0BOB", fallback="bob.smith")
        assert asked(double) == 2  # the scope may have been added since


async def test_an_error_or_a_slow_slack_never_holds_the_command(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    double.faults.push("server_error", status=500, route="/api/users.info")
    clock = Clock()
    names = SlackNames(chat.display_name, now=clock)
    assert await names.name("U0BOB", fallback="bob") == "bob"
    assert await names.name("U0BOB", fallback="bob") == "bob" and asked(double) == 1  # not again at once
    clock.now = 301.0
    assert await names.name("U0BOB", fallback="bob") == "Bobby"  # five minutes on, asked again

    release = threading.Event()

    def stuck(user_id: str) -> str:
        release.wait(timeout=30)
        return "too late"

    try:
        slow = SlackNames(stuck, timeout=0.05, now=Clock())
        assert await slow.name("U0BOB", fallback="bob") == "bob"
    finally:
        release.set()


async def test_without_a_token_the_requests_own_name(slack: tuple[SlackDouble, SlackChat]) -> None:
    names = SlackNames(None)
    assert await names.name("U0BOB", fallback=" bob\n") == "bob"
