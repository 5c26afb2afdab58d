"""Issue 13: text from outside reaches Slack as text. Label values such as ``<!channel>`` or
``<https://evil.example|click>`` must not become mentions or links in cards, thread replies, approval
requests or command replies; the links Medic builds stay links (http and https only)."""

import json
from datetime import UTC, datetime

import pytest

from medic.cards import IncidentCard, render_approval, render_card, render_note
from medic.mrkdwn import Markup, escape, link, mrkdwn
from medic.ports import ChatMessage
from medic.timeline import TimelineEntry
from service.chat.replies import Reply, render_list, render_show
from service.chat.runner import ChatRunner, SlackUser
from service.incidents import IncidentDetail, IncidentSummary

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<https://evil.example|click here>",
    "<javascript:alert(1)|x>",
    "<@U0BOSS>",
]
EVIL = " ".join(HOSTILE) + " & co"
ESCAPED = (
    "&lt;!channel&gt; &lt;!here&gt; &lt;https://evil.example|click here&gt; "
    "&lt;javascript:alert(1)|x&gt; &lt;@U0BOSS&gt; &amp; co"
)


def sent(message: ChatMessage | Reply) -> str:
    """Everything Slack would parse as mrkdwn: the fallback text and every text object."""
    texts = [message.text]

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn":
                texts.append(str(value["text"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.blocks)
    return "\n".join(texts)


def assert_inert(text: str) -> None:
    for hostile in HOSTILE:
        assert hostile not in text
    assert ESCAPED in text or "&lt;!channel&gt;" in text


def test_escape_and_templates() -> None:
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert escape(Markup("<!here>")) == "<!here>"  # Medic's own markup passes as it is
    assert mrkdwn("*{a}* {n:.0f}% {b}", a="<!here>", n=12.4, b=link("https://x.example", "x")) == (
        "*&lt;!here&gt;* 12% <https://x.example|x>"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://grafana.example/d/x?a=1&b=2", "<https://grafana.example/d/x?a=1&amp;b=2|graph>"),
        ("https://evil.example/a|<!channel>", "<https://evil.example/a%7C&lt;!channel&gt;|graph>"),
        ("javascript:alert(1)", "graph"),
        ("data:text/html,<script>", "graph"),
        ("/relative/path", "graph"),
        (None, "graph"),
    ],
)
def test_links_are_http_only_and_cannot_break_out(url: str | None, expected: str) -> None:
    assert link(url, "graph") == expected


def test_card_escapes_every_value_from_outside() -> None:
    card = IncidentCard(
        incident_id="incident-checkout",
        title=f"HighErrorRate {EVIL}",
        status="open",
        priority="P2",
        impact=60.0,
        impact_summary=EVIL,
        services=[EVIL],
        root_cause=EVIL,
        root_cause_reasons=[EVIL],
        acknowledged_by=EVIL,
        opened_at=NOW,
        generator_url="javascript:alert(document.cookie)",
        ui_url="http://temporal.example/namespaces/default/workflows/incident-checkout",
    )
    text = sent(render_card(card))
    assert_inert(text)
    assert ESCAPED in text
    assert (
        "<http://temporal.example/namespaces/default/workflows/incident-checkout|Timeline in Temporal>"
        in text
    )
    assert "document.cookie" not in text and "Source graph" in text  # not http(s): the label, no link


def test_thread_note_and_approval_are_escaped_and_medics_link_stays_a_link() -> None:
    note = render_note(
        f":memo: Postmortem draft: {EVIL}", link_url="https://medic.example/pm", link_text="open"
    )
    assert_inert(sent(note))
    assert sent(note).startswith(f":memo: Postmortem draft: {ESCAPED} <https://medic.example/pm|open>")
    approval = render_approval(
        remediation_id="remediate-x",
        step=0,
        title=EVIL,
        plan=EVIL,
        risk="low",
        why=EVIL,
        reasons=EVIL,
        run_id="r1",
    )
    assert_inert(sent(approval))


def test_command_replies_are_escaped() -> None:
    summary = IncidentSummary(
        id="incident-checkout",
        title=EVIL,
        status="open",
        priority="P2",
        impact=50.0,
        services=[EVIL],
        opened_at=NOW,
        alert_count=1,
    )
    assert_inert(sent(render_list([summary], heading="Open incidents", now=NOW)))
    detail = IncidentDetail(
        **summary.model_dump(),
        severity="critical",
        alerts=[],
        anomalies=[],
        timeline=[TimelineEntry(at=NOW, kind="command.note", actor="U1", message=EVIL)],
    )
    shown = sent(render_show(detail, ui_url="https://temporal.example/i", now=NOW))
    assert_inert(shown)
    assert "<https://temporal.example/i|Full timeline in Temporal>" in shown


def test_a_long_reply_is_not_cut_inside_an_escape() -> None:
    summaries = [
        IncidentSummary(
            id=f"incident-{i}",
            title="<" * 300,
            status="open",
            priority="P3",
            impact=1.0,
            services=[],
            opened_at=NOW,
            alert_count=1,
        )
        for i in range(15)
    ]
    reply = render_list(summaries, heading="Open incidents", now=NOW)
    section = json.dumps(reply.blocks)
    text = reply.blocks[0]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("&lt;…"), section[-40:]


async def test_a_command_error_echoing_what_was_typed_is_escaped() -> None:
    """A parse error quotes the text typed; the reply must not turn it into a mention."""
    runner = ChatRunner(
        client=None,  # type: ignore[arg-type]  # a parse error needs nothing else
        settings=None,  # type: ignore[arg-type]
        reader=None,  # type: ignore[arg-type]
        controls=None,  # type: ignore[arg-type]
        authorizer=None,  # type: ignore[arg-type]
        silences=None,
    )
    for typed in ("show <!channel>", "help <!here>"):
        reply = await runner.command(typed, user=SlackUser(id="U1"))
        assert "<!" not in reply.text and "&lt;!" in reply.text, reply.text
