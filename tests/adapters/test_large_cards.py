"""A large incident through the real chat adapters and their doubles, which refuse what Slack and Teams
refuse: the card of a node outage with 80 services is posted, edited and resolved in Slack (before,
Slack answered ``invalid_blocks`` and the card froze at ``open``), its root cause goes to the thread,
and Teams shows the same card within its message size."""

import json
from collections.abc import Iterator

import pytest

from activities.adapters.slack import SlackChat
from activities.adapters.teams import TeamsChat
from activities.slack_cards import SlackCards
from medic.cards import render_approval
from medic.ports import ChatMessage, PermanentError
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.doubles.teams import MAX_BYTES, TeamsDouble
from tests.support.large_incident import HOSTILE, LONG_URL, NODE, card, node_outage_root_cause


@pytest.fixture
def slack() -> Iterator[tuple[SlackDouble, SlackChat]]:
    double = SlackDouble()
    with double.serve() as url:
        yield double, SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", rate_limit_retries=0)


def test_the_double_refuses_a_block_over_its_limit_as_slack_does(
    slack: tuple[SlackDouble, SlackChat],
) -> None:
    _, chat = slack
    field = {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}
    with pytest.raises(PermanentError, match="invalid_blocks"):
        chat.post("#incidents", ChatMessage(text="big", blocks=[field]))


def test_a_node_outage_card_is_posted_updated_and_resolved(slack: tuple[SlackDouble, SlackChat]) -> None:
    double, chat = slack
    cards = SlackCards(chat)
    reasons = node_outage_root_cause()
    small = card(services=card().services[:3])
    ref = cards.post_card("#incidents", small)
    large = card(root_cause=NODE, root_cause_reasons=reasons, title=HOSTILE * 10, ui_url=LONG_URL)
    cards.update_card(ref, large)
    cards.reply(ref, f"Most likely root cause is now {NODE}: {'; '.join(reasons)}.")
    cards.update_card(ref, large.model_copy(update={"status": "resolved"}))
    shown = double.message("#incidents", ref.id)
    assert len(shown.edits) == 2
    assert shown.text.startswith(":white_check_mark:")
    assert all(b["type"] != "actions" for b in shown.blocks)
    assert "more" in json.dumps(shown.blocks)
    (reply,) = double.thread("#incidents", ref.id)
    assert "80 failing service(s) depend on it" in reply.text


def test_a_first_post_of_a_large_card_and_an_approval_reach_the_channel(
    slack: tuple[SlackDouble, SlackChat],
) -> None:
    double, chat = slack
    ref = SlackCards(chat).post_card(
        "#incidents", card(root_cause=NODE, root_cause_reasons=node_outage_root_cause())
    )
    approval = render_approval(
        remediation_id="incident-node-x:drain",
        step=1,
        title=HOSTILE * 30,
        plan=", ".join(card().services) * 3,
        risk="high",
        why=HOSTILE * 30,
        reasons=HOSTILE * 30,
        run_id="run-1",
    )
    chat.post("#incidents", approval, thread=ref)
    assert len(double.messages("#incidents")) == 2


def test_teams_shows_the_node_outage_within_its_message_size() -> None:
    double = TeamsDouble()
    with double.serve() as url:
        chat = TeamsChat({"data": double.webhook_url(url, "checkout")})
        long = HOSTILE * 40
        chat.post_card(
            "data",
            card(
                title=long,
                impact_summary=long,
                root_cause=NODE,
                root_cause_reasons=[*node_outage_root_cause(), long, long],
                routing_note=long,
                services=[*card().services, *[long] * 50],
            ),
        )
        (post,) = double.posts("checkout")
        assert post.accepted, post.reason
        assert len(json.dumps(post.card).encode()) < MAX_BYTES
        assert any(t.endswith(" more") and "…" in t for t in post.texts())
