"""Temporal's size limits, as the domain sees them: what must hold for a value that came from an alert
to reach a workflow id, a search attribute or a summary without Temporal refusing it.

Temporal refuses a command over a limit after the API has answered (a search attribute too large
terminates the workflow: "BadSearchAttributes: ... exceeds size limit 2048"), so whatever is derived
from alert labels is bounded here, deterministically, before it is written. Defaults are the Temporal
server's own (docs.temporal.io, "Self-hosted Temporal Service defaults"; dynamic config
``limit.maxIDLength``, ``frontend.searchAttributesSizeOfValueLimit``,
``frontend.maxUserMetadataSummarySize``).

Lists that grow with an incident (its services, a root cause's dependents) are shown to people through
:func:`bounded_join`, so a text's length does not grow with the incident (chat messages have limits
too: :mod:`medic.blockkit`).
"""

import json
from collections.abc import Iterable, Sequence
from typing import TypeVar

from pydantic import BaseModel

__all__ = [
    "SEARCH_ATTRIBUTE_VALUE_BYTES",
    "SUMMARY_BYTES",
    "TITLE_ATTRIBUTE_BYTES",
    "WORKFLOW_ID_BYTES",
    "bounded_join",
    "encoded_size",
    "fit_text",
    "keyword_list_within",
    "leading_within",
    "model_size",
    "runs_within",
]

M = TypeVar("M", bound=BaseModel)

# limit.maxIDLength: workflow ids (and task queue, workflow type).
WORKFLOW_ID_BYTES = 1000
# frontend.searchAttributesSizeOfValueLimit: one attribute's encoded value (a KeywordList: the whole list).
SEARCH_ATTRIBUTE_VALUE_BYTES = 2048
# frontend.maxUserMetadataSummarySize is 400 bytes of payload (metadata included): text kept well inside.
SUMMARY_BYTES = 300
# MedicTitle: a column in the workflow list, long enough for any readable title, short enough for an index.
TITLE_ATTRIBUTE_BYTES = 256


def encoded_size(value: object) -> int:
    """Bytes of ``value`` as the Temporal SDK encodes a search attribute (compact JSON, non-ASCII
    escaped as \\uXXXX, so this is also an upper bound for a UTF-8 encoding of the same value)."""
    return len(json.dumps(value, separators=(",", ":")))


_ELLIPSIS = "…"


def bounded_join(items: Sequence[str], *, budget: int, separator: str = ", ") -> str:
    """``items`` joined, as many as fit in ``budget`` characters, then how many were left out:
    ``"a, b, c … and 77 more"``. The first item is always shown (a part of it, if it alone is too
    long), so the text still says what it is about."""
    shown: list[str] = []
    size = 0
    for i, item in enumerate(items):
        extra = len(item) + (len(separator) if shown else 0)
        if size + extra + len(_more(len(items) - i - 1)) > budget:
            break
        shown.append(item)
        size += extra
    else:
        return separator.join(shown)
    if not shown:
        room = max(1, budget - len(_more(len(items) - 1)) - len(_ELLIPSIS))
        shown = [items[0][:room].rstrip() + _ELLIPSIS]
    return separator.join(shown) + _more(len(items) - len(shown))


def _more(left: int) -> str:
    return f" {_ELLIPSIS} and {left} more" if left else ""


def keyword_list_within(values: Iterable[str], max_bytes: int = SEARCH_ATTRIBUTE_VALUE_BYTES) -> list[str]:
    """The values, in order, that fit one KeywordList search attribute: those that would push the
    encoded list past ``max_bytes`` are left out (a search attribute is for finding an incident; its
    state and memo keep every value)."""
    kept: list[str] = []
    size = 2  # "[]"
    for value in values:
        extra = encoded_size(value) + (1 if kept else 0)
        if size + extra <= max_bytes:
            kept.append(value)
            size += extra
    return kept


def fit_text(text: str, max_bytes: int = SUMMARY_BYTES) -> str:
    """``text`` cut (with an ellipsis) so that it JSON-encodes within ``max_bytes``."""
    if encoded_size(text) <= max_bytes:
        return text
    out: list[str] = []
    size = encoded_size("…")
    for char in text:
        extra = encoded_size(char) - 2
        if size + extra > max_bytes:
            break
        out.append(char)
        size += extra
    return "".join(out).rstrip() + "…"


def leading_within(items: Iterable[M], max_bytes: int) -> list[M]:
    """The leading items whose JSON takes at most ``max_bytes`` together (a query answer, like any
    payload, must stay under Temporal's 2 MB)."""
    kept: list[M] = []
    size = 0
    for item in items:
        size += len(item.__pydantic_serializer__.to_json(item)) + 1
        if size > max_bytes:
            break
        kept.append(item)
    return kept


def model_size(item: BaseModel) -> int:
    """Bytes a model takes in a payload (the data converter's JSON)."""
    return len(item.__pydantic_serializer__.to_json(item))


def runs_within(items: Sequence[M], *, room: int, max_items: int | None = None) -> list[range]:
    """Consecutive runs of items, each at most ``max_items`` long and ``room`` bytes (with the commas
    between them); an item larger than ``room`` on its own goes alone (callers refuse those first)."""
    runs: list[range] = []
    start, size = 0, 0
    for i, item in enumerate(items):
        extra = model_size(item) + 1
        full = max_items is not None and i - start >= max_items
        if i > start and (full or size + extra > room):
            runs.append(range(start, i))
            start, size = i, 0
        size += extra
    runs.append(range(start, len(items)))
    return runs
