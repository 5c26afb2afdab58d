"""Block Kit limits as Slack enforces them on ``chat.postMessage``, ``chat.update`` and
``chat.postEphemeral``: a message with one block over a limit is refused whole, HTTP 200 with
``{"ok": false, "error": "invalid_blocks"}``.

The limits are Slack's published ones, for the blocks and elements Medic sends:
https://api.slack.com/reference/block-kit/blocks (at most 50 blocks; ``block_id`` 255; header text
150; section text 3,000, at most 10 fields of 2,000 each, text or fields required; context elements
1 to 10; actions elements at most 25),
https://api.slack.com/reference/block-kit/block-elements#button (text 75, ``action_id`` 255, ``value``
2,000, ``url`` 3,000),
https://api.slack.com/reference/block-kit/composition-objects#text (a text object holds 1 to 3,000
characters) and #confirm (title 100, text 300, confirm and deny 30).

Not checked: the elements Medic does not send (images, inputs, selects...), ``emoji``/``verbatim``
flags, and block_id uniqueness.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BLOCKS", "blocks_error"]

MAX_BLOCKS = 50
_BLOCK_ID = 255
_TEXT = 3000
_HEADER = 150
_FIELD = 2000
_FIELDS = 10
_CONTEXT_ELEMENTS = 10
_ACTIONS_ELEMENTS = 25
_BUTTON = {"text": 75, "action_id": 255, "value": 2000, "url": 3000}
_CONFIRM = {"title": 100, "text": 300, "confirm": 30, "deny": 30}


class _Invalid(Exception):
    pass


def blocks_error(blocks: Any) -> str | None:
    """Why Slack would refuse ``blocks`` (a readable reason), or None when it would take them."""
    try:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise _Invalid(f"blocks must be a list of at most {MAX_BLOCKS}")
        for i, block in enumerate(blocks):
            _block(i, block)
    except _Invalid as err:
        return str(err)
    return None


def _text(where: str, obj: Any, limit: int, *, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        raise _Invalid(f"{where}: not a text object of type {'/'.join(kinds)}")
    if not 1 <= len(obj["text"]) <= limit:
        raise _Invalid(f"{where}: text must be 1 to {limit} characters, not {len(obj['text'])}")


def _within(where: str, value: Any, limit: int) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise _Invalid(f"{where}: at most {limit} characters")


def _block(i: int, block: Any) -> None:
    where = f"blocks[{i}]"
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _Invalid(f"{where}: not a block")
    _within(f"{where}.block_id", block.get("block_id"), _BLOCK_ID)
    kind = block["type"]
    if kind == "header":
        _text(f"{where}.text", block.get("text"), _HEADER, kinds=("plain_text",))
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            raise _Invalid(f"{where}: a section needs text or fields")
        if "text" in block:
            _text(f"{where}.text", block["text"], _TEXT)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > _FIELDS:
            raise _Invalid(f"{where}.fields: at most {_FIELDS}")
        for j, item in enumerate(fields):
            _text(f"{where}.fields[{j}]", item, _FIELD)
    elif kind == "context":
        for j, element in _elements(where, block, _CONTEXT_ELEMENTS):
            if element.get("type") in ("plain_text", "mrkdwn"):
                _text(f"{where}.elements[{j}]", element, _TEXT)
    elif kind == "actions":
        for j, element in _elements(where, block, _ACTIONS_ELEMENTS):
            if element.get("type") == "button":
                _button(f"{where}.elements[{j}]", element)


def _elements(where: str, block: dict[str, Any], most: int) -> list[tuple[int, dict[str, Any]]]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= most:
        raise _Invalid(f"{where}.elements: 1 to {most}")
    return [(j, e) for j, e in enumerate(elements) if isinstance(e, dict)]


def _button(where: str, button: dict[str, Any]) -> None:
    _text(f"{where}.text", button.get("text"), _BUTTON["text"], kinds=("plain_text",))
    for key in ("action_id", "value", "url"):
        _within(f"{where}.{key}", button.get(key), _BUTTON[key])
    confirm = button.get("confirm")
    if confirm is not None:
        if not isinstance(confirm, dict):
            raise _Invalid(f"{where}.confirm: not a confirmation dialog")
        for key, limit in _CONFIRM.items():
            kinds = ("plain_text", "mrkdwn") if key == "text" else ("plain_text",)
            _text(f"{where}.confirm.{key}", confirm.get(key), limit, kinds=kinds)
