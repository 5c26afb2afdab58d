"""The incident card as Slack shows it once the incident merged into its cause's: says so, links the
cause's incident, and offers no buttons (acknowledging or resolving it there would mean nothing)."""

import json
from datetime import UTC, datetime

from medic.cards import IncidentCard, render_card


def card(**update: object) -> IncidentCard:
    base = IncidentCard(
        incident_id="incident-checkout",
        title="HighErrorRate on checkout",
        status="resolved",
        priority="P2",
        impact=60.0,
        services=["checkout"],
        opened_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )
    return base.model_copy(update=update)


def test_a_merged_card_names_and_links_the_incident_it_joined() -> None:
    url = "http://temporal.example/namespaces/default/workflows/incident-orders-db"
    message = render_card(card(merged_into="incident-orders-db", merged_into_url=url))
    assert message.text.endswith("[merged into incident-orders-db]")
    texts = [str(b.get("text", "")) for b in message.blocks]
    assert any(f"<{url}|incident-orders-db>" in t for t in texts)
    assert all(b["type"] != "actions" for b in message.blocks)


def test_without_a_ui_the_merged_card_still_names_it() -> None:
    message = render_card(card(merged_into="incident-orders-db"))
    assert any("`incident-orders-db`" in str(b.get("text", "")) for b in message.blocks)


def test_an_open_card_has_its_buttons_and_no_merge_line() -> None:
    message = render_card(card(status="open"))
    assert any(b["type"] == "actions" for b in message.blocks)
    assert not any("Merged into" in str(b.get("text", "")) for b in message.blocks)


def test_a_demoted_incident_says_on_its_card_why_nobody_was_paged() -> None:
    note = "Demoted to chat only by medic learning: team data opted in; PostgresDown: <never acted on> *x*"
    message = render_card(card(routing_note=note))
    (context,) = [b for b in message.blocks if "mute" in json.dumps(b)]
    text = context["elements"][0]["text"]  # type: ignore[index]
    assert "Demoted to chat only by medic learning" in text
    assert "&lt;never acted on&gt;" in text  # outside text stays text in Slack's mrkdwn
    assert not [b for b in render_card(card()).blocks if "mute" in json.dumps(b)]
