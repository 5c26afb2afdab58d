"""Our adapters, over the real SDKs, against local doubles of Slack, PagerDuty and JIRA: the calls
they make, idempotency, and how each failure is classified (retry or not)."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from activities.adapters.jira import JiraTracker
from activities.adapters.pagerduty import PagerDutyEvents
from activities.adapters.slack import SlackChat
from activities.adapters.teams import TeamsChat
from activities.slack_cards import SlackCards
from medic.cards import IncidentCard
from medic.ports import (
    ChatMessage,
    EditableChat,
    IssueRequest,
    Page,
    PermanentError,
    ThreadedChat,
    TransientError,
)
from tests.doubles import (
    JIRA_API_TOKEN,
    JIRA_USER,
    PAGERDUTY_ROUTING_KEY,
    SLACK_TOKEN,
    JiraDouble,
    PagerDutyDouble,
    SlackDouble,
)


@pytest.fixture
def slack() -> Iterator[tuple[SlackDouble, SlackChat]]:
    double = SlackDouble()
    with double.serve() as url:
        yield double, SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", rate_limit_retries=1)


@pytest.fixture
def pager() -> Iterator[tuple[PagerDutyDouble, PagerDutyEvents]]:
    double = PagerDutyDouble()
    with double.serve() as url:
        yield (
            double,
            PagerDutyEvents(
                {"checkout": PAGERDUTY_ROUTING_KEY}, default_key=None, events_url=f"{url}/v2/enqueue"
            ),
        )


@pytest.fixture
def jira() -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble()
    with double.serve() as url:
        yield double, JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)


def test_slack_post_thread_update(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    ref = chat.post("#checkout-oncall", ChatMessage(text="P2 · checkout down", blocks=[]))
    assert ref.channel == "C0CHECKOUT"
    chat.post("#checkout-oncall", ChatMessage(text="escalated"), thread=ref)
    chat.update(ref, ChatMessage(text="P2 · checkout down [resolved]"))
    message = double.message("#checkout-oncall", ref.id)
    assert message.text == "P2 · checkout down [resolved]" and len(message.edits) == 1
    assert [m.text for m in double.thread("#checkout-oncall", ref.id)] == ["escalated"]


def test_slack_rate_limit_is_retried_by_the_sdk(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    double.faults.push("rate_limit", retry_after=0)
    chat.post("#checkout-oncall", ChatMessage(text="hello"))
    assert double.count("POST /api/chat.postMessage") == 2


def test_slack_errors_are_classified(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    with pytest.raises(PermanentError, match="channel_not_found"):
        chat.post("#nowhere", ChatMessage(text="x"))
    double.faults.push("rate_limit", times=2, retry_after=7)
    with pytest.raises(TransientError) as err:
        chat.post("#checkout-oncall", ChatMessage(text="x"))
    assert err.value.retry_after == 7
    double.faults.push("server_error", status=503)
    with pytest.raises(TransientError):
        chat.post("#checkout-oncall", ChatMessage(text="x"))
    bad = SlackChat("xoxb-wrong", base_url=chat._client.base_url)
    with pytest.raises(PermanentError, match="invalid_auth"):
        bad.post("#checkout-oncall", ChatMessage(text="x"))


def page(action: str, key: str = "checkout") -> Page:
    return Page(
        action=action,
        dedup_key="incident-checkout",
        routing_key_name=key,
        summary="[P2] checkout down",
        severity="error",
        custom_details={"impact": 66},
    )


def test_pagerduty_trigger_ack_resolve_on_one_alert(pager: tuple[PagerDutyDouble, PagerDutyEvents]) -> None:
    double, events = pager
    for action in ("trigger", "trigger", "acknowledge", "resolve"):
        assert events.send(page(action)) == "incident-checkout"
    alert = double.alert("incident-checkout")
    assert [str(s) for s in alert.history][-1].endswith("resolved")
    assert alert.summary == "[P2] checkout down"


def test_pagerduty_errors_are_classified(pager: tuple[PagerDutyDouble, PagerDutyEvents]) -> None:
    double, events = pager
    with pytest.raises(PermanentError, match="no PagerDuty routing key named 'ghost'"):
        events.send(page("trigger", key="ghost"))
    double.faults.push("rate_limit", times=2, retry_after=3)
    with pytest.raises(TransientError) as err:
        events.send(page("trigger"))
    assert err.value.retry_after == 3
    assert double.count("POST /v2/enqueue") == 2  # bounded: pdpyras alone would retry a 429 forever
    double.faults.push("http_error", status=400)
    with pytest.raises(PermanentError):
        events.send(page("trigger"))


def issue() -> IssueRequest:
    return IssueRequest(
        project="CHK",
        summary="[P2] checkout down",
        description="impact 66",
        priority="High",
        labels=["medic"],
        dedup_label="incident-checkout",
    )


def test_jira_issue_is_created_once_and_closed(jira: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = jira
    key = tracker.ensure_issue(issue())
    assert tracker.ensure_issue(issue()) == key  # a retry finds it by its label
    assert len(double.issues("CHK")) == 1
    tracker.comment(key, "merged incident-payments")
    tracker.close(key, "Resolved.")
    tracker.close(key, "Resolved.")  # already done: no second transition
    done = double.issue(key)
    assert done.status == "Done"
    assert len(done.transitions) == 1 and done.resolution == "Done"


def test_jira_errors_are_classified(jira: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = jira
    with pytest.raises(PermanentError):
        tracker.ensure_issue(issue().model_copy(update={"project": "NOPE"}))
    wrong = JiraTracker(tracker._url, user=JIRA_USER, token="wrong")
    with pytest.raises(PermanentError, match="401"):
        wrong.ensure_issue(issue())
    double.faults.push("server_error", status=503, times=5)
    with pytest.raises(TransientError):
        tracker.ensure_issue(issue())


def test_jira_text_from_outside_is_escaped_wiki_markup(jira: tuple[JiraDouble, JiraTracker]) -> None:
    """Issue 13: labels and notes reach descriptions and comments, which JIRA renders as wiki markup."""
    double, tracker = jira
    evil = "[click|javascript:alert(1)] !https://evil.example/i.png! {html}<b>x</b>{html} [~admin] C:\\*x*"
    key = tracker.ensure_issue(issue().model_copy(update={"description": f"Services: {evil}"}))
    tracker.comment(key, evil)
    escaped = (
        "\\[click\\|javascript:alert(1)\\] \\!https://evil.example/i.png\\! \\{html\\}<b>x</b>\\{html\\} "
        "\\[\\~admin\\] C:&#92;\\*x\\*"
    )
    stored = double.issue(key)
    assert stored.description == f"Services: {escaped}"
    assert [c.body for c in stored.comments] == [escaped]


def test_slack_as_a_card_chat_posts_edits_and_threads(slack: tuple[SlackDouble, SlackChat]) -> None:
    """Slack's CardChat (Block Kit over the SDK adapter): the card with its buttons, edited in place, a
    reply in its thread, and a note of its own; it says it edits and threads, Teams does neither."""
    double, chat = slack
    cards = SlackCards(chat)
    assert isinstance(cards, EditableChat) and isinstance(cards, ThreadedChat)
    assert not isinstance(TeamsChat({}), EditableChat) and not isinstance(TeamsChat({}), ThreadedChat)
    card = IncidentCard(
        incident_id="incident-checkout",
        title="CheckoutDown <!channel>",
        status="open",
        priority="P1",
        impact=80,
        opened_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )
    ref = cards.post_card("#checkout-oncall", card)
    assert (ref.kind, ref.channel) == ("slack", "C0CHECKOUT")
    posted = double.message("#checkout-oncall", ref.id)
    actions = [b for b in posted.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]][:2] == ["medic_ack", "medic_resolve"]
    assert "&lt;!channel&gt;" in posted.text  # escaped: nobody is pinged
    cards.update_card(ref, card.model_copy(update={"status": "resolved"}))
    cards.reply(ref, "Acknowledged by alice (slack).", link_url="https://medic.example/i", link_text="open")
    cards.post_note("#checkout-oncall", "a note of its own")
    message = double.message("#checkout-oncall", ref.id)
    assert len(message.edits) == 1 and ":white_check_mark:" in message.text
    assert [m.text for m in double.thread("#checkout-oncall", ref.id)] == [
        "Acknowledged by alice (slack). <https://medic.example/i|open>"
    ]
    assert [m.text for m in double.messages("#checkout-oncall") if not m.is_reply][-1] == "a note of its own"
