"""The incident as people see it in chat: a card model and its Slack Block Kit rendering.

Pure functions, so what Slack shows is unit-tested without Slack. Buttons carry the verbs
of ``/medic`` (CONTRACT.md); their ``value`` is the incident id.
"""

from datetime import datetime

from pydantic import BaseModel, Field

from medic.ports import ChatMessage

__all__ = ["BUTTONS", "STATUS_EMOJI", "IncidentCard", "render_approval", "render_card", "render_note"]

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
            "turns the kill switch off again.",
        },
        "confirm": {"type": "plain_text", "text": "Stop remediation"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    },
}


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
    ui_url: str | None = None
    merged_into_url: str | None = None  # the Temporal UI of the incident it merged into (set by the adapter)


def _mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text}


def render_card(card: IncidentCard) -> ChatMessage:
    emoji = STATUS_EMOJI.get(card.status, ":grey_question:")
    headline = f"{card.priority} · {card.title}"
    status = card.status if not card.acknowledged_by else f"{card.status} (ack by {card.acknowledged_by})"
    if card.merged_into:
        status = f"merged into {card.merged_into}"
    fields = [
        _mrkdwn(f"*Status*\n{emoji} {status}"),
        _mrkdwn(f"*Priority*\n{card.priority} · impact {card.impact:.0f}/100"),
        _mrkdwn(f"*Services*\n{', '.join(card.services) or 'unknown'}"),
        _mrkdwn(f"*Alerts*\n{card.firing_count} firing of {card.alert_count}"),
    ]
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "fields": fields},
    ]
    if card.merged_into:
        target = (
            f"<{card.merged_into_url}|{card.merged_into}>"
            if card.merged_into_url
            else f"`{card.merged_into}`"
        )
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(f"*Merged into {target}*: it shares its cause; follow it there."),
            }
        )
    if card.root_cause:
        reasons = "; ".join(card.root_cause_reasons[:2])
        blocks.append(
            {"type": "section", "text": _mrkdwn(f"*Likely root cause:* `{card.root_cause}` ({reasons})")}
        )
    if card.impact_summary:
        blocks.append(
            {"type": "context", "elements": [_mrkdwn(f"Why {card.priority}: {card.impact_summary}")]}
        )
    links = [
        f"<{card.ui_url}|Timeline in Temporal>" if card.ui_url else "",
        f"<{card.generator_url}|Source graph>" if card.generator_url else "",
    ]
    link_text = " · ".join(x for x in links if x)
    if link_text:
        blocks.append({"type": "context", "elements": [_mrkdwn(f"{link_text} · `{card.incident_id}`")]})
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
    return ChatMessage(text=f"{emoji} {headline} [{status}]", blocks=blocks)


def render_note(text: str) -> ChatMessage:
    """A thread reply: one timeline event."""
    return ChatMessage(text=text, blocks=[{"type": "section", "text": _mrkdwn(text)}])


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
    text = f":warning: Approval needed: {title}"
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": _mrkdwn(f"*Approval needed* ({risk} risk): {title}")},
        {"type": "section", "text": _mrkdwn(f"*Plan:* {plan}")},
        {"type": "context", "elements": [_mrkdwn(f"Why: {why}. Needs a human because {reasons}.")]},
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
    return ChatMessage(text=text, blocks=blocks)
