"""A Slack post is made once however often Temporal runs its activity (activities/adapters/slack.py).

Found by an HA walk-through: a ``chat.postMessage`` Slack took but answered after the client's timeout
was tried again by Temporal and posted again ("Escalation level 2" twice in the incident's thread); so was
a post whose connection dropped after the request went out (the SDK sent it again in place), and one whose
worker stopped under it (SIGTERM) after it reached Slack, run again on another worker. The real SlackChat
against the Slack double, run as Temporal runs an activity: attempt after attempt while it asks for a retry
(``ActivityEnvironment`` with the attempt's ``activity.info()``)."""

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.client import IncompleteRead, RemoteDisconnected
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient
from temporalio.activity import ActivityCancellationDetails
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.adapters.slack import POST_EVENT, SlackChat
from activities.notify import ChatNote, NotifyActivities, SlackMessagePost
from medic.ports import ChatMessage, MessageRef, TransientError
from medic.routing import ChatTarget, RoutingPolicy
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.support.fakes import FakePager, FakeTracker

POST = "POST /api/chat.postMessage"
CHANNELS = {"#checkout-oncall": "C0CHECKOUT", "#incidents": "C0INCIDENTS"}
TIMEOUT = 1  # the client's timeout here (10 s in the worker)
LATE = 2.5  # Slack's answer comes this long after it took the post
WITHOUT_HISTORY = ("chat:write", "chat:write.public", "channels:read", "groups:read")
R = TypeVar("R")


def double(**kwargs: Any) -> SlackDouble:
    """Slack stamping messages from now on, as Slack does (its ``ts`` is the time it took the post)."""
    return SlackDouble(channels=CHANNELS, first_ts=f"{int(time.time())}.000100", **kwargs)


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    slack = double()
    with slack.serve():
        yield slack


def chat(slack: SlackDouble) -> SlackChat:
    """A worker's Slack (a new one knows no channel id yet, as a worker started anew)."""
    return SlackChat(SLACK_TOKEN, base_url=f"{slack.url}/api/", timeout=TIMEOUT)


def activities(slack: SlackDouble, chat_: SlackChat | None = None) -> NotifyActivities:
    return NotifyActivities(
        chat=chat_ or chat(slack), pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
    )


class Activity:
    """One activity of one workflow run, attempt after attempt as Temporal runs it."""

    def __init__(self, activity_id: str = "7", run_id: str | None = None) -> None:
        self.info = dataclasses.replace(
            ActivityEnvironment.default_info(),
            workflow_id="incident-checkout",
            workflow_run_id=run_id or str(uuid.uuid4()),
            activity_id=activity_id,
            activity_type="notify.chat_note",
            scheduled_time=datetime.now(UTC),
        )
        self.attempts = 0

    def attempt(self) -> ActivityEnvironment:
        self.attempts += 1
        env = ActivityEnvironment()
        env.info = dataclasses.replace(self.info, attempt=self.attempts)
        return env

    def run(self, fn: Callable[..., R], *args: Any, most: int = 4) -> R:
        """Attempts until one succeeds (a retryable failure is tried again, as the notifier's policy)."""
        while True:
            try:
                return self.attempt().run(fn, *args)
            except ApplicationError as err:
                if err.non_retryable or self.attempts >= most:
                    raise


def note(text: str, thread: MessageRef | None = None) -> ChatNote:
    return ChatNote(target=ChatTarget(kind="slack", channel="#checkout-oncall"), text=text, thread=thread)


def texts(messages: list[Any]) -> list[str]:
    return [m.text for m in messages]


def test_a_post_slack_took_but_answered_late_is_posted_once(slack: SlackDouble) -> None:
    slack.faults.push("late_answer", seconds=LATE, route=POST)
    act = Activity()
    ref = act.run(activities(slack).chat_note, note("Paging data."))
    (message,) = slack.messages("#checkout-oncall")  # before: two, the second from Temporal's retry
    assert message.text == "Paging data."
    assert ref == MessageRef(kind="slack", channel="C0CHECKOUT", id=message.ts)
    assert message.metadata is not None and message.metadata["event_type"] == POST_EVENT
    assert slack.count(POST) == 1


def test_a_thread_reply_answered_late_is_posted_once(slack: SlackDouble) -> None:
    acts = activities(slack)
    card = Activity("5").run(
        acts.slack_message, SlackMessagePost(channel="#checkout-oncall", message=msg("P1"))
    )
    slack.faults.push("late_answer", seconds=LATE, route=POST)
    ref = Activity("9").run(acts.chat_note, note("Escalation level 2: paging data-2.", thread=card))
    (reply,) = slack.thread("#checkout-oncall", card.id)  # before: the reply twice
    assert reply.text == "Escalation level 2: paging data-2." and ref.id == reply.ts
    assert slack.count(POST) == 2  # the card, the reply: neither sent again


