"""The incident as people see it in chat: a card model and its Slack Block Kit rendering.

Pure functions, so what Slack shows is unit-tested without Slack. Buttons carry the verbs
of ``/medic`` (CONTRACT.md); their ``value`` is the incident id. Every value from outside (titles,
labels, notes, reasons) enters the mrkdwn through :func:`medic.mrkdwn.mrkdwn`, escaped.
"""

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field

from medic.blockkit import HEADER_CHARS, TEXT_CHARS, fit_markup, fit_message, fit_plain
from medic.limits import bounded_join
from medic.mrkdwn import Markup, escape, join, link, mrkdwn
from medic.ports import ChatMessage

__all__ = [
    "BUTTONS",
    "STATUS_EMOJI",
    "IncidentCard",
    "card_digest",
    "render_approval",
    "render_approval_decided",
    "render_card",
    "render_note",
]

STATUS_EMOJI = {
    "open": ":rotating_light:",
    "acknowledged": ":eyes:",
    "mitigating": ":hammer_and_wrench:",
    "resolved": ":white_check_mark:",
}
# (action_id, label, style)
BUTTONS = (
    ("medic_ack", "Acknowledge", "primary"),
    ("medic_resolve", "Resolve", None),
    ("medic_silence", "Silence 1h", None),
    ("medic_false_positive", "Mark false positive", None),
)


# For operators (the access policy decides who): stops every remediation that has not acted yet.
_KILL_SWITCH_BUTTON: dict[str, object] = {
    "type": "button",
    "action_id": "medic_kill_switch",
    "text": {"type": "plain_text", "text": "Kill switch"},
    "style": "danger",
    "confirm": {
        "title": {"type": "plain_text", "text": "Stop all remediation?"},
        "text": {
            "type": "mrkdwn",
            "text": "Every remediation that has not acted yet stops, in every incident, until someone "
            "turns the kill switch off again (`/medic killswitch off`).",
        },
        "confirm": {"type": "plain_text", "text": "Stop remediation"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    },
}


_ANOMALY_CHARS = 500  # of a signal's summary on the card (a section's text holds 3,000)
_SELF_HEALING_CHARS = 1000  # the incident keeps at most that much of it
# The services of a large incident (a node outage absorbs dozens) on the card: the first ones that fit,
# then how many more (a field holds 2,000 characters; a card is read at a glance).
_SERVICES_CHARS = 1000


def card_digest(card: "IncidentCard") -> str:
    """What a card shows, in 16 hex digits: an edit to the same is not sent (``notify.chat_update``)."""
    return hashlib.sha256(card.model_dump_json().encode()).hexdigest()[:16]


# How a card names an alert's links (medic.alerts.GRAFANA_LINKS): Grafana's silence link silences it in
# Grafana's own Alertmanager, which holds Grafana-managed alerts (Medic's go to MEDIC_ALERTMANAGER_URL)
LINK_NAMES = {"dashboard": "Dashboard", "panel": "Panel", "silence": "Silence in Grafana"}


class IncidentCard(BaseModel):
    incident_id: str
    title: str
    status: str
    priority: str
    impact: float
    impact_summary: str = ""
    services: list[str] = Field(default_factory=list)
    root_cause: str | None = None
    root_cause_reasons: list[str] = Field(default_factory=list)
    alert_count: int = 0
    firing_count: int = 0
    opened_at: datetime
    acknowledged_by: str | None = None
    merged_into: str | None = None
    generator_url: str | None = None
    # Grafana's links of the first alert that has them: dashboard, panel, silence (medic.alerts)
    links: dict[str, str] = Field(default_factory=dict)
    ui_url: str | None = None
    merged_into_url: str | None = None  # the Temporal UI of the incident it merged into (set by the adapter)
    # Why this card pages nobody although its priority would (Medic's learning demoted its rules).
    routing_note: str | None = None
    # Anomaly signals (a scan's finding, a prediction): how many, and what the latest says. An incident
    # of anomalies only read "Alerts: 0 firing of 0" and nothing of what was found.
    anomaly_count: int = 0
    latest_anomaly: str | None = None
    # Why self-healing handed over (a step another controller would undo, what was tried): on the card, so
    # a channel that joined late (quiet hours held the post) reads it too, not only the thread.
    self_healing: str | None = None


def _mrkdwn(text: Markup) -> dict[str, object]:
    """A mrkdwn text object: only :class:`Markup`, so every outside value went through ``mrkdwn()``."""
    return {"type": "mrkdwn", "text": text}


def render_card(card: IncidentCard) -> ChatMessage:
    emoji = STATUS_EMOJI.get(card.status, ":grey_question:")
    # plain_text in the header: Slack shows it literally
    headline = fit_plain(f"{card.priority} · {card.title}", HEADER_CHARS)
    status = card.status if not card.acknowledged_by else f"{card.status} (ack by {card.acknowledged_by})"
    if card.merged_into:
        status = f"merged into {card.merged_into}"
    services = bounded_join(card.services, budget=_SERVICES_CHARS)
    fields = [
        _mrkdwn(mrkdwn("*Status*\n{emoji} {status}", emoji=emoji, status=status)),
        _mrkdwn(mrkdwn("*Priority*\n{p} · impact {i:.0f}/100", p=card.priority, i=card.impact)),
        _mrkdwn(mrkdwn("*Services*\n{services}", services=services or "unknown")),
    ]
    if card.alert_count or not card.anomaly_count:
        fields.append(_mrkdwn(mrkdwn("*Alerts*\n{f} firing of {n}", f=card.firing_count, n=card.alert_count)))
    if card.anomaly_count:
        fields.append(_mrkdwn(mrkdwn("*Anomalies*\n{n}", n=card.anomaly_count)))
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    if card.latest_anomaly:
        text = mrkdwn("*Latest anomaly:* {what}", what=card.latest_anomaly[:_ANOMALY_CHARS])
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if card.merged_into:
        target = (
            link(card.merged_into_url, card.merged_into)
            if card.merged_into_url
            else mrkdwn("`{id}`", id=card.merged_into)
        )
        text = mrkdwn("*Merged into {target}*: it shares its cause; follow it there.", target=target)
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if card.root_cause:
        reasons = "; ".join(card.root_cause_reasons[:2])
        text = mrkdwn("*Likely root cause:* `{cause}` ({reasons})", cause=card.root_cause, reasons=reasons)
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if card.impact_summary:
        text = mrkdwn("Why {p}: {summary}", p=card.priority, summary=card.impact_summary)
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    if card.routing_note:
        text = mrkdwn(":mute: {note}", note=card.routing_note)
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    if card.self_healing and card.status != "resolved":
        text = mrkdwn("*Self-healing:* {what}", what=card.self_healing[:_SELF_HEALING_CHARS])
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    links = [
        link(card.ui_url, "Timeline in Temporal") if card.ui_url else None,
        link(card.generator_url, "Source graph") if card.generator_url else None,
        *(link(url, LINK_NAMES[k]) for k, url in card.links.items() if k in LINK_NAMES),
    ]
    link_text = join(" · ", [x for x in links if x])
    if link_text:
        text = mrkdwn("{links} · `{id}`", links=link_text, id=card.incident_id)
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    if card.status != "resolved" and not card.merged_into:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"medic:{card.incident_id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action,
                        "text": {"type": "plain_text", "text": label},
                        "value": card.incident_id,
                        **({"style": style} if style else {}),
                    }
                    for action, label, style in BUTTONS
                ]
                + [_KILL_SWITCH_BUTTON | {"value": f"on|{card.incident_id}"}],
            }
        )
    fallback = mrkdwn("{emoji} {headline} [{status}]", emoji=emoji, headline=headline, status=status)
    return fit_message(fallback, blocks)


