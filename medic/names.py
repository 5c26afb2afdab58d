"""People's names beside their Slack ids.

Whoever acts through Slack is recorded by their Slack user id (``U0BOB``): it is what comparisons use
("already acknowledged by you", one false-positive mark per person) and what Slack itself shows as the
person's name in a ``<@U0BOB>`` mention. Everywhere else (the postmortem, the incident's JSON, Jira
comments, Teams, pager notes) the id means nothing to a reader: there the person is written by the name
their request carried (``IncidentState.names``, id -> name). An id no request named stays as it is.

Pure: no I/O. The name itself is read from Slack by the API (``service.chat.names``)."""

import re
from collections.abc import Mapping

__all__ = ["MAX_NAME", "MAX_NAMES", "SLACK_USER_ID", "clean_name", "empty", "name_of", "named_text"]

# A Slack user id (U…, or W… on Enterprise Grid): the only actors a name is kept for.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
MAX_NAME = 80  # characters of a name kept (Slack's display names are at most 80)
MAX_NAMES = 200  # names an incident keeps: people acting on one incident, with room to spare
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = r"[A-Za-z0-9_]"


def empty(value: object) -> bool:
    """For ``Field(exclude_if=empty)``: a name field (or map) left empty is not serialized at all, so a
    payload (and a state) without names is byte for byte what it was before names existed."""
    return not value


def clean_name(name: str) -> str:
    """A name as Medic keeps it: on one line, without control characters, at most :data:`MAX_NAME`."""
    return " ".join(_CONTROL.sub(" ", name).split())[:MAX_NAME].strip()


def name_of(actor: str, names: Mapping[str, str]) -> str:
    """The person's name when ``actor`` is an id with a known name; else ``actor`` as it is."""
    return names.get(actor) or actor


def named_text(text: str, names: Mapping[str, str]) -> str:
    """``text`` with each known id, as a word of its own, written as the person's name
    ("Acknowledged by U0BOB (slack)." -> "Acknowledged by Bob Smith (slack)."); unchanged without names."""
    if not names or not text:
        return text
    known = sorted((n for n in names if n in text), key=len, reverse=True)
    if not known:
        return text
    pattern = re.compile(rf"(?<!{_WORD})(?:{'|'.join(re.escape(n) for n in known)})(?!{_WORD})")
    return pattern.sub(lambda m: names[m.group()], text)
