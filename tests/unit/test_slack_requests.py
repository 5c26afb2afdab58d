"""Hostile requests to the Slack routes through the real app: whatever cannot be verified is a 401,
however malformed; whatever is signed but unusable is a 400 saying why; a follow-up only ever goes to
a configured Slack host. The runner is a recording fake: these tests are about the edge."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.chat.endpoint import ResponseUrlPrefix, SlackEndpoint, SlackPayloadError, checked_response_url
from service.chat.replies import Reply
from service.chat.runner import ChatRunner, SlackUser
from service.chat.verify import SlackVerifier
from service.settings import Settings
from tests.support.slackreq import SIGNING_SECRET, command_body, signed_headers
from tests.unit.test_api import TOKEN, FakeReader, FakeSink

HOOK = "https://hooks.slack.com/commands/T0MEDIC/1/abc"


class RecordingRunner:
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []
        self.presses: list[tuple[str, str, str]] = []

    async def command(self, text: str, *, user: SlackUser) -> Reply:
        self.commands.append((text, user.id))
        return Reply(text=f"ran {text}")

    async def press(self, action_id: str, value: str, *, user: SlackUser) -> Reply:
        self.presses.append((action_id, value, user.id))
        return Reply(text="pressed")


class Follow:
    """Where follow-ups went (an httpx transport: nothing leaves the process)."""

    def __init__(self) -> None:
        self.urls: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return httpx.Response(200, text="ok")


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def follow() -> Follow:
    return Follow()


@pytest.fixture
async def slack(
    runner: RecordingRunner, follow: Follow
) -> AsyncIterator[tuple[httpx.AsyncClient, SlackEndpoint]]:
    settings = Settings(
        _env_file=None, webhook_token=SecretStr(TOKEN), slack_signing_secret=SecretStr(SIGNING_SECRET)
    )
    endpoint = SlackEndpoint(
        verifier=SlackVerifier(SIGNING_SECRET),
        runner=cast(ChatRunner, runner),
        inline_seconds=2.0,
        response_url_prefixes=settings.slack_response_url_prefixes,
        http=httpx.AsyncClient(transport=httpx.MockTransport(follow)),
    )

    async def ready() -> bool:
        return True

    app = create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        slack_endpoint=endpoint,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as client:
        yield client, endpoint


GOOD = command_body("list", user_id="U0ONCALL", response_url=HOOK)


@pytest.mark.parametrize("route", ["/slack/commands", "/slack/interactions"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Slack-Request-Timestamp": "²³".encode("latin-1")}, id="latin1-superscript-digits"),
        pytest.param({"X-Slack-Request-Timestamp": "²³".encode()}, id="utf8-superscript-digits"),
        pytest.param({"X-Slack-Request-Timestamp": "9" * 400}, id="400-digits"),
        pytest.param({"X-Slack-Request-Timestamp": "-1"}, id="negative"),
        pytest.param({"X-Slack-Request-Timestamp": ""}, id="empty"),
        pytest.param({"X-Slack-Signature": ("v0=" + "é" * 64).encode("latin-1")}, id="non-ascii-signature"),
        pytest.param({"X-Slack-Signature": b"v0=\xff\xfe"}, id="binary-signature"),
        pytest.param({"X-Slack-Signature": "garbled"}, id="garbled-signature"),
        pytest.param({"X-Slack-Signature": ""}, id="no-signature"),
    ],
)
async def test_what_cannot_be_verified_is_401(
    slack: tuple[httpx.AsyncClient, SlackEndpoint],
    runner: RecordingRunner,
    route: str,
    headers: dict[str, str | bytes],
) -> None:
    client, _ = slack
    merged = {**signed_headers(GOOD), **headers}
    raw = [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in merged.items()]
    answer = await client.post(route, content=GOOD, headers=raw)
    assert answer.status_code == 401, answer.text
    assert "not a valid Slack request" in answer.json()["detail"]
    assert runner.commands == [] and runner.presses == []


@pytest.mark.parametrize("route", ["/slack/commands", "/slack/interactions"])
async def test_unsigned_or_non_utf8_bodies_are_401(
    slack: tuple[httpx.AsyncClient, SlackEndpoint], route: str
) -> None:
    client, _ = slack
    not_utf8 = b"payload=\xff\xfe\xfd&user_id=\xc3"
    assert (await client.post(route, content=not_utf8, headers=signed_headers(GOOD))).status_code == 401
    no_headers = await client.post(route, content=not_utf8)
    assert no_headers.status_code == 401


def _interaction(payload: Any) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


_BASE: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "U0ONCALL", "username": "oncall"},
    "response_url": HOOK,
    "actions": [{"action_id": "medic_ack", "value": "incident-x", "type": "button"}],
}


@pytest.mark.parametrize(
    ("route", "body", "says"),
    [
        ("/slack/commands", b"text=list&user_id=U0\xff", "not UTF-8"),
        ("/slack/interactions", b"payload=%7B%22a%22%3A%20%22\xff%22%7D", "not UTF-8"),
        ("/slack/commands", urlencode({"text": "list"}).encode(), "user_id"),
        ("/slack/commands", urlencode({"text": "list", "user_id": "U1<!channel>"}).encode(), "user_id"),
        ("/slack/commands", urlencode({"text": "x" * 40_001, "user_id": "U0ONCALL"}).encode(), "text"),
        ("/slack/interactions", b"", "no payload"),
        ("/slack/interactions", _interaction("{not json"), "not JSON"),
        ("/slack/interactions", _interaction("[" * 5000 + "]" * 5000), "deeper than 64"),
        ("/slack/interactions", _interaction({**_BASE, "deep": json.loads("[" * 100 + "]" * 100)}), "64"),
        ("/slack/interactions", _interaction([_BASE]), "not a JSON object"),
        ("/slack/interactions", _interaction({**_BASE, "user": None}), "user"),
        ("/slack/interactions", _interaction({**_BASE, "user": {"id": ["U1"]}}), "user.id"),
        ("/slack/interactions", _interaction({**_BASE, "actions": {"a": 1}}), "actions"),
        ("/slack/interactions", _interaction({**_BASE, "actions": ["medic_ack"]}), "actions.0"),
        (
            "/slack/interactions",
            _interaction({**_BASE, "actions": [{"action_id": "medic_ack", "value": "v" * 2001}]}),
            "value",
        ),
        ("/slack/interactions", _interaction({**_BASE, "actions": [_BASE["actions"][0]] * 6}), "actions"),
        ("/slack/interactions", _interaction({**_BASE, "response_url": 5}), "response_url"),
    ],
)
async def test_signed_but_unusable_is_400_saying_why(
    slack: tuple[httpx.AsyncClient, SlackEndpoint],
    runner: RecordingRunner,
    route: str,
    body: bytes,
    says: str,
) -> None:
    client, _ = slack
    answer = await client.post(route, content=body, headers=signed_headers(body))
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"], answer.json()
    assert runner.commands == [] and runner.presses == []


async def test_a_command_too_long_is_answered_to_the_person_saying_why(
    slack: tuple[httpx.AsyncClient, SlackEndpoint], runner: RecordingRunner
) -> None:
    """A 400 made Slack say only "failed with the error http_client_error" (a walk-through's leftover)."""
    client, _ = slack
    text = "silence checkout 1h -- " + "a long comment " * 300
    body = urlencode({"text": text, "user_id": "U0ONCALL"}).encode()
    answer = await client.post("/slack/commands", content=body, headers=signed_headers(body))
    assert answer.status_code == 200
    said = answer.json()
    assert said["response_type"] == "ephemeral"
    assert said["text"].startswith(f"That command is {len(text):,} characters long; Medic reads commands of")
    assert runner.commands == []


async def test_signed_and_usable_is_taken(
    slack: tuple[httpx.AsyncClient, SlackEndpoint], runner: RecordingRunner, follow: Follow
) -> None:
    client, endpoint = slack
    answer = await client.post("/slack/commands", content=GOOD, headers=signed_headers(GOOD))
    assert answer.status_code == 200 and answer.json()["text"] == "ran list"
    body = _interaction(_BASE)
    assert (
        await client.post("/slack/interactions", content=body, headers=signed_headers(body))
    ).status_code == 200
    other = _interaction({**_BASE, "type": "view_submission", "user": "anything"})
    assert (
        await client.post("/slack/interactions", content=other, headers=signed_headers(other))
    ).status_code == 200
    await endpoint.drain()
    assert runner.commands == [("list", "U0ONCALL")]
    assert runner.presses == [("medic_ack", "incident-x", "U0ONCALL")]
    assert [str(u) for u in follow.urls] == [HOOK]


HOSTILE_URLS = [
    "https://hooks.slack.com@evil.example/commands/1",
    "https://hooks.slack.com:@evil.example/commands/1",
    "https://hooks.slack.com\\@evil.example/commands/1",
    "https://hooks.slack.com%2f@evil.example/",
    "https://hooks.slack.com.evil.example/commands/1",
    "https://hooks.slack.com。evil.example/commands/1",
    "https://evil.example/https://hooks.slack.com/",
    "https://evil.example/?https://hooks.slack.com/",
    "http://hooks.slack.com/commands/1",
    "https://hooks.slack.com:8443/commands/1",
    "https://user:pw@hooks.slack.com/commands/1",
    "//hooks.slack.com/commands/1",
    "/commands/1",
    "hooks.slack.com/commands/1",
    "javascript:alert(1)//hooks.slack.com/",
    "https://hooks.slack.co/commands/1",
    "https://xhooks.slack.com/commands/1",
    "https://169.254.169.254/latest",
    "https://hooks.slack.com/\r\nHost: evil.example",
    "https://" + "h" * 3000 + ".example/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_follow_ups_never_leave_slacks_host(
    slack: tuple[httpx.AsyncClient, SlackEndpoint], runner: RecordingRunner, follow: Follow, url: str
) -> None:
    client, endpoint = slack
    for body in (
        command_body("list", user_id="U0ONCALL", response_url=url),
        _interaction({**_BASE, "response_url": url}),
    ):
        route = "/slack/commands" if body.startswith(b"token") else "/slack/interactions"
        answer = await client.post(route, content=body, headers=signed_headers(body))
        assert answer.status_code == 400, (url, answer.text)
        assert "response_url" in answer.json()["detail"]
    await endpoint.drain()
    assert follow.urls == [] and runner.commands == [] and runner.presses == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/commands/T0/1/abc",
        "https://HOOKS.SLACK.COM/actions/T0/1/abc",
        "https://hooks.slack.com:443/actions/T0/1/abc",
    ],
)
def test_slacks_own_response_urls_are_admitted(url: str) -> None:
    admitted = checked_response_url(url, [ResponseUrlPrefix.parse("https://hooks.slack.com/")])
    assert admitted is not None and admitted.host == "hooks.slack.com"


