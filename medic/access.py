"""Who may run which Medic command: the ``access:`` section of the routing policy.

Commands change live incidents and clusters, so each one is checked against a list of people
kept beside the routing rules (one file, reviewed like them). Entries are Slack user ids, Slack
user-group ids (their members are asked of Slack by the caller) or groups named here, which may
include each other. A setting left out is open to everyone in the workspace, so a new install
works before anyone writes a policy; an empty list closes the command. Refusals say who may,
so the person knows whom to ask instead of filing a ticket.
"""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medic.vocab import Risk
from medic.yamldoc import field_path

__all__ = [
    "ANYONE",
    "OPEN_VERBS",
    "OPERATOR_ACTOR",
    "AccessDecision",
    "AccessPolicy",
    "ApproveAccess",
    "Verb",
]


class Verb(StrEnum):
    HELP = "help"
    LIST = "list"
    SHOW = "show"
    ACK = "ack"
    RESOLVE = "resolve"
    APPROVE = "approve"
    DENY = "deny"
    SILENCE = "silence"
    POSTMORTEM = "postmortem"
    FALSE_POSITIVE = "false_positive"
    KILL_SWITCH = "kill_switch"


OPEN_VERBS = frozenset({Verb.HELP, Verb.LIST, Verb.SHOW, Verb.POSTMORTEM})  # reading is never restricted
ANYONE = "*"
OPERATOR_ACTOR = "api:operator-token"
"""Who an HTTP decision is recorded as (the API's MEDIC_OPERATOR_TOKEN, not a person): list it under
``approve`` to let that credential approve where an approve policy is set."""
_RISKS = list(Risk)
_USER = re.compile(r"[UW][A-Z0-9]{2,30}")
_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,30}")
_MENTION = re.compile(r"<[@!]?(?:subteam\^)?([UWS][A-Z0-9]{2,30})(?:\|[^>]*)?>")
_GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_SHOWN_MEMBERS = 8
_PHRASES = {Verb.FALSE_POSITIVE: "mark alerts as false positives", Verb.KILL_SWITCH: "use the kill switch"}
_ENTRIES = (
    "Slack user ids (U… or W…), Slack user-group ids (S…), groups named under `groups`, "
    "or `*` for everyone. Left out: anyone in the workspace may; `[]`: nobody may."
)

Loc = tuple[str | int, ...]


def _entries(what: str) -> Any:
    return Field(default=None, description=f"who may {what}: {_ENTRIES}")


class ApproveAccess(BaseModel):
    """Approvers per risk level. Approving a level allows every lower one too; a level left out
    here is open only to the approvers of higher levels (closed, not open: approving changes
    the cluster)."""

    model_config = ConfigDict(extra="forbid")

    low: list[str] | None = _entries("approve or deny low-risk actions")
    medium: list[str] | None = _entries("approve or deny medium-risk actions (and low-risk ones)")
    high: list[str] | None = _entries("approve or deny high-risk actions (and every lower risk)")


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str  # a sentence for the person: why, and whom to ask when refused


