"""Where Alertmanager sends an alert: its routing tree walked as ``dispatch/route.go`` walks it, for
``medic doctor`` to say whether a heartbeat (Watchdog) reaches Medic, and how often.

A route matches when all its ``match``, ``match_re`` and ``matchers`` match (regexes anchored, a
missing label read as ""); the first child that matches takes the alert, and later siblings only
while the matching ones say ``continue: true``; a route no child takes is the end itself. Children
inherit ``receiver``, ``group_wait``, ``group_interval`` and ``repeat_interval`` (defaults 30s, 5m,
4h). A matcher this module cannot read (a regex only Go's RE2 takes) makes the walk undecided (None),
never a guess.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = ["RouteEnd", "parse_alertmanager_duration", "route_alert"]

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$')
_DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


class Undecided(ValueError):
    """A route's matcher or duration this module cannot read."""


@dataclass(frozen=True)
class RouteEnd:
    """A route that takes the alert: its receiver, and how often a group still firing is sent again."""

    receiver: str
    group_interval: timedelta
    repeat_interval: timedelta

    @property
    def cadence(self) -> timedelta:
        """How often a firing alert reaches the receiver: a repeat goes out on the first of the group's
        ticks (every group_interval) at which the last notification is older than repeat_interval, and
        the last one was sent a moment after its tick (notify/notify.go's DedupStage): 1m and 1m is a
        notification every 2 minutes."""
        ticks = self.repeat_interval // self.group_interval if self.group_interval else 0
        return self.group_interval * (ticks + 1) if self.group_interval else self.repeat_interval


def parse_alertmanager_duration(text: str) -> timedelta:
    """Prometheus's duration (``1m``, ``4h``, ``1h30m``, ``500ms``, ``1d``)."""
    raw = str(text).strip()
    if not raw or _DURATION.sub("", raw):
        raise Undecided(f"{raw!r} is not a duration")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(raw)))


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _matches(op: str, value: str, have: str) -> bool:
    if op in ("=", "!="):
        return (have == value) == (op == "=")
    try:
        hit = re.fullmatch(value, have) is not None
    except re.error as err:
        raise Undecided(f"a regex Medic cannot read: {value!r} ({err})") from err
    return hit == (op == "=~")


def _route_matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for name, value in (route.get("match") or {}).items():
        if not _matches("=", str(value), labels.get(str(name), "")):
            return False
    for name, value in (route.get("match_re") or {}).items():
        if not _matches("=~", str(value), labels.get(str(name), "")):
            return False
    for entry in route.get("matchers") or []:
        text = str(entry).strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        for part in (p for p in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text) if p.strip()):
            found = _MATCHER.match(part)
            if found is None:
                raise Undecided(f"a matcher Medic cannot read: {part!r}")
            name, op, quoted, bare = found.groups()
            value = _unquote(quoted) if quoted is not None else bare
            if not _matches(op, value, labels.get(name, "")):
                return False
    return True


def _walk(route: dict[str, Any], labels: dict[str, str], inherited: dict[str, str]) -> list[RouteEnd]:
    here = {k: str(route.get(k) or inherited.get(k) or "") for k in ("receiver", *_DEFAULTS)}
    ends: list[RouteEnd] = []
    for child in route.get("routes") or []:
        if not isinstance(child, dict) or not _route_matches(child, labels):
            continue
        ends += _walk(child, labels, here)
        if not child.get("continue"):
            break
    if not ends:
        ends.append(
            RouteEnd(
                receiver=here["receiver"],
                group_interval=parse_alertmanager_duration(here["group_interval"]),
                repeat_interval=parse_alertmanager_duration(here["repeat_interval"]),
            )
        )
    return ends


def route_alert(config: dict[str, Any], labels: dict[str, str]) -> list[RouteEnd] | None:
    """The routes an alert with ``labels`` ends at, in Alertmanager's order; None when the tree holds
    something this module cannot read (the root route matches every alert)."""
    root = config.get("route")
    if not isinstance(root, dict):
        return None
    try:
        return _walk(root, labels, dict(_DEFAULTS))
    except Undecided:
        return None