def test_a_prefix_without_its_final_slash_still_fixes_host_and_port() -> None:
    """The integration tests configure ``http://127.0.0.1:PORT``: a text prefix let :PORT0 through."""
    prefixes = [ResponseUrlPrefix.parse("http://127.0.0.1:8123")]
    assert checked_response_url("http://127.0.0.1:8123/response/1", prefixes) is not None
    for url in (
        "http://127.0.0.1:81234/response/1",
        "http://127.0.0.1:8123@evil.example/",
        "https://127.0.0.1:8123/",
    ):
        with pytest.raises(SlackPayloadError):
            checked_response_url(url, prefixes)
    paths = [ResponseUrlPrefix.parse("https://hooks.slack.com/commands")]
    assert checked_response_url("https://hooks.slack.com/commands/1", paths) is not None
    with pytest.raises(SlackPayloadError):
        checked_response_url("https://hooks.slack.com/commandsX/1", paths)


@pytest.mark.parametrize(
    "prefix",
    [
        "http://hooks.slack.com/",  # https only, but on a loopback host
        "https://user@hooks.slack.com/",
        "https://hooks.slack.com/?x=1",
        "hooks.slack.com",
        "ftp://hooks.slack.com/",
        "https:///path",
    ],
)
def test_bad_prefixes_are_refused_at_start(prefix: str) -> None:
    with pytest.raises(ValueError, match="response URL prefix"):
        ResponseUrlPrefix.parse(prefix)


