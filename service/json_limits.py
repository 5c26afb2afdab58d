"""JSON from requests, parsed with its nesting depth bounded: the one place every route's JSON goes
through (webhooks, Slack's ``payload`` field, the control routes' bodies).

Python's parser recurses once per level, so JSON nested a thousand levels deep ends in a
``RecursionError`` (a 500) instead of a clear refusal. No payload Medic takes nests deeper than a
handful of levels; :data:`MAX_JSON_DEPTH` leaves room for any sender's extras and refuses the rest.

The Alertmanager webhook is parsed and validated in one pass by pydantic-core (half the CPU of parsing
first), whose parser has its own bound, :data:`PYDANTIC_JSON_DEPTH` (and never recurses in Python);
what it accepts beyond 64 levels can only be in fields Medic ignores. Scanning 4 MiB deliveries for
depth first would cost more than parsing them."""

import json
import re
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "PYDANTIC_JSON_DEPTH",
    "JSONTooDeep",
    "LoneSurrogate",
    "json_depth_exceeds",
    "load_json_bounded",
]

MAX_JSON_DEPTH = 64
"""Most arrays and objects nested in one another that a request body may carry (``[[1]]`` is 2)."""

PYDANTIC_JSON_DEPTH = 200
"""How deep pydantic-core's JSON parser nests before it refuses (its own constant, about 200 levels
whatever the innermost value; a test pins it)."""


class JSONTooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (the limit, MAX_JSON_DEPTH)")


class LoneSurrogate(json.JSONDecodeError):
    """A ``\\ud800``-``\\udfff`` escape without its pair: Python's parser takes it, but it is no text (it
    cannot be encoded as UTF-8, which every label check, payload and log line does). A
    ``JSONDecodeError``, so every route refuses it as invalid JSON (422), never a 500."""

    def __init__(self, doc: str, pos: int) -> None:
        super().__init__("a \\u escape of half a UTF-16 surrogate pair, which is no character", doc, pos)


_SURROGATE_ESCAPE = re.compile(rb"\\[uU]([dD][89a-fA-F][0-9a-fA-F]{2})")


def _lone_escape_at(encoded: bytes) -> int:
    """Where the first unpaired surrogate escape is, for the message (0 when it cannot be told)."""
    paired_until = -1
    for m in _SURROGATE_ESCAPE.finditer(encoded):
        if m.start() < paired_until:
            continue
        high = int(m.group(1), 16) < 0xDC00
        after = _SURROGATE_ESCAPE.match(encoded, m.end())
        if high and after is not None and int(after.group(1), 16) >= 0xDC00:
            paired_until = after.end()
            continue
        return m.start()
    return 0


def _lone_surrogate(data: Any) -> bool:
    """Whether a string (or key) in parsed JSON holds a lone surrogate; iterative."""
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if any("\ud800" <= c <= "\udfff" for c in node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def json_depth_exceeds(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests more than ``limit`` containers; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def load_json_bounded(raw: bytes | str) -> Any:
    """``json.loads`` that refuses deep nesting with :class:`JSONTooDeep` (never ``RecursionError``).
    Invalid JSON raises ``json.JSONDecodeError`` (and bytes that are not UTF-8 ``UnicodeDecodeError``)
    as ``json.loads`` does."""
    opening = raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes) else raw.count("[") + raw.count("{")
    try:
        data = json.loads(raw)
    except RecursionError as err:  # the parser's own stack ran out long after our limit
        raise JSONTooDeep() from err
    if opening > MAX_JSON_DEPTH and json_depth_exceeds(data):
        raise JSONTooDeep()
    encoded = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    # only a body that escapes one is walked (a valid pair, an emoji, is one character once parsed)
    if _SURROGATE_ESCAPE.search(encoded) and _lone_surrogate(data):
        raise LoneSurrogate(encoded.decode("utf-8", "replace"), _lone_escape_at(encoded))
    return data