class AccessPolicy(BaseModel):
    """The ``access:`` section of the routing policy."""

    model_config = ConfigDict(extra="forbid")

    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="named groups (lowercase names) of Slack user ids, user-group ids and other named groups",
    )
    ack: list[str] | None = _entries("acknowledge incidents")
    resolve: list[str] | None = _entries("resolve incidents")
    silence: list[str] | None = _entries("create Alertmanager silences")
    false_positive: list[str] | None = _entries("mark alerts as false positives")
    kill_switch: list[str] | None = _entries("stop or resume automatic remediation")
    approve: list[str] | ApproveAccess | None = Field(
        default=None,
        description="who may approve or deny a remediation waiting for a human: one list for every risk, "
        f"or one per risk level (low, medium, high). {_ENTRIES} `{OPERATOR_ACTOR}` lets the HTTP API's "
        "operator token decide too. Deny follows approve.",
    )

    def check(
        self,
        verb: Verb | str,
        *,
        user: str,
        user_groups: Iterable[str] = (),
        risk: str | None = None,
        external: bool = False,
    ) -> AccessDecision:
        """May ``user`` (member of the Slack user groups ``user_groups``) run ``verb``? ``risk`` is the
        action's for approve and deny; an unknown or missing risk counts as high. ``external``: a person of
        another organisation (a Slack Connect channel), who may only where listed by id (directly or in a
        named group): neither a setting left out nor ``*`` means another company's people."""
        verb = Verb(verb)
        if verb in OPEN_VERBS:
            return AccessDecision(True, f"Anyone may {verb}.")
        sources, setting, what = self._rule(verb, risk)
        if sources is None and external:
            return AccessDecision(
                False,
                f"{user} may not {what}: they are of another organisation (a Slack Connect channel), and "
                f"`access.{setting}` is not set, which opens it to this workspace only. List them by user id "
                "in routing.yaml to let them.",
            )
        if sources is None:
            return AccessDecision(True, f"Anyone may {what}: `access.{setting}` is not set.")
        for source, listed in sources:
            trail = self._grant(listed, user, set(user_groups), (), external=external)
            if trail is not None:
                return AccessDecision(True, self._granted(user, what, trail, source))
        entries = [entry for _, listed in sources for entry in listed]
        if not entries:
            return AccessDecision(
                False,
                f"{user} may not {what}: nobody may, `access.{setting}`"
                + (" and the levels above it name nobody." if "." in setting else " is empty.")
                + " Change it in routing.yaml.",
            )
        return AccessDecision(
            False,
            f"{user} may not {what}: only {self._describe(entries)} may. "
            f"Ask one of them or change `access.{setting}` in routing.yaml.",
        )

    def approvers_by_risk(self) -> dict[str, list[str]] | None:
        """Per risk level, who may approve it, flattened to user ids, Slack group ids and ``*``: what
        the remediation workflow's own check compares a decision against. None: anyone may."""
        out: dict[str, list[str]] = {}
        for level in _RISKS:
            sources, _, _ = self._rule(Verb.APPROVE, level.value)
            if sources is None:
                return None
            flat: list[str] = []
            for _, listed in sources:
                for entry in listed:
                    members = self._members(entry, set()) if entry in self.groups else [entry]
                    flat.extend(m for m in members if m not in flat)
            out[level.value] = flat
        return out

    def slack_groups(self) -> set[str]:
        """Every Slack user-group id the policy names: the groups whose members the caller must ask
        Slack for (none: no Slack call at all)."""
        return {e for _, e in self._all_entries() if e not in self.groups and _SLACK_GROUP.fullmatch(e)}

    def problems(self) -> list[str]:
        """Configuration mistakes, one sentence each, for ``medic check``."""
        return [f"access.{field_path(loc)}: {message}" for loc, message in self.problems_at()]

    def problems_at(self) -> list[tuple[Loc, str]]:
        """:meth:`problems` with each one's place inside ``access`` (to find its line in the file)."""
        found: list[tuple[Loc, str]] = []
        for name in self.groups:
            if not _GROUP_NAME.fullmatch(name):
                found.append(
                    (("groups", name), f"group name `{name}`: use lowercase letters, digits, `-` and `_`, "
                     "starting with a letter, so it cannot be taken for a Slack id")
                )  # fmt: skip
        for loc, entry in self._all_entries():
            message = self._entry_problem(entry)
            if message:
                found.append((loc, message))
        found.extend(
            (("groups", cycle[0]), "groups include each other: " + " → ".join(cycle))
            for cycle in self._cycles()
        )
        return found

    def _rule(self, verb: Verb, risk: str | None) -> tuple[list[tuple[str, list[str]]] | None, str, str]:
        """The settings whose entries allow ``verb`` (None: anyone may), the one to change, and
        what is asked in words."""
        if verb not in (Verb.APPROVE, Verb.DENY):
            listed = getattr(self, verb.value)
            what = _PHRASES.get(verb, verb.value)
            return (None if listed is None else [(verb.value, listed)]), verb.value, what
        level = Risk(risk) if risk in _RISKS else Risk.HIGH
        what = f"{verb} a {level}-risk action"
        if not isinstance(self.approve, ApproveAccess):
            return (None if self.approve is None else [("approve", self.approve)]), "approve", what
        levels = _RISKS[_RISKS.index(level) :]  # approvers of higher risks may approve this one too
        sources = [(f"approve.{r}", getattr(self.approve, r.value) or []) for r in levels]
        return sources, f"approve.{level}", what

    def _grant(
        self,
        entries: list[str],
        user: str,
        groups: set[str],
        trail: tuple[str, ...],
        *,
        external: bool = False,
    ) -> tuple[str, ...] | None:
        """The chain of entries through which ``user`` is allowed, if any (``external``: by id only)."""
        for entry in entries:
            if entry in self.groups:
                if entry not in trail:  # a cycle grants nothing more (and problems() reports it)
                    found = self._grant(self.groups[entry], user, groups, (*trail, entry), external=external)
                    if found is not None:
                        return found
            elif entry == user or (
                not external and (entry == ANYONE or (_SLACK_GROUP.fullmatch(entry) and entry in groups))
            ):
                return (*trail, entry)
        return None

    def _granted(self, user: str, what: str, trail: tuple[str, ...], setting: str) -> str:
        *via, last = trail
        how = (
            "everyone is" if last == ANYONE else f"members of Slack group {last} are" if last != user else ""
        )
        where = f"group {' → '.join(via)}" if via else f"`access.{setting}`"
        return f"{user} may {what}: " + (f"{how} listed in {where}." if how else f"listed in {where}.")

    def _members(self, name: str, seen: set[str]) -> list[str]:
        """A named group flattened to ids (nested groups expanded once each)."""
        seen.add(name)
        out: list[str] = []
        for entry in self.groups.get(name, []):
            nested = self._members(entry, seen) if entry in self.groups and entry not in seen else [entry]
            out.extend(m for m in nested if m not in out and m not in self.groups)
        return out

    def _describe(self, entries: list[str]) -> str:
        parts = []
        for entry in dict.fromkeys(entries):
            if entry in self.groups:
                members = ["everyone" if m == ANYONE else m for m in self._members(entry, set())]
                shown = ", ".join(members[:_SHOWN_MEMBERS]) + (
                    f" and {len(members) - _SHOWN_MEMBERS} more" if len(members) > _SHOWN_MEMBERS else ""
                )
                parts.append(f"{entry} ({shown or 'no members'})")
            elif entry == ANYONE:
                parts.append("everyone")
            elif entry == OPERATOR_ACTOR:
                parts.append("the HTTP API's operator token")
            elif _SLACK_GROUP.fullmatch(entry):
                parts.append(f"members of Slack group {entry}")
            elif _USER.fullmatch(entry):
                parts.append(entry)
            else:
                parts.append(f"`{entry}` (not a defined group)")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]

    def _all_entries(self) -> list[tuple[Loc, str]]:
        lists: list[tuple[Loc, list[str] | None]] = [
            (("groups", name), members) for name, members in self.groups.items()
        ]
        lists += [
            ((verb,), getattr(self, verb))
            for verb in ("ack", "resolve", "silence", "false_positive", "kill_switch")
        ]
        if isinstance(self.approve, ApproveAccess):
            lists += [(("approve", r.value), getattr(self.approve, r.value)) for r in _RISKS]
        else:
            lists.append((("approve",), self.approve))
        return [((*loc, i), entry) for loc, entries in lists for i, entry in enumerate(entries or [])]

    def _entry_problem(self, entry: str) -> str | None:
        if entry in self.groups or entry in (ANYONE, OPERATOR_ACTOR) or _USER.fullmatch(entry):
            return None
        if _SLACK_GROUP.fullmatch(entry):
            return None
        upper = entry.upper()
        if re.search("[0-9]", entry) and (_USER.fullmatch(upper) or _SLACK_GROUP.fullmatch(upper)):
            return f"`{entry}` is not a defined group; Slack ids are in capitals: `{upper}`"
        if _GROUP_NAME.fullmatch(entry):
            close = difflib.get_close_matches(entry, list(self.groups), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"defined: {', '.join(self.groups) or 'none'}"
            return f"`{entry}` is not a group defined under access.groups ({hint})"
        mention = _MENTION.fullmatch(entry)
        if mention:  # pasted from a Slack message
            return f"`{entry}` is a Slack mention; write the bare id `{mention.group(1)}`"
        hint = (
            ": Slack needs the member ID from the person's profile, not a name or email"
            if "@" in entry
            else ""
        )
        return f"`{entry}` is not a Slack user id (U… or W…), user-group id (S…) or defined group{hint}"

    def _cycles(self) -> list[list[str]]:
        cycles: list[list[str]] = []
        done: set[str] = set()

        def visit(name: str, path: list[str]) -> None:
            if name in path:
                cycle = path[path.index(name) :]
                if not any(set(cycle) == set(c[:-1]) for c in cycles):
                    cycles.append([*cycle, name])
                return
            if name in done:
                return
            for entry in self.groups.get(name, []):
                if entry in self.groups:
                    visit(entry, [*path, name])
            done.add(name)

        for name in self.groups:
            visit(name, [])
        return cycles