def render_note(text: str, *, link_url: str | None = None, link_text: str = "open it") -> ChatMessage:
    """A thread reply: one timeline event, shown as the text it is (plus a link Medic made, if any).
    A long text is cut before the link, so the link stays."""
    if not link_url:
        note = escape(text)
    else:
        after = link(link_url, link_text)
        note = mrkdwn("{text} {link}", text=fit_markup(escape(text), TEXT_CHARS - len(after) - 1), link=after)
    return fit_message(note, [{"type": "section", "text": _mrkdwn(note)}])


def render_approval(
    *,
    remediation_id: str,
    step: int,
    title: str,
    plan: str,
    risk: str,
    why: str,
    reasons: str,
    run_id: str,
) -> ChatMessage:
    """The approval request for one remediation step: what, where, why, risk, how to undo. The buttons
    name the run and step, so a button left over from an earlier request cannot decide a later one."""
    value = f"{remediation_id}:{step}:{run_id}"
    text = mrkdwn(":warning: Approval needed: {title}", title=title)
    blocks: list[dict[str, object]] = [
        {
            "type": "section",
            "text": _mrkdwn(mrkdwn("*Approval needed* ({risk} risk): {t}", risk=risk, t=title)),
        },
        {"type": "section", "text": _mrkdwn(mrkdwn("*Plan:* {plan}", plan=plan))},
        {
            "type": "context",
            "elements": [
                _mrkdwn(mrkdwn("Why: {why}. Needs a human because {reasons}.", why=why, reasons=reasons))
            ],
        },
        {
            "type": "actions",
            "block_id": f"medic-approval:{value}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "medic_approve",
                    "style": "primary",
                    "value": value,
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "medic_deny",
                    "style": "danger",
                    "value": value,
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
    ]
    return fit_message(text, blocks)


def render_approval_decided(*, title: str, plan: str, risk: str, outcome: str) -> ChatMessage:
    """An approval request once it is no longer waiting: what was asked and what became of it (approved,
    denied, timed out, no longer needed), without its buttons, so nobody presses a stale one."""
    text = mrkdwn("Approval for {title}: {outcome}", title=title, outcome=outcome)
    blocks: list[dict[str, object]] = [
        {
            "type": "section",
            "text": _mrkdwn(mrkdwn("*Approval* ({risk} risk): {t}", risk=risk, t=title)),
        },
        {"type": "section", "text": _mrkdwn(mrkdwn("*Plan:* {plan}", plan=plan))},
        {"type": "context", "elements": [_mrkdwn(mrkdwn("{outcome}", outcome=outcome))]},
    ]
    return fit_message(text, blocks)