def test_a_later_attempt_finds_the_post_its_cancelled_attempt_made(slack: SlackDouble) -> None:
    """SIGTERM cancelled the activity after its post reached Slack: the next attempt, on another worker
    (a new SlackChat, which must find the channel's id), answers with that post."""
    slack.faults.push("late_answer", seconds=LATE, route=POST)
    act = Activity()
    first = act.attempt()
    canceller = threading.Thread(target=_cancel_once_fired, args=(slack, first), daemon=True)
    canceller.start()
    with pytest.raises(CancelledError):
        first.run(activities(slack).chat_note, note("Paging data."))
    canceller.join()
    ref = act.attempt().run(activities(slack).chat_note, note("Paging data."))  # another worker
    (message,) = slack.messages("#checkout-oncall")
    assert ref.id == message.ts and slack.count(POST) == 1
    assert slack.count("/api/conversations.list") == 1  # the name's id, once


def test_a_connection_lost_after_the_post_went_out_is_not_sent_again(
    slack: SlackDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request reached Slack and the connection dropped before its answer: the SDK sent it again
    in place (its ConnectionErrorRetryHandler), a second message in the same attempt."""
    send = WebClient._perform_urllib_http_request_internal
    dropped: list[str] = []

    def drop_first_post(self: WebClient, url: str, req: Any) -> dict[str, Any]:
        answer: dict[str, Any] = send(self, url, req)
        if url.endswith("chat.postMessage") and not dropped:
            dropped.append(url)
            raise RemoteDisconnected("Remote end closed connection without response")
        return answer

    monkeypatch.setattr(WebClient, "_perform_urllib_http_request_internal", drop_first_post)
    act = Activity()
    ref = act.run(activities(slack).chat_note, note("Paging data."))
    assert dropped and act.attempts == 1
    (message,) = slack.messages("#checkout-oncall")
    assert ref.id == message.ts


def test_an_answer_cut_off_midway_is_tried_again_not_failed_for_good(
    slack: SlackDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer cut off midway (IncompleteRead) is a lost connection like a reset: before, it was
    "Slack call failed: IncompleteRead", a PermanentError, and the notification was lost."""

    def cut(self: WebClient, url: str, req: Any) -> dict[str, Any]:
        raise IncompleteRead(b'{"ok": tr', 40)

    monkeypatch.setattr(WebClient, "_perform_urllib_http_request_internal", cut)
    with pytest.raises(TransientError):
        chat(slack).post("#checkout-oncall", msg("hello"))


def test_two_posts_of_one_incident_are_two_messages(slack: SlackDouble) -> None:
    """The key is the activity's: another activity of the same run saying the same posts it."""
    acts = activities(slack)
    run_id = str(uuid.uuid4())
    Activity("7", run_id).run(acts.chat_note, note("Paging data."))
    again = Activity("8", run_id)
    again.attempts = 1  # its second attempt: it looks first, and finds nothing of its own
    again.run(acts.chat_note, note("Paging data."))
    assert texts(slack.messages("#checkout-oncall")) == ["Paging data.", "Paging data."]
    keys = {m.metadata["event_payload"]["key"] for m in slack.messages("#checkout-oncall") if m.metadata}
    assert len(keys) == 2


def test_without_the_history_scope_it_posts_again_as_before_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack = double(scopes=WITHOUT_HISTORY)
    with slack.serve(), caplog.at_level(logging.WARNING, logger="activities.adapters.slack"):
        acts = activities(slack)
        for activity_id in ("7", "8"):
            slack.faults.push("late_answer", seconds=LATE, route=POST)
            act = Activity(activity_id)
            act.run(acts.chat_note, note(f"Paging data ({activity_id})."))
            assert act.attempts == 2  # the first timed out; the notification went through all the same
        posted = texts(slack.messages("#checkout-oncall"))
    assert posted == ["Paging data (7).", "Paging data (7).", "Paging data (8).", "Paging data (8)."]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "missing_scope" in warnings[0] and "channels:history" in warnings[0]


def test_a_channel_the_bot_is_not_in_is_posted_to_again_and_said_once(
    slack: SlackDouble, caplog: pytest.LogCaptureFixture
) -> None:
    slack.leave("#checkout-oncall")  # it posts there with chat:write.public, and may not read it
    with caplog.at_level(logging.WARNING, logger="activities.adapters.slack"):
        slack.faults.push("late_answer", seconds=LATE, route=POST)
        Activity().run(activities(slack).chat_note, note("Paging data."))
    assert texts(slack.messages("#checkout-oncall")) == ["Paging data.", "Paging data."]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "not_in_channel" in warning and "Invite the bot" in warning


def test_outside_an_activity_a_post_is_made_as_before(slack: SlackDouble) -> None:
    ref = chat(slack).post("#checkout-oncall", ChatMessage(text="hello"))
    (message,) = slack.messages("#checkout-oncall")
    assert ref.id == message.ts and message.metadata is None
    assert slack.count("/api/conversations.history") == slack.count("/api/conversations.list") == 0


def msg(text: str) -> ChatMessage:
    return ChatMessage(text=text)


def _cancel_once_fired(slack: SlackDouble, env: ActivityEnvironment) -> None:
    while not slack.messages("#checkout-oncall"):  # Slack took the post; its answer is held
        time.sleep(0.01)
    env.cancel(ActivityCancellationDetails(worker_shutdown=True))


HISTORY = "/api/conversations.history"


def test_a_post_slack_refused_for_its_rate_limit_is_not_looked_for_on_the_next_attempt(
    slack: SlackDouble,
) -> None:
    """In a storm chat.postMessage is rate limited (about one post a second a channel): a 429 beyond the
    in-place wait goes back to Temporal, and every retry of it spent a conversations.history call (Tier
    3) looking for a post Slack had refused, not taken. Five cards refused once cost five lookups."""
    acts = activities(slack)
    for i in range(5):
        slack.faults.push("rate_limit", times=1, retry_after=30, route=POST)  # beyond the in-place wait
        act = Activity(str(i))
        with pytest.raises(ApplicationError):
            act.attempt().run(acts.chat_note, note(f"card {i}"))
        act.attempt().run(acts.chat_note, note(f"card {i}"))
    assert texts(slack.messages("#checkout-oncall")) == [f"card {i}" for i in range(5)]
    assert slack.count(HISTORY) == 0  # before: 5


def test_a_refused_post_after_one_that_may_have_gone_through_is_still_looked_for(
    slack: SlackDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only refusals on this worker from the first attempt on spare the look: an attempt after one whose
    answer never came (Slack may have taken it) looks, refused or not, and so does a retry on another
    worker (a new SlackChat knows nothing of the refusal)."""
    send = WebClient._perform_urllib_http_request_internal
    timed_out: list[str] = []

    def time_out_first_post(self: WebClient, url: str, req: Any) -> dict[str, Any]:
        if url.endswith("chat.postMessage") and not timed_out:
            timed_out.append(url)
            raise TimeoutError("The read operation timed out")
        answer: dict[str, Any] = send(self, url, req)
        return answer

    monkeypatch.setattr(WebClient, "_perform_urllib_http_request_internal", time_out_first_post)
    acts = activities(slack)
    act = Activity()
    with pytest.raises(ApplicationError):
        act.attempt().run(acts.chat_note, note("Paging data."))  # unanswered: looked for within it
    slack.faults.push("rate_limit", times=1, retry_after=30, route=POST)
    with pytest.raises(ApplicationError):
        act.attempt().run(acts.chat_note, note("Paging data."))  # looks, then refused
    act.attempt().run(acts.chat_note, note("Paging data."))  # looks again: the first may show late
    assert slack.count(HISTORY) == 3
    slack.faults.push("rate_limit", times=1, retry_after=30, route=POST)
    other = Activity("8")
    with pytest.raises(ApplicationError):
        other.attempt().run(acts.chat_note, note("Escalation level 2."))
    other.attempt().run(activities(slack).chat_note, note("Escalation level 2."))  # another worker: looks
    assert slack.count(HISTORY) == 4
    assert texts(slack.messages("#checkout-oncall")) == ["Paging data.", "Escalation level 2."]


def test_looking_for_a_post_does_not_wait_on_a_rate_limit(slack: SlackDouble) -> None:
    """A lookup rate limited (Tier 3, shared by every retry of a storm) waited in place up to 10 s, twice a
    page, on top of the post's own waits: an attempt took 40 s, past the notifier's 30 s timeout, and
    Temporal ran it again beside the thread still posting. It asks once and, refused, posts as before."""
    slack.faults.push("rate_limit", times=3, retry_after=1, route=f"POST {HISTORY}")
    act = Activity()
    act.attempts = 1  # its second attempt: it looks first
    ref = act.attempt().run(activities(slack).chat_note, note("Paging data."))
    (message,) = slack.messages("#checkout-oncall")
    assert ref.id == message.ts
    assert slack.count(HISTORY) == 1  # before: 3 (asked again twice, after waiting)
