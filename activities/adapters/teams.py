"""Microsoft Teams through Workflows (Power Automate) webhooks, one URL per channel: incident cards as
Adaptive Cards, updates as follow-up posts.

Why Workflows and not a bot: Office 365 connectors (the old "Incoming Webhook") are being retired; a
Workflows webhook ("Send webhook alerts to a channel" template) takes
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <AdaptiveCard>}]}`` and answers 202 before the flow runs, with no message id. So a card
cannot be edited in place and ``Action.Submit`` buttons have nowhere to go: each change is a new post,
and the card's only actions open URLs (the incident in Medic, the Temporal UI, the alert's source).
In-place updates and ack/resolve buttons need a Bot Framework app (Azure Bot registration, a Teams app
manifest, a messaging endpoint verifying Bot Framework JWTs, ``updateActivity`` with the conversation
and activity ids kept per incident): docs/notifications.md says what it would take.

The webhook URLs carry a signature (``sig=``) and are secrets: they are looked up here by channel name
(MEDIC_TEAMS_WEBHOOKS), so only names enter workflow history.

Escaping: outside text (titles, services, labels, notes) is never put in a ``TextBlock`` (which renders
Markdown) but in ``TextRun`` s of a ``RichTextBlock``, which Teams shows literally; ``{{`` is broken with
a zero-width space so Adaptive Card date/time functions (``{{DATE(...)}}``) do not run, and control
characters are dropped. Failures go through :func:`activities.adapters.http.classify`.
"""

import re
import threading
from typing import Any

import httpx

from activities.adapters.http import classify
from medic.cards import LINK_NAMES, IncidentCard
from medic.limits import bounded_join
from medic.ports import MessageRef, PermanentError
from medic.vocab import Priority

__all__ = ["TeamsChat", "adaptive_card", "literal"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_TEXT = 2000
# Lists that grow with an incident: the first that fit, then how many more. With every run bounded
# (``literal``), a card stays far under Teams' message limit (about 28 KB).
_SERVICES_CHARS = 1000
_REASONS_CHARS = 1500
_PRIORITY_COLOR: dict[str, str] = {
    Priority.P1: "Attention",
    Priority.P2: "Attention",
    Priority.P3: "Warning",
    Priority.P4: "Default",
    Priority.P5: "Default",
}


def literal(text: str, limit: int = _MAX_TEXT) -> str:
    """Outside text for a TextRun: shown as it is."""
    return _CONTROL.sub("", text)[:limit].replace("{{", "{\u200b{")


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": literal(text) or "-", **style}


def _line(label: str, value: str) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [_run(f"{label}: ", weight="Bolder"), _run(value)]}


def _open(title: str, url: str | None) -> list[dict[str, Any]]:
    return [{"type": "Action.OpenUrl", "title": title, "url": url}] if url and url.startswith("http") else []


def adaptive_card(card: IncidentCard) -> dict[str, Any]:
    status = f"merged into {card.merged_into}" if card.merged_into else card.status
    if card.acknowledged_by and not card.merged_into:
        status = f"{status} (ack by {card.acknowledged_by})"
    body: list[dict[str, Any]] = [
        {
            "type": "RichTextBlock",
            "inlines": [
                _run(
                    f"{card.priority} · ",
                    weight="Bolder",
                    color=_PRIORITY_COLOR.get(card.priority, "Default"),
                ),
                _run(card.title, weight="Bolder", size="Large"),
            ],
        },
        _line("Status", status),
        _line("Impact", f"{card.impact:.0f}/100 {card.impact_summary}".strip()),
        _line("Services", bounded_join(card.services, budget=_SERVICES_CHARS) or "unknown"),
    ]
    if card.alert_count or not card.anomaly_count:
        body.append(_line("Alerts", f"{card.firing_count} firing of {card.alert_count}"))
    if card.anomaly_count:
        body.append(_line("Anomalies", str(card.anomaly_count)))
    if card.latest_anomaly:
        body.append(_line("Latest anomaly", card.latest_anomaly[:500]))
    if card.root_cause:
        reasons = bounded_join(card.root_cause_reasons, budget=_REASONS_CHARS, separator="; ")
        why = f" ({reasons})" if reasons else ""
        body.append(_line("Likely root cause", card.root_cause + why))
    if card.routing_note:
        body.append(_line("Not paged", card.routing_note))
    if card.self_healing and card.status != "resolved":
        body.append(_line("Self-healing", card.self_healing[:1000]))
    actions = [
        *_open("Open in the Temporal UI", card.ui_url),
        *_open("Merged into", card.merged_into_url),
        *_open("Alert source", card.generator_url),
        *(b for k, url in card.links.items() if k in LINK_NAMES for b in _open(LINK_NAMES[k], url)),
    ]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def _note_card(text: str, link_url: str | None, link_text: str) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "RichTextBlock", "inlines": [_run(text)]}],
    }
    if link_url and link_url.startswith("http"):
        content["actions"] = _open(literal(link_text, 100) or "open it", link_url)
    return content


def _message(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


class TeamsChat:
    def __init__(self, webhooks: dict[str, str], *, timeout: float = 10.0) -> None:
        self._webhooks = dict(webhooks)
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout)
            return self._client

    def _post(self, channel: str, content: dict[str, Any]) -> MessageRef:
        url = self._webhooks.get(channel)
        if not url:
            raise PermanentError(f"no Teams Workflows webhook named {channel!r} (MEDIC_TEAMS_WEBHOOKS)")
        what = f"post to the Teams channel {channel}"
        try:
            response = self._http().post(url, json=_message(content))
        except httpx.HTTPError as err:
            raise classify(None, service="Teams", what=what, detail=type(err).__name__) from err
        if response.status_code >= 300:
            # Never the URL in the message: it carries the webhook's signature.
            raise classify(
                response.status_code, service="Teams", what=what, headers=dict(response.headers), detail=""
            )
        # Workflows answers 202 with no id: a post cannot be referred to again.
        return MessageRef(kind="teams", channel=channel, id="")

    def post_card(self, channel: str, card: IncidentCard) -> MessageRef:
        return self._post(channel, adaptive_card(card))

    def post_note(
        self, channel: str, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef:
        return self._post(channel, _note_card(text, link_url, link_text))
