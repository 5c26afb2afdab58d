"""Slack's Block Kit limits, kept by construction: every message Medic builds for Slack ends in
:func:`fit_message`, and lists that grow with an incident are shortened by
:func:`medic.limits.bounded_join` before that.

Why here, once: Slack refuses a whole message with ``invalid_blocks`` when one piece of it is over a
limit, and Medic treats that answer as permanent. A card over a limit is then never edited again (it
still shows ``open`` and its buttons after resolution) and a first post marks the channel dead. A node
outage that absorbs some 80 services makes a Services field of 2,300 characters and a root cause text
of 2,400, so a long list or a long title must cost characters, never the message.

The limits are Slack's published ones (https://api.slack.com/reference/block-kit/blocks and
https://api.slack.com/reference/block-kit/composition-objects#text; the ``text`` argument of
``chat.postMessage`` is truncated by Slack past 40,000 characters and Slack asks for at most 4,000,
https://api.slack.com/methods/chat.postMessage#truncating). Text is cut on mrkdwn's own terms: never
inside a link or mention (``<https://...|label>``) nor inside an escape (``&amp;``, see
:mod:`medic.mrkdwn`), and an ellipsis shows that something was cut.
"""

from collections.abc import Sequence
from typing import Any

from medic.mrkdwn import Markup
from medic.ports import ChatMessage

__all__ = [
    "BLOCKS_MAX",
    "BLOCK_ID_CHARS",
    "BUTTON_TEXT_CHARS",
    "BUTTON_VALUE_CHARS",
    "CONTEXT_ELEMENTS_MAX",
    "FIELDS_MAX",
    "FIELD_CHARS",
    "HEADER_CHARS",
    "MESSAGE_TEXT_CHARS",
    "TEXT_CHARS",
    "fit_blocks",
    "fit_markup",
    "fit_message",
    "fit_plain",
]

BLOCKS_MAX = 50  # blocks in one message
HEADER_CHARS = 150  # a header block's plain_text
TEXT_CHARS = 3000  # a section's text; any text object (a context element)
FIELD_CHARS = 2000  # each of a section's fields
FIELDS_MAX = 10  # fields in one section
CONTEXT_ELEMENTS_MAX = 10  # elements in one context block
BUTTON_TEXT_CHARS = 75  # a button's plain_text
BUTTON_VALUE_CHARS = 2000  # a button's value
BLOCK_ID_CHARS = 255  # a block_id (Medic reads the button's value, not the block_id)
MESSAGE_TEXT_CHARS = 4000  # the plain ``text`` of a message: Slack's advice, well under its 40,000

_ELLIPSIS = "…"
_ESCAPE_CHARS = len("&amp;")  # the longest escape medic.mrkdwn writes


def fit_plain(text: str, limit: int) -> str:
    """Plain text (a header, a button) of at most ``limit`` characters, an ellipsis where it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(_ELLIPSIS))].rstrip() + _ELLIPSIS


def fit_markup(text: Markup, limit: int) -> Markup:
    """mrkdwn of at most ``limit`` characters, an ellipsis where it was cut: the cut moves back to
    before a link or mention (``<...>``) or an escape (``&...;``) it would have split."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(_ELLIPSIS))]
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    amp = cut.rfind("&", max(0, len(cut) - _ESCAPE_CHARS + 1))
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return Markup(cut.rstrip() + _ELLIPSIS)


def _text(obj: Any, limit: int) -> Any:
    """A text object within ``limit``: mrkdwn cut as markup, plain_text as plain text."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return obj
    text: str = obj["text"]
    if len(text) <= limit:
        return obj
    fitted = fit_markup(Markup(text), limit) if obj.get("type") == "mrkdwn" else fit_plain(text, limit)
    return {**obj, "text": str(fitted)}


def _block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    out = dict(block)
    if isinstance(out.get("block_id"), str) and len(out["block_id"]) > BLOCK_ID_CHARS:
        del out["block_id"]  # Slack makes one; nothing of Medic's reads it
    if kind == "header":
        out["text"] = _text(out.get("text"), HEADER_CHARS)
    elif kind == "section":
        if "text" in out:
            out["text"] = _text(out["text"], TEXT_CHARS)
        if isinstance(out.get("fields"), list):
            out["fields"] = [_text(f, FIELD_CHARS) for f in out["fields"][:FIELDS_MAX]]
    elif kind == "context" and isinstance(out.get("elements"), list):
        out["elements"] = [_text(e, TEXT_CHARS) for e in out["elements"][:CONTEXT_ELEMENTS_MAX]]
    elif kind == "actions" and isinstance(out.get("elements"), list):
        out["elements"] = [
            {**e, "text": _text(e.get("text"), BUTTON_TEXT_CHARS)}
            if isinstance(e, dict) and "text" in e
            else e
            for e in out["elements"]
        ]
    return out


def fit_blocks(blocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` within Slack's limits: every text cut to its limit, at most 10 fields and context
    elements, at most 50 blocks (Medic's builders make about a dozen at most). Button values are
    data, not text, and are left as they are: they carry ids, which have limits of their own."""
    return [_block(b) for b in blocks[:BLOCKS_MAX]]


def fit_message(text: Markup, blocks: Sequence[dict[str, Any]] = ()) -> ChatMessage:
    """The one way out of Medic's Slack builders: blocks and the plain ``text`` within Slack's limits."""
    return ChatMessage(text=fit_markup(text, MESSAGE_TEXT_CHARS), blocks=fit_blocks(blocks))