async def test_a_command_no_worker_answers_says_so_then_answers_when_it_can() -> None:
    """The workers down: `/medic ack` was "Working on it..." and then nothing, for as long as it took
    (a field walk-through waited 100 s). It now says it is still waiting, and answers when it can."""
    release = asyncio.Event()

    class Stalled(RecordingRunner):
        async def command(self, text: str, *, user: SlackUser) -> Reply:
            await release.wait()  # no worker takes the update
            return Reply(text="acknowledged at last")

    posted: list[str] = []

    def hook(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content)["text"])
        return httpx.Response(200, text="ok")

    endpoint = SlackEndpoint(
        verifier=SlackVerifier(SIGNING_SECRET),
        runner=cast(ChatRunner, Stalled()),
        inline_seconds=0.05,
        still_waiting_seconds=0.1,
        response_url_prefixes=["https://hooks.slack.com/"],
        http=httpx.AsyncClient(transport=httpx.MockTransport(hook)),
    )
    first = await endpoint.command(command_body("ack checkout", user_id="U0ONCALL", response_url=HOOK))
    assert "Working on it" in first["text"]
    for _ in range(100):
        if posted:
            break
        await asyncio.sleep(0.02)
    assert len(posted) == 1 and posted[0].startswith(":hourglass_flowing_sand: Still waiting for an answer")
    release.set()
    await endpoint.drain()
    assert posted[1:] == ["acknowledged at last"]
