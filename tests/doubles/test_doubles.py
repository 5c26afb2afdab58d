"""The doubles, driven through the real SDKs (slack_sdk, pdpyras, jira) over loopback HTTP.

Besides checking the doubles, these pin down what each SDK does against a misbehaving API:

* slack_sdk ``WebClient``: ok:false comes back as HTTP 200 and raises ``SlackApiError``; any non-200
  raises it too. By default only connection errors are retried (``ConnectionErrorRetryHandler``);
  ``RateLimitErrorRetryHandler`` retries a 429 after ``int(Retry-After) + random()`` seconds,
  ``ServerErrorRetryHandler`` retries 500 and 503 only (not 502/504). A read timeout is not retried.
* pdpyras ``EventsAPISession``: retries a 429 without limit, ignoring ``Retry-After``, sleeping
  ``sleep_timer * 2**n`` (1.5 s, 3 s, ... by default); retries 500 twice, 502 four times, 503/504 six
  times, then raises; a 400 is final; a timeout is retried three times, then ``PDClientError``.
* jira ``JIRA``/``ResilientSession``: retries 429 and 503 only, up to ``max_retries`` (3) times,
  sleeping ``2 * max(Retry-After, 1) * U(0.5, 1)`` seconds, so at least 1 s; 500/502 are final.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jira
import pdpyras
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.doubles import (
    JIRA_API_TOKEN,
    JIRA_USER,
    PAGERDUTY_ROUTING_KEY,
    SLACK_TOKEN,
    JiraDouble,
    JqlError,
    PagerDutyDouble,
    SlackDouble,
    SlackMember,
    serve_in_thread,
)
from tests.doubles.jira_workflows import CLASSIC, CLASSIC_RESOLUTIONS

# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    double = SlackDouble()
    with double.serve():
        yield double


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyDouble]:
    double = PagerDutyDouble()
    with double.serve():
        yield double


@pytest.fixture
def jira_double() -> Iterator[JiraDouble]:
    double = JiraDouble(components={"OPS": ["checkout", "payments"]})
    with double.serve():
        yield double


def slack_client(double: SlackDouble, **kwargs: Any) -> WebClient:
    return WebClient(token=SLACK_TOKEN, base_url=f"{double.url}/api/", **kwargs)


def events_session(double: PagerDutyDouble, routing_key: str = PAGERDUTY_ROUTING_KEY) -> Any:
    session = pdpyras.EventsAPISession(routing_key)
    session.url = double.url  # pdpyras posts to f"{session.url}/v2/enqueue"
    session.sleep_timer = 0.01  # back-off base; 1.5 s by default
    return session


def jira_client(double: JiraDouble, **kwargs: Any) -> Any:
    return jira.JIRA(server=double.url, basic_auth=(JIRA_USER, JIRA_API_TOKEN), **kwargs)


def error_body(err: jira.JIRAError) -> Any:
    assert err.response is not None
    return err.response.json()


# -- the shared plumbing -------------------------------------------------------------------------------


def test_serve_in_thread_starts_and_stops_cleanly() -> None:
    double = PagerDutyDouble()
    with serve_in_thread(double.app) as url:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.post(f"{url}/v2/enqueue", content=b"not json").status_code == 400
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_faults_are_validated_scoped_to_routes_and_logged(slack: SlackDouble) -> None:
    with pytest.raises(ValueError):
        slack.faults.push("server_error", status=404)
    with pytest.raises(ValueError):
        slack.faults.push("http_error", status=503)
    slack.faults.push(
        "http_error", status=403, body={"ok": False, "error": "forbidden"}, route="/api/chat.update"
    )
    headers = {"Authorization": f"Bearer {SLACK_TOKEN}"}
    passed = httpx.post(f"{slack.url}/api/auth.test", headers=headers)
    assert passed.json()["ok"] is True  # not the route the fault is for
    blocked = httpx.post(f"{slack.url}/api/chat.update", headers=headers, json={})
    assert (blocked.status_code, blocked.json()) == (403, {"ok": False, "error": "forbidden"})
    assert slack.faults.pending() == 0
    assert [r.fault for r in slack.requests()] == [None, "http_error"]
    assert slack.counts() == {"POST /api/auth.test": 1, "POST /api/chat.update": 1}
    assert "POST /api/chat.postMessage" in slack.routes()


# -- Slack -----------------------------------------------------------------------------------------------


def test_slack_post_reply_update_ephemeral_through_web_client(slack: SlackDouble) -> None:
    client = slack_client(slack)
    assert client.auth_test()["user_id"] == slack.bot_user_id
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*checkout* is failing"}}]

    posted = client.chat_postMessage(channel="#checkout-oncall", text="Incident opened", blocks=blocks)
    assert (posted["channel"], posted["ts"]) == ("C0CHECKOUT", "1700000000.000100")
    assert posted["message"]["blocks"] == blocks
    reply = client.chat_postMessage(channel="C0CHECKOUT", thread_ts=posted["ts"], text="Rolled back")
    assert reply["message"]["thread_ts"] == posted["ts"]
    assert float(reply["ts"]) > float(posted["ts"])
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="Incident resolved")
    assert updated["ts"] == posted["ts"]
    assert updated["message"]["blocks"] == blocks  # omitted blocks are kept
    ephemeral = client.chat_postEphemeral(channel="checkout-oncall", user="U0ONCALL1", text="only you")
    info = client.conversations_info(channel="C0CHECKOUT")

    assert info["channel"]["name"] == "checkout-oncall"
    parent = slack.message("#checkout-oncall", posted["ts"])
    assert parent.text == "Incident resolved"
    assert [e.text for e in parent.edits] == ["Incident opened"]
    assert parent.replies == [reply["ts"]]
    assert [m.text for m in slack.thread("C0CHECKOUT", posted["ts"])] == ["Rolled back"]
    assert [m.ts for m in slack.messages("C0CHECKOUT")] == [posted["ts"], reply["ts"]]
    assert slack.ephemerals("C0CHECKOUT")[0].message_ts == ephemeral["message_ts"]
    assert slack.count("POST /api/chat.postMessage") == 2
    # chat.* go as JSON, conversations.info as a form: the double takes both
    assert slack.requests("/api/chat.update")[0].headers["content-type"].startswith("application/json")
    form = slack.requests("/api/conversations.info")[0]
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form.body == b"channel=C0CHECKOUT"


async def test_slack_async_web_client_works_too(slack: SlackDouble) -> None:
    client = AsyncWebClient(token=SLACK_TOKEN, base_url=f"{slack.url}/api/")
    posted = await client.chat_postMessage(channel="#payments-oncall", text="via aiohttp")
    updated = await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="edited")
    info = await client.conversations_info(channel=posted["channel"])
    assert (updated["ts"], info["channel"]["id"]) == (posted["ts"], "C0PAYMENTS")
    assert slack.message("C0PAYMENTS", posted["ts"]).text == "edited"


def test_slack_accepts_form_encoded_arguments_and_a_form_token(slack: SlackDouble) -> None:
    client = WebClient(token=None, base_url=f"{slack.url}/api/")
    blocks = [{"type": "divider"}]
    response = client.api_call(
        "chat.postMessage",
        data={"token": SLACK_TOKEN, "channel": "#incidents", "text": "t", "blocks": json.dumps(blocks)},
    )
    assert response["channel"] == "C0INCIDENTS"
    assert slack.messages("#incidents")[0].blocks == blocks
    assert "authorization" not in slack.requests()[0].headers


def test_slack_users_info_answers_as_slacks_reference() -> None:
    """users.info (scope users:read): the user object with its profile; user_not_found for an id Slack
    does not know; missing_scope, with what is needed and what the token has, without the scope."""
    bob = SlackMember("U0BOB", name="bob", real_name="Bob Smith", display_name="Bobby")
    double = SlackDouble(users=[bob])
    with double.serve():
        user = slack_client(double).users_info(user="U0BOB")["user"]
        assert (user["id"], user["name"], user["real_name"]) == ("U0BOB", "bob", "Bob Smith")
        assert (user["profile"]["display_name"], user["profile"]["real_name"]) == ("Bobby", "Bob Smith")
        assert "email" not in user["profile"]  # users:read.email's
        with pytest.raises(SlackApiError) as missing:
            slack_client(double).users_info(user="U0NOBODY")
        assert missing.value.response.data == {"ok": False, "error": "user_not_found"}
    narrow = SlackDouble(users=[bob], scopes=("chat:write", "commands"))
    with narrow.serve():
        with pytest.raises(SlackApiError) as refused:
            slack_client(narrow).users_info(user="U0BOB")
        assert refused.value.response.data == {
            "ok": False,
            "error": "missing_scope",
            "needed": "users:read",
            "provided": "chat:write,commands",
        }


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.chat_postMessage(channel="#nowhere", text="x"), "channel_not_found"),
        (lambda c: c.chat_postMessage(channel="#incidents"), "no_text"),
        (lambda c: c.chat_postMessage(channel="#incidents", text="x" * 40_001), "msg_too_long"),
        (
            lambda c: c.chat_postMessage(channel="#incidents", text="x", thread_ts="1.000001"),
            "thread_not_found",
        ),
        (
            lambda c: c.chat_update(channel="#incidents", ts="1700000000.000100", text="x"),
            "channel_not_found",
        ),
        (
            lambda c: c.chat_update(channel="C0INCIDENTS", ts="1700000000.000100", text="x"),
            "message_not_found",
        ),
        (lambda c: c.chat_postEphemeral(channel="C0INCIDENTS", user="", text="x"), "user_not_in_channel"),
        (lambda c: c.conversations_info(channel="#incidents"), "channel_not_found"),
        (lambda c: c.api_call("chat.nosuchMethod"), "unknown_method"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_slack_errors_are_http_200_with_ok_false(slack: SlackDouble, call: Any, error: str) -> None:
    with pytest.raises(SlackApiError) as raised:
        call(slack_client(slack))
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_slack_bad_token_is_invalid_auth_and_none_is_not_authed(slack: SlackDouble) -> None:
    bad = WebClient(token="xoxb-not-a-real-token", base_url=f"{slack.url}/api/")
    with pytest.raises(SlackApiError) as raised:
        bad.chat_postMessage(channel="#incidents", text="x")
    assert (raised.value.response.status_code, raised.value.response["error"]) == (200, "invalid_auth")
    with pytest.raises(SlackApiError) as raised:
        WebClient(base_url=f"{slack.url}/api/").auth_test()
    assert raised.value.response["error"] == "not_authed"


def test_slack_archived_channel(slack: SlackDouble) -> None:
    slack.archive("#incidents")
    with pytest.raises(SlackApiError) as raised:
        slack_client(slack).chat_postMessage(channel="#incidents", text="x")
    assert raised.value.response["error"] == "is_archived"


def test_slack_429_is_retried_by_the_rate_limit_handler(slack: SlackDouble) -> None:
    slack.faults.push("rate_limit", retry_after=0)
    client = slack_client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    posted = client.chat_postMessage(channel="#incidents", text="after a 429")
    assert posted["ok"] is True
    assert [r.fault for r in slack.requests("/api/chat.postMessage")] == ["rate_limit", None]
    assert len(slack.messages("#incidents")) == 1


def test_slack_429_without_a_retry_handler_raises_with_retry_after(slack: SlackDouble) -> None:
    slack.faults.push("rate_limit", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        slack_client(slack).chat_postMessage(channel="#incidents", text="x")
    response = raised.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert slack.count("/api/chat.postMessage") == 1  # the default handlers do not retry a 429


def test_slack_server_errors_only_500_and_503_are_retried_by_the_handler(slack: SlackDouble) -> None:
    handler = ServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = slack_client(slack, retry_handlers=[handler])
    slack.faults.push("server_error", status=503)
    assert client.chat_postMessage(channel="#incidents", text="after a 503")["ok"] is True
    assert slack.count("/api/chat.postMessage") == 2
    slack.faults.push("server_error", status=502)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="#incidents", text="x")
    assert raised.value.response.status_code == 502
    assert slack.count("/api/chat.postMessage") == 3


def test_slack_delay_longer_than_the_timeout_raises_and_is_not_retried(slack: SlackDouble) -> None:
    slack.faults.push("delay", seconds=3)
    with pytest.raises(TimeoutError):  # after the client's 1 s, not the double's 3 s: no retry
        slack_client(slack, timeout=1).chat_postMessage(channel="#incidents", text="x")
    assert slack.count("/api/chat.postMessage") == 1


def test_slack_late_answer_does_the_work_and_answers_after_the_timeout(slack: SlackDouble) -> None:
    """A post Slack took and answered late: in the channel, and the client saw a timeout."""
    slack.faults.push("late_answer", seconds=3, route="/api/chat.postMessage")
    with pytest.raises(TimeoutError):
        slack_client(slack, timeout=1).chat_postMessage(channel="#incidents", text="taken")
    assert [m.text for m in slack.messages("#incidents")] == ["taken"]
    assert slack.count("/api/chat.postMessage") == 1


def test_slack_history_and_replies_as_the_reference_answers_them(slack: SlackDouble) -> None:
    """conversations.history: top-level messages newest first, metadata only when asked, cursor pages;
    conversations.replies: the parent, then its replies oldest first (docs.slack.dev/reference/methods)."""
    client = slack_client(slack)
    marked = {"event_type": "medic_post", "event_payload": {"key": "k1"}}
    first = client.chat_postMessage(channel="#incidents", text="one", metadata=marked)["ts"]
    client.chat_postMessage(channel="C0INCIDENTS", thread_ts=first, text="reply", metadata=marked)
    second = client.chat_postMessage(channel="#incidents", text="two")["ts"]
    third = client.chat_postMessage(channel="#incidents", text="three")["ts"]

    page = client.conversations_history(channel="C0INCIDENTS", limit=2)
    assert [m["ts"] for m in page["messages"]] == [third, second]
    assert page["has_more"] is True and page["response_metadata"]["next_cursor"]
    rest = client.conversations_history(
        channel="C0INCIDENTS", limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == [first]  # the reply is in the thread, not the history
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""
    assert "metadata" not in rest["messages"][0] and rest["messages"][0]["bot_id"] == slack.bot_id
    assert rest["messages"][0]["reply_count"] == 1
    with_metadata = client.conversations_history(channel="C0INCIDENTS", include_all_metadata=True)
    assert [m.get("metadata") for m in with_metadata["messages"]] == [None, None, marked]
    later = client.conversations_history(channel="C0INCIDENTS", oldest=second)
    assert [m["ts"] for m in later["messages"]] == [third]  # oldest is not included unless inclusive

    thread = client.conversations_replies(channel="C0INCIDENTS", ts=first, include_all_metadata=True)
    assert [m["text"] for m in thread["messages"]] == ["one", "reply"]
    assert thread["messages"][1]["thread_ts"] == first and thread["messages"][1]["metadata"] == marked
    assert thread["has_more"] is False
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: client.conversations_replies(channel="C0INCIDENTS", ts="1.000001"), "thread_not_found"),
        (lambda: client.conversations_history(channel="#incidents"), "channel_not_found"),
        (lambda: client.conversations_history(channel="C0INCIDENTS", cursor="bm9wZQ=="), "invalid_cursor"),
    ]
    for call, error in calls:
        with pytest.raises(SlackApiError) as raised:
            call()
        assert raised.value.response["error"] == error


def test_slack_reading_needs_the_history_scope_and_the_bot_in_the_channel() -> None:
    slack = SlackDouble(scopes=("chat:write", "chat:write.public", "channels:read"))
    with slack.serve():
        client = slack_client(slack)
        with pytest.raises(SlackApiError) as raised:
            client.conversations_history(channel="C0INCIDENTS")
        body = raised.value.response
        assert (body.status_code, body["error"]) == (200, "missing_scope")
        assert body["needed"] == "channels:history,groups:history,im:history,mpim:history"
        assert body["provided"] == "chat:write,chat:write.public,channels:read"
        with pytest.raises(SlackApiError) as raised:
            client.conversations_replies(channel="C0INCIDENTS", ts="1700000000.000100")
        assert raised.value.response["error"] == "missing_scope"
    slack = SlackDouble()
    with slack.serve():
        slack.leave("#incidents")
        client = slack_client(slack)
        client.chat_postMessage(channel="#incidents", text="posted with chat:write.public")
        with pytest.raises(SlackApiError) as raised:
            client.conversations_history(channel="C0INCIDENTS")
        assert raised.value.response["error"] == "not_in_channel"


def test_slack_conversations_list_pages_the_channels_the_token_may_see(slack: SlackDouble) -> None:
    client = slack_client(slack)
    first = client.conversations_list(types="public_channel,private_channel", limit=2)
    names = [c["name"] for c in first["channels"]]
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_list(types="public_channel,private_channel", limit=2, cursor=cursor)
    names += [c["name"] for c in rest["channels"]]
    assert sorted(names) == ["checkout-oncall", "incidents", "payments-oncall"]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert {c["id"] for c in first["channels"]} <= {"C0CHECKOUT", "C0PAYMENTS", "C0INCIDENTS"}


def test_slack_response_url_records_bodies_and_refuses_a_sixth_use(slack: SlackDouble) -> None:
    webhook = WebhookClient(slack.response_url("T0MEDIC/397700885554/abc"))
    for n in range(5):
        response = webhook.send(text=f"reply {n}", response_type="ephemeral", replace_original=False)
        assert (response.status_code, json.loads(response.body)) == (200, {"ok": True})
    assert webhook.send(text="one too many").status_code == 404
    bodies = slack.responses("T0MEDIC/397700885554/abc")
    assert len(bodies) == 5
    assert bodies[0] == {"text": "reply 0", "response_type": "ephemeral", "replace_original": False}


# -- PagerDuty -----------------------------------------------------------------------------------------


def test_pagerduty_trigger_acknowledge_resolve_through_pdpyras(pagerduty: PagerDutyDouble) -> None:
    session = events_session(pagerduty)
    key = session.trigger(
        "checkout: 5xx ratio above 5%",
        "checkout",
        dedup_key="medic/inc-1",
        severity="error",
        custom_details={"incident": "inc-1"},
    )
    assert key == "medic/inc-1"
    assert session.trigger("checkout: still failing", "checkout", dedup_key=key) == key
    alert = pagerduty.alert(key)
    assert (alert.status, alert.severity, alert.dedup_count) == ("triggered", "error", 1)
    assert alert.payload["custom_details"] == {"incident": "inc-1"}

    assert session.acknowledge(key) == key
    assert pagerduty.alert(key).status == "acknowledged"
    assert session.resolve(key) == key
    alert = pagerduty.alert(key)
    assert alert.history == ["triggered", "acknowledged", "resolved"]
    assert [e.outcome for e in alert.events] == ["created", "deduplicated", "acknowledged", "resolved"]

    assert session.acknowledge(key) == key  # accepted, but a resolved alert stays resolved
    assert pagerduty.events()[-1].outcome == "ignored"
    session.trigger("checkout: failing again", "checkout", dedup_key=key)
    assert (pagerduty.alert(key).status, pagerduty.alert(key).incident_number) == ("triggered", 2)
    assert len(pagerduty.alerts(include_superseded=True)) == 2

    sent = pagerduty.requests("POST /v2/enqueue")[0]
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body)["routing_key"] == PAGERDUTY_ROUTING_KEY
    assert pagerduty.count("/v2/enqueue") == 6


def test_pagerduty_makes_a_dedup_key_when_a_trigger_has_none(pagerduty: PagerDutyDouble) -> None:
    key = events_session(pagerduty).trigger("disk full", "db-1", severity="critical")
    assert len(key) == 32 and pagerduty.alert(key).status == "triggered"


@pytest.mark.parametrize(
    ("routing_key", "kwargs", "error"),
    [
        ("R0UT1NGKEYN0TC0NF1GURED00000000B", {}, "Invalid routing key"),
        (PAGERDUTY_ROUTING_KEY, {"summary": "s" * 1025}, "'payload.summary' is too long"),
        (PAGERDUTY_ROUTING_KEY, {"severity": "fatal"}, "'payload.severity' is invalid"),
        (PAGERDUTY_ROUTING_KEY, {"dedup_key": "k" * 256}, "'dedup_key' is too long"),
        (PAGERDUTY_ROUTING_KEY, {"source": ""}, "'payload.source' is missing or blank"),
    ],
)
def test_pagerduty_400_is_final(
    pagerduty: PagerDutyDouble, routing_key: str, kwargs: dict[str, str], error: str
) -> None:
    args = {"summary": "checkout down", "source": "checkout", **kwargs}
    with pytest.raises(pdpyras.PDHTTPError) as raised:
        events_session(pagerduty, routing_key).trigger(args.pop("summary"), args.pop("source"), **args)
    body = raised.value.response.json()
    assert raised.value.response.status_code == 400
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert any(e.startswith(error) for e in body["errors"]), body
    assert pagerduty.count() == 1
    assert pagerduty.events()[0].outcome == "rejected"
    assert pagerduty.alerts() == []


def test_pagerduty_non_json_body_is_unrecognized(pagerduty: PagerDutyDouble) -> None:
    response = httpx.post(
        f"{pagerduty.url}/v2/enqueue", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == ["JSON parse error"]


def test_pagerduty_429_is_retried_by_pdpyras_until_accepted(
    pagerduty: PagerDutyDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    pagerduty.faults.push("rate_limit", times=2, retry_after=30)
    slept: list[float] = []
    monkeypatch.setattr(pdpyras.time, "sleep", slept.append)
    key = events_session(pagerduty).trigger("checkout down", "checkout", dedup_key="medic/inc-429")
    assert slept and all(s < 30 for s in slept), slept  # its own back-off: pdpyras ignores Retry-After
    assert [r.fault for r in pagerduty.requests()] == ["rate_limit", "rate_limit", None]
    assert pagerduty.alert(key).status == "triggered"


def test_pagerduty_5xx_retry_limits_per_status(pagerduty: PagerDutyDouble) -> None:
    session = events_session(pagerduty)
    pagerduty.faults.push("server_error", status=502, times=4)  # 502: retried four times
    assert session.trigger("checkout down", "checkout", dedup_key="medic/inc-5xx") == "medic/inc-5xx"
    assert pagerduty.count() == 5
    pagerduty.faults.push("server_error", status=500, times=3)  # 500: retried twice, then given up
    with pytest.raises(pdpyras.PDServerError) as raised:
        session.resolve("medic/inc-5xx")
    assert raised.value.response.status_code == 500
    assert pagerduty.count() == 8
    assert pagerduty.alert("medic/inc-5xx").status == "triggered"


def test_pagerduty_timeouts_are_retried_three_times_then_raise(pagerduty: PagerDutyDouble) -> None:
    session = events_session(pagerduty)
    session.timeout = 0.3
    pagerduty.faults.push("delay", seconds=2, times=4)
    with pytest.raises(pdpyras.PDClientError):
        session.trigger("checkout down", "checkout", dedup_key="medic/inc-slow")
    assert pagerduty.count() == 4


def test_pagerduty_built_in_rate_limit() -> None:
    double = PagerDutyDouble(rate_limit_per_minute=2)
    event = {"routing_key": PAGERDUTY_ROUTING_KEY, "event_action": "trigger"}
    event["payload"] = {"summary": "s", "source": "src", "severity": "info"}  # type: ignore[assignment]
    with double.serve() as url:
        statuses = [httpx.post(f"{url}/v2/enqueue", json=event).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]


# -- JIRA ------------------------------------------------------------------------------------------------


def test_jira_create_comment_transition_through_the_jira_client(jira_double: JiraDouble) -> None:
    client = jira_client(jira_double)  # the default constructor reads /serverInfo
    issue = client.create_issue(
        project="OPS",  # a bare key: the client looks the project up first
        summary="checkout: 5xx ratio above 5%",
        description="Opened by Medic for incident inc-1.",
        issuetype={"name": "Incident"},
        priority={"name": "High"},
        labels=["medic", "medic-inc-1"],
        components=[{"name": "checkout"}],
    )
    assert issue.key == "OPS-1"
    assert (issue.fields.status.name, issue.fields.priority.name) == ("To Do", "High")
    assert issue.fields.labels == ["medic", "medic-inc-1"]
    assert issue.fields.components[0].name == "checkout"

    comment = client.add_comment(issue, "Root cause: bad deploy of payments 1.4.2")
    assert comment.body.startswith("Root cause")
    transitions = {t["name"]: t["id"] for t in client.transitions(issue)}
    assert transitions == {"In Progress": "21", "Done": "31"}
    client.transition_issue(issue, "21")
    client.transition_issue(issue, "Done")  # by name: the client looks the id up

    reloaded = client.issue("OPS-1")
    assert (reloaded.fields.status.name, reloaded.fields.resolution.name) == ("Done", "Done")
    assert [c.body for c in reloaded.fields.comment.comments] == [comment.body]
    state = jira_double.issue("OPS-1")
    assert [(t.transition_id, t.from_status, t.to_status) for t in state.transitions] == [
        ("21", "To Do", "In Progress"),
        ("31", "In Progress", "Done"),
    ]
    assert state.created_with["issuetype"] == {"name": "Incident"}
    assert jira_double.count("GET /rest/api/2/serverInfo") == 1
    assert jira_double.count("POST /rest/api/2/issue/{issue_id_or_key}/transitions") == 2


def test_jira_issue_type_by_name_and_search_by_label(jira_double: JiraDouble) -> None:
    client = jira_client(jira_double)
    first = client.create_issue(
        project={"key": "OPS"}, summary="one", issuetype="Bug", labels=["medic-inc-2"]
    )
    client.create_issue(project={"key": "OPS"}, summary="two", issuetype={"name": "Task"}, labels=["other"])
    open_query = 'project = OPS AND labels = "medic-inc-2" AND statusCategory != Done'
    assert [i.key for i in client.search_issues(open_query)] == [first.key]
    assert [i.key for i in client.search_issues("project = OPS ORDER BY key ASC")] == ["OPS-1", "OPS-2"]
    client.transition_issue(first, "31")
    assert list(client.search_issues(open_query)) == []
    assert [i.key for i in client.search_issues("resolution = Unresolved")] == ["OPS-2"]
    assert [i.key for i in client.search_issues("labels not in (medic-inc-2)")] == ["OPS-2"]
    assert [i.key for i in client.search_issues("summary ~ two", use_post=True)] == ["OPS-2"]
    assert (jira_double.count("GET /rest/api/2/search"), jira_double.count("POST /rest/api/2/search")) == (
        5,
        1,
    )
    with pytest.raises(jira.JIRAError) as raised:
        client.search_issues("labels = a OR labels = b")
    assert raised.value.status_code == 400
    with pytest.raises(JqlError, match="does not exist for the field 'project'"):
        jira_double.search("project = NOPE")


def test_jira_cloud_deployment_searches_through_search_jql() -> None:
    double = JiraDouble(deployment_type="Cloud")
    with double.serve():
        client = jira_client(double)
        created = [
            client.create_issue(project={"key": "CHK"}, summary=f"s{n}", issuetype="Task") for n in range(3)
        ]
        found = client.search_issues("project = CHK", maxResults=0)  # 0: every page
        assert sorted(i.key for i in found) == sorted(i.key for i in created)
        assert double.count("GET /rest/api/2/search/jql") >= 1
        with pytest.raises(jira.JIRAError) as raised:
            client._get_json("search", params={"jql": "project = CHK"})  # what search_issues did until 3.10
        assert raised.value.status_code == 410
        assert "/rest/api/3/search/jql" in error_body(raised.value)["errorMessages"][0]


def test_jira_classic_workflow_screens_and_permissions() -> None:
    """Jira's classic workflow (Data Center's default): Resolve Issue needs a resolution from its screen,
    a field off the screen is refused, a comment is kept only where the screen has Comment; a project
    whose users may not transition lists no transition."""
    double = JiraDouble(
        workflows={"OPS": CLASSIC}, resolutions=CLASSIC_RESOLUTIONS, cannot_transition=("CHK",)
    )
    with double.serve():
        client = jira_client(double)
        key = client.create_issue(project={"key": "OPS"}, summary="s", issuetype="Bug").key
        assert client.issue(key).fields.status.name == "Open"
        listed = {t["name"]: t for t in client.transitions(key, expand="transitions.fields")}
        assert sorted(listed) == ["Close Issue", "Resolve Issue", "Start Progress"]
        resolve = listed["Resolve Issue"]
        assert resolve["to"]["statusCategory"]["key"] == "done" and resolve["hasScreen"] is True
        assert resolve["fields"]["resolution"]["required"] is True and "comment" not in resolve["fields"]
        assert [v["name"] for v in resolve["fields"]["resolution"]["allowedValues"]] == list(
            CLASSIC_RESOLUTIONS
        )
        with pytest.raises(jira.JIRAError) as raised:
            client.transition_issue(key, resolve["id"])
        assert error_body(raised.value) == {"errorMessages": ["Field Resolution is required."], "errors": {}}
        with pytest.raises(jira.JIRAError) as raised:
            client.transition_issue(
                key, listed["Start Progress"]["id"], fields={"resolution": {"name": "Fixed"}}
            )
        assert "resolution" in error_body(raised.value)["errors"]
        client.transition_issue(key, resolve["id"], fields={"resolution": {"name": "Fixed"}}, comment="fixed")
        state = double.issue(key)
        assert (state.status, state.resolution, [c.body for c in state.comments]) == (
            "Resolved",
            "Fixed",
            ["fixed"],
        )
        reopen = next(t for t in client.transitions(key) if t["name"] == "Reopen Issue")
        client.transition_issue(key, reopen["id"])
        assert (double.issue(key).status, double.issue(key).resolution) == ("Reopened", None)
        other = client.create_issue(project={"key": "CHK"}, summary="s", issuetype="Bug").key
        assert client.transitions(other) == []


def test_jira_client_without_server_info_or_retries(jira_double: JiraDouble) -> None:
    client = jira_client(jira_double, get_server_info=False, max_retries=0, timeout=5)
    known = [c.name for c in client.project_components("OPS")]
    assert known == ["checkout", "payments"]
    fields = {
        "project": {"key": "OPS"},
        "summary": "payments: latency",
        "description": "d",
        "issuetype": {"name": "Incident"},
        "labels": ["medic", "medic-inc-3"],
        "priority": {"name": "Highest"},
        "components": [{"name": "payments"}],
    }
    key = client.create_issue(fields=fields).key
    assert [
        i.key for i in client.search_issues('project = "OPS" AND labels = "medic-inc-3"', maxResults=1)
    ] == [key]
    status = client.issue(key, fields="status").fields.status
    assert status.statusCategory.key == "new"
    done = next(t for t in client.transitions(key) if t["name"].lower() == "done")
    assert done["hasScreen"] is False
    client.transition_issue(key, done["id"], comment="Resolved by Medic")
    state = jira_double.issue(key)
    # No screen on the transition: Jira moves the issue, answers 204 and drops the comment.
    assert (state.status, state.resolution, [c.body for c in state.comments]) == ("Done", "Done", [])
    assert jira_double.count("GET /rest/api/2/serverInfo") == 0
    jira_double.faults.push("rate_limit", retry_after=0)
    with pytest.raises(jira.JIRAError) as raised:  # max_retries=0: a 429 is not retried
        client.add_comment(key, "x")
    assert raised.value.status_code == 429


def test_jira_unknown_project_and_invalid_fields_are_400(jira_double: JiraDouble) -> None:
    client = jira_client(jira_double)
    with pytest.raises(jira.JIRAError) as raised:
        client.create_issue(project={"key": "NOPE"}, summary="x", issuetype={"name": "Incident"})
    assert raised.value.status_code == 400
    assert error_body(raised.value) == {
        "errorMessages": [],
        "errors": {"project": "valid project is required"},
    }
    with pytest.raises(jira.JIRAError) as raised:
        client.create_issue(
            project={"key": "OPS"},
            summary="x",
            issuetype={"name": "Incident"},
            labels=["has space"],
            components=[{"name": "nope"}],
            priority={"name": "Urgent"},
        )
    errors = error_body(raised.value)["errors"]
    assert set(errors) == {"labels", "components", "priority"}
    with pytest.raises(jira.JIRAError) as raised:
        client.transition_issue(
            client.create_issue(project={"key": "OPS"}, summary="y", issuetype="Task"), "11"
        )
    assert error_body(raised.value)["errorMessages"] == ["Transition id '11' is not valid for this issue."]
    with pytest.raises(jira.JIRAError) as raised:
        client.issue("OPS-99")
    assert raised.value.status_code == 404


def test_jira_requires_basic_auth(jira_double: JiraDouble) -> None:
    with pytest.raises(jira.JIRAError) as raised:
        jira.JIRA(server=jira_double.url, basic_auth=(JIRA_USER, "wrong-token"))
    assert raised.value.status_code == 401
    anonymous = jira.JIRA(server=jira_double.url)  # /serverInfo is public, as on JIRA
    with pytest.raises(jira.JIRAError) as raised:
        anonymous.create_issue(project={"key": "OPS"}, summary="x", issuetype={"name": "Incident"})
    assert raised.value.status_code == 401
    assert jira_double.issues() == []


def test_jira_429_is_retried_and_500_is_not(jira_double: JiraDouble) -> None:
    client = jira_client(jira_double)
    issue = client.create_issue(project={"key": "OPS"}, summary="x", issuetype={"name": "Incident"})
    route = "POST /rest/api/2/issue/{issue_id_or_key}/comment"
    jira_double.faults.push("rate_limit", retry_after=0, route=route)
    client.add_comment(issue, "after a 429")  # the client sleeps 1-2 s (it waits at least 1 s)
    assert [r.fault for r in jira_double.requests(route)] == ["rate_limit", None]
    jira_double.faults.push("server_error", status=500, route=route)
    with pytest.raises(jira.JIRAError) as raised:
        client.add_comment(issue, "during a 500")
    assert raised.value.status_code == 500
    assert jira_double.count(route) == 3
    assert [c.body for c in jira_double.issue(issue.key).comments] == ["after a 429"]


def test_the_prometheus_double_answers_alerts_as_prometheus_does() -> None:
    """The envelope and series of the real instant-query answer, read by Medic's own adapter."""
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from medic.ports import PermanentError  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    double = PrometheusAlertsDouble()
    with pytest.raises(ValueError, match="pending and firing"):
        double.set_alerts([{"alertname": "Watchdog", "alertstate": "inactive"}])  # no such series exists
    double.set_alerts([{"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending"}])
    with double.serve() as url:
        prometheus = PrometheusMetrics(url)
        (alert,) = prometheus.active_alerts()
        assert alert == {
            "__name__": "ALERTS",
            "alertname": "PostgresDown",
            "service": "orders-db",
            "alertstate": "pending",
        }
        with pytest.raises(PermanentError, match="rejected the query"):
            prometheus.holds("up{")  # a query that does not parse: 400 bad_data, as Prometheus answers it
