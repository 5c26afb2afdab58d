"""Every message Medic builds for Slack fits Block Kit's limits, whatever the incident's size or text:
a node outage that absorbed 80 services, a root cause with 80 dependents, long titles, notes and
approval plans, hostile text. The oracle is the Slack double's own check (tests/doubles/slack_blocks.py,
Slack's published limits), and the visible text still says how many were left out."""

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from medic.blockkit import MESSAGE_TEXT_CHARS, fit_blocks, fit_markup
from medic.cards import render_approval, render_card, render_note
from medic.limits import bounded_join
from medic.mrkdwn import Markup, escape, link
from medic.ports import ChatMessage
from service.chat.replies import Reply, render_show
from service.incidents import IncidentDetail
from tests.doubles.slack_blocks import blocks_error
from tests.support.large_incident import HOSTILE, LONG_URL, NODE, SERVICES, T0, card, node_outage_root_cause


def within_limits(message: ChatMessage | Reply) -> list[dict[str, Any]]:
    assert blocks_error(message.blocks) is None, blocks_error(message.blocks)
    assert len(message.text) <= MESSAGE_TEXT_CHARS
    return message.blocks


def texts(blocks: list[dict[str, Any]]) -> str:
    """The mrkdwn of the blocks (a header is plain_text: Slack shows it literally)."""
    found: list[str] = []
    for block in blocks:
        if block["type"] == "header":
            continue
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                found.append(obj["text"])
    return "\n".join(found)


def test_bounded_join_says_how_many_were_left_out() -> None:
    assert bounded_join(["a", "b", "c"], budget=100) == "a, b, c"
    text = bounded_join(SERVICES, budget=200)
    assert len(text) <= 200 and text.startswith(SERVICES[0] + ", ")
    shown = text.split(" … and ")[0].split(", ")
    assert text.endswith(f" … and {80 - len(shown)} more")
    one = bounded_join(["x" * 500, "y"], budget=50)
    assert len(one) <= 50 and one.startswith("xxx") and one.endswith("… and 1 more")
    assert bounded_join([], budget=10) == ""


def test_a_card_with_80_services_fits_and_counts_the_rest() -> None:
    reasons = node_outage_root_cause()
    assert len(reasons[0]) < 1100 and reasons[0].startswith("80 failing service(s) depend on it: ")
    assert re.search(r" … and \d+ more$", reasons[0])
    for status in ("open", "resolved"):
        blocks = within_limits(render_card(card(status=status, root_cause=NODE, root_cause_reasons=reasons)))
        shown = texts(blocks)
        assert re.search(r"\*Services\*\n.* … and \d+ more", shown)
        assert "80 failing service(s) depend on it" in shown


def test_long_titles_summaries_and_hostile_text_fit_the_card() -> None:
    long = HOSTILE * 40
    message = render_card(
        card(
            title=long,
            impact_summary=long,
            routing_note=long,
            latest_anomaly=long,
            self_healing=long,
            acknowledged_by=long,
            root_cause=long,
            root_cause_reasons=[long, long],
            services=[long] * 90,
            ui_url=LONG_URL,
            generator_url=LONG_URL,
        )
    )
    blocks = within_limits(message)
    assert blocks[0]["text"]["text"].endswith("…")
    assert_inert(texts(blocks) + message.text)


def assert_inert(text: str) -> None:
    """No mention and no escape cut in half: every ``<`` opens one of Medic's own links, every ``&``
    starts a whole escape."""
    assert "<!" not in text and "<@" not in text
    assert re.fullmatch(r"[^<]*(<https?://[^<>|]+\|[^<>]*>[^<]*)*", text, flags=re.DOTALL), text[-200:]
    assert not re.search(r"&(?!amp;|lt;|gt;)", text), text


def test_notes_and_root_cause_replies_fit_and_keep_their_link() -> None:
    reasons = node_outage_root_cause()
    entry = f"Most likely root cause is now {NODE}: {'; '.join(reasons)}."
    within_limits(render_note(entry))
    long = render_note(HOSTILE * 200, link_url="https://medic.example/pm", link_text="postmortem")
    blocks = within_limits(long)
    assert texts(blocks).endswith("… <https://medic.example/pm|postmortem>")
    assert_inert(texts(blocks) + long.text)


def test_an_approval_request_with_a_long_plan_fits() -> None:
    message = render_approval(
        remediation_id="incident-node-x:drain",
        step=1,
        title=HOSTILE * 30,
        plan=", ".join(SERVICES) * 3,
        risk="high",
        why=HOSTILE * 30,
        reasons=HOSTILE * 30,
        run_id="run-1",
    )
    assert_inert(texts(within_limits(message)) + message.text)


def test_a_show_answer_for_80_services_fits() -> None:
    detail = IncidentDetail(
        id="incident-node-x",
        title=HOSTILE,
        status="open",
        priority="P2",
        impact=70.0,
        services=[NODE, *SERVICES],
        opened_at=T0,
        alert_count=81,
        severity="critical",
        alerts=[],
        anomalies=[],
        timeline=[],
    )
    reply = render_show(detail, ui_url=LONG_URL, now=T0)
    assert re.search(r"services .* … and \d+ more", texts(within_limits(reply)))


def test_the_guard_never_cuts_inside_a_link_or_an_escape() -> None:
    text = Markup("x" * 2990 + link("https://example.com/" + "a" * 50, "label"))
    cut = fit_markup(text, 3000)
    assert cut == "x" * 2990 + "…"
    cut = fit_markup(Markup("y" * 2997 + escape("&&")), 3000)
    assert cut == "y" * 2997 + "…"
    blocks = fit_blocks([{"type": "section", "fields": [{"type": "mrkdwn", "text": "z"}] * 12}])
    assert len(blocks[0]["fields"]) == 10


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=6000), st.lists(st.text(min_size=1, max_size=300), max_size=120))
def test_any_text_renders_within_the_limits(value: str, services: list[str]) -> None:
    message = render_card(
        card(
            title=value, services=services, impact_summary=value, root_cause=value, root_cause_reasons=[value]
        )
    )
    within_limits(message)
    within_limits(render_note(value, link_url="https://medic.example/x"))
