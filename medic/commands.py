"""``/medic ...`` chat commands: one line of free text in, a typed command out.

Pure and fast because Slack gives the API three seconds to answer, and strict because a
command acts on a live incident: anything not understood is refused with a message that
says what was wrong, the usage line and an example, so the person can retype it at 3 a.m.
without opening the docs. :func:`parse_command` raises only :class:`CommandError`. Matchers and
durations (``/medic silence``) are parsed by :mod:`medic.matchers`.
"""

import difflib
import re
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from medic.feedback import Matcher
from medic.incident import IncidentStatus
from medic.keys import INCIDENT_ID_PATTERN
from medic.matchers import (
    DURATION,
    DURATION_HELP,
    MATCHER_HELP,
    MATCHER_USAGE,
    CommandError,
    parse_duration,
    parse_matchers,
    shown,
    silence_spans,
)
from medic.redact import redact
from medic.vocab import Priority

__all__ = [
    "COMMAND_ADAPTER",
    "DECISION_REASON_MAX",
    "HELP_TEXT",
    "ID_PATTERN",
    "Ack",
    "Approve",
    "Command",
    "CommandError",
    "Deny",
    "Heartbeats",
    "Help",
    "Insights",
    "KillSwitch",
    "List",
    "Postmortem",
    "Resolve",
    "Show",
    "Silence",
    "help_for",
    "normalize_text",
    "parse_command",
    "unknown_list_filter",
]

ID_PATTERN = INCIDENT_ID_PATTERN.pattern  # the ids medic.keys makes, and no others
_ID = re.compile(ID_PATTERN[1:-1])
_ACTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9._-]{0,100}")
_WORD = re.compile(r"\S+")
_STATUSES = tuple(s.value for s in IncidentStatus)  # the contract's MedicStatus values
_TEXT_MAX = 1000  # reasons and comments: what the timeline and Alertmanager keep
DECISION_REASON_MAX = 500  # what a remediation's Decision keeps (workflows.remediation; a test pins both)

# Slack (and phones) "improve" what people type: curly quotes, non-breaking spaces, dashes.
_SMART = str.maketrans(
    {
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
        **dict.fromkeys("\u00a0\u2007\u202f", " "),
    }
)
_LONE_DASH = re.compile(r"(?<!\S)[\u2013\u2014](?!\S)")


def _redacted(limit: int) -> AfterValidator:
    """Free text a person typed (a reason, a comment) is redacted as the command is built, before it
    goes anywhere (an incident's or a remediation's history, Alertmanager's silence), then held to
    its bound again (redaction can lengthen a text)."""
    return AfterValidator(lambda text: redact(text)[:limit])


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


IncidentId = Annotated[str, Field(pattern=ID_PATTERN, description="workflow id, e.g. incident-checkout")]


class Help(_Command):
    verb: Literal["help"] = "help"
    topic: str | None = Field(default=None, description="a verb to explain; None for the overview")


class List(_Command):
    verb: Literal["list"] = "list"
    status: str | None = None
    service: str | None = None
    priority: Priority | None = Field(default=None, description="P1..P5")
    include_resolved: bool = Field(default=False, description="`list all`: resolved incidents too")


class Show(_Command):
    verb: Literal["show"] = "show"
    incident_id: IncidentId


class Ack(_Command):
    verb: Literal["ack"] = "ack"
    incident_id: IncidentId


class Resolve(_Command):
    verb: Literal["resolve"] = "resolve"
    incident_id: IncidentId
    reason: Annotated[str, _redacted(_TEXT_MAX)] = Field(default="", max_length=_TEXT_MAX)


class Approve(_Command):
    verb: Literal["approve"] = "approve"
    incident_id: IncidentId
    action: str | None = Field(default=None, description="None: the action waiting for approval")


class Deny(_Command):
    verb: Literal["deny"] = "deny"
    incident_id: IncidentId
    action: str | None = None
    reason: Annotated[str, _redacted(DECISION_REASON_MAX)] = Field(default="", max_length=DECISION_REASON_MAX)


class Silence(_Command):
    verb: Literal["silence"] = "silence"
    matchers: list[Matcher] = Field(min_length=1)
    duration: timedelta
    comment: Annotated[str, _redacted(_TEXT_MAX)] = Field(default="", max_length=_TEXT_MAX)
    incident_id: IncidentId | None = None


class Postmortem(_Command):
    verb: Literal["postmortem"] = "postmortem"
    incident_id: IncidentId


class Insights(_Command):
    verb: Literal["insights"] = "insights"


class Heartbeats(_Command):
    verb: Literal["heartbeats"] = "heartbeats"


class KillSwitch(_Command):
    verb: Literal["killswitch"] = "killswitch"
    state: Literal["on", "off", "status"] = Field(
        default="status", description="on: stop remediation; off: let it act again; status: say which"
    )
    reason: Annotated[str, _redacted(_TEXT_MAX)] = Field(default="", max_length=_TEXT_MAX)


Command = Annotated[
    Help
    | List
    | Show
    | Ack
    | Resolve
    | Approve
    | Deny
    | Silence
    | Postmortem
    | Insights
    | Heartbeats
    | KillSwitch,
    Field(discriminator="verb"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class _Spec(NamedTuple):
    usage: str
    summary: str
    who: str
    examples: tuple[str, ...]
    details: str = ""


def _who(verb: str) -> str:
    return f"people the routing policy's `access.{verb}` allows (anyone when it is not set)"


_SPECS: dict[str, _Spec] = {
    "help": _Spec("/medic help [COMMAND]", "this overview, or the details of one command", "anyone",
                  ("/medic help silence",)),
    "list": _Spec("/medic list [all] [STATUS] [PRIORITY] [SERVICE]",
                  "open incidents, newest first; `all` includes resolved ones", "anyone",
                  ("/medic list P1", "/medic list checkout acknowledged", "/medic list all"),
                  f"STATUS is one of {', '.join(_STATUSES)}; PRIORITY is P1..P5; "
                  "`service=NAME` when a service is named like a filter word."),
    "show": _Spec("/medic show ID", "an incident's status, alerts, actions and timeline", "anyone",
                  ("/medic show checkout",)),
    "ack": _Spec("/medic ack ID", "acknowledge the incident: you are on it, escalation stops", _who("ack"),
                 ("/medic ack checkout",)),
    "resolve": _Spec("/medic resolve ID [REASON]",
                     "mark the incident resolved; the reason goes into the timeline", _who("resolve"),
                     ("/medic resolve checkout rolled back the bad deploy",)),
    "approve": _Spec("/medic approve ID [ACTION]",
                     "let a remediation that waits for a human go ahead (without ACTION: the one waiting)",
                     "people `access.approve` allows for the action's risk (low, medium, high)",
                     ("/medic approve checkout", "/medic approve checkout restart-pods")),
    "deny": _Spec("/medic deny ID [ACTION] [-- REASON]", "refuse a remediation that waits for a human",
                  "the same people as approve",
                  ("/medic deny checkout restart-pods -- traffic is recovering",)),
    "silence": _Spec("/medic silence [ID] MATCHERS DURATION [-- COMMENT]",
                     "create an Alertmanager silence, tied to the incident when ID is given", _who("silence"),
                     ('/medic silence alertname=HighLatency service="checkout" 2h -- deploy in progress',
                      '/medic silence checkout {alertname="DiskFull", env=~"stag.*"} 1d'),
                     f"{MATCHER_HELP}\n{DURATION_HELP}"),
    "postmortem": _Spec("/medic postmortem ID", "the postmortem: a draft while open, final once resolved",
                        "anyone", ("/medic postmortem checkout",)),
    "insights": _Spec("/medic insights", "which alert rules earn their pages, and what to change",
                      "anyone", ("/medic insights",)),
    "heartbeats": _Spec("/medic heartbeats", "the alerting pipeline's heartbeats (Watchdog): missing, ok or"
                        " not yet armed, and their last beat", "anyone", ("/medic heartbeats",)),
    "killswitch": _Spec("/medic killswitch [on|off|status] [-- REASON]",
                        "stop every remediation that has not acted yet (on), let remediations act again "
                        "(off), or say whether it is on (status, the default)",
                        _who("kill_switch") + "; status: anyone",
                        ("/medic killswitch off -- the bad release is rolled back", "/medic killswitch"),
                        "The card's *Kill switch* button turns it on; this turns it off."),
}  # fmt: skip
_ALIASES = {
    "acknowledge": "ack",
    "ls": "list",
    "?": "help",
    "-h": "help",
    "--help": "help",
    "kill_switch": "killswitch",
    "kill-switch": "killswitch",
}

HELP_TEXT = "\n".join(
    [
        "*Medic* runs incidents from Slack. ID is an incident id, `incident-checkout` or just `checkout`.",
        *(f"• `{spec.usage}`: {spec.summary}" for spec in _SPECS.values()),
        "*Examples:* "
        + ", ".join(f"`{spec.examples[0]}`" for spec in _SPECS.values() if spec.who != "anyone"),
        "`/medic help COMMAND` explains one command.",
    ]
)


def help_for(verb: str) -> str:
    """One command's usage, purpose, who may run it and examples; the overview for anything else."""
    name = _ALIASES.get(verb.strip().lower(), verb.strip().lower())
    spec = _SPECS.get(name)
    if spec is None:
        return f"There is no `/medic {shown(verb)}` command.\n{HELP_TEXT}"
    lines = [f"*`{spec.usage}`*", spec.summary[0].upper() + spec.summary[1:] + "."]
    if spec.details:
        lines.append(spec.details)
    lines.append(f"*Who:* {spec.who}.")
    lines.append("*Examples:* " + ", ".join(f"`{e}`" for e in spec.examples))
    return "\n".join(lines)


def _usage(verb: str) -> str:
    spec = _SPECS[verb]
    return f"Usage: `{spec.usage}`\nExample: `{spec.examples[0]}`"


def normalize_text(text: str) -> str:
    """What the person meant to type: ASCII quotes and spaces, Slack's HTML escapes undone,
    a lone em/en dash (macOS turns ``--`` into one) back to ``--``."""
    text = text.translate(_SMART).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _LONE_DASH.sub("--", text).strip()


def parse_command(text: str) -> Command:
    """Parse the text after ``/medic``; empty text asks for help."""
    text = normalize_text(text)
    first = _WORD.match(text)
    if first is None:
        return Help()
    word = first.group().lower()
    verb = _ALIASES.get(word, word)
    if verb not in _SPECS:
        close = difflib.get_close_matches(verb, [*_SPECS, *_ALIASES], n=1, cutoff=0.6)
        hint = f" Did you mean `/medic {_ALIASES.get(close[0], close[0])}`?" if close else ""
        raise CommandError(
            f"I don't know the command `{shown(first.group())}`.{hint}",
            "Commands: " + ", ".join(_SPECS) + ". `/medic help` explains them.",
        )
    rest = text[first.end() :].strip()
    try:
        return _PARSERS[verb](rest)
    except ValidationError as err:  # a bound the parsers missed: still a person's mistake
        raise CommandError(
            f"`/medic {verb}` could not take that: {err.errors()[0]['msg']}.", _usage(verb)
        ) from err


def _fail(verb: str, message: str, extra: str = "") -> CommandError:
    return CommandError(message, _usage(verb) + (f"\n{extra}" if extra else ""))


def _incident_id(token: str, verb: str) -> str:
    ident = token.strip("`'\"").lower()
    ident = ident if ident.startswith("incident-") else "incident-" + ident
    if not _ID.fullmatch(ident):
        bad = f"`{shown(token)}` is not an incident id: ids look like `incident-checkout` (or `checkout`)"
        raise _fail(verb, bad + ", lowercase letters, digits and `-`.")
    return ident


def _one_id(verb: str, rest: str) -> str:
    words = _WORD.findall(rest)
    if not words:
        raise _fail(verb, f"`/medic {verb}` needs an incident id.")
    if len(words) > 1:
        raise _fail(verb, f"`/medic {verb}` takes only an incident id, not `{shown(rest)}`.")
    return _incident_id(words[0], verb)


def _text_arg(verb: str, what: str, text: str, *, limit: int = _TEXT_MAX) -> str:
    text = text.strip()
    if len(text) > limit:
        raise _fail(verb, f"The {what} has {len(text)} characters; keep it under {limit}.")
    return text


def _parse_help(rest: str) -> Help:
    words = _WORD.findall(rest)
    topic = _ALIASES.get(words[0].lower(), words[0].lower()) if words else None
    if len(words) > 1 or (topic is not None and topic not in _SPECS):
        close = difflib.get_close_matches(topic or "", list(_SPECS), n=1, cutoff=0.6)
        hint = f" Did you mean `/medic help {close[0]}`?" if close else ""
        raise _fail("help", f"There is no help on `{shown(rest)}`.{hint}")
    return Help(topic=topic)


_PRIORITIES = frozenset(Priority)
_LIST_FILTERS: dict[str, Callable[[str], bool]] = {  # a bare word is the first kind it fits
    "status": lambda value: value in _STATUSES,
    "priority": lambda value: value.upper() in _PRIORITIES,
    "service": lambda value: _SERVICE.fullmatch(value) is not None,
}


def _parse_list(rest: str) -> List:
    found: dict[str, str] = {}
    for word in _WORD.findall(rest):
        low = word.lower()
        if low == "all":
            found["all"] = low
            continue
        key, sep, value = low.partition("=")
        if not sep:
            if re.fullmatch(r"p\d+", low) and not _LIST_FILTERS["priority"](low):
                raise _fail("list", f"`{shown(word)}` is not a priority: priorities are P1..P5.")
            key, value = next((k for k, fits in _LIST_FILTERS.items() if fits(low)), ""), low
        if not (key in _LIST_FILTERS and _LIST_FILTERS[key](value)):
            raise _fail("list", f"`{shown(word)}` is not a filter I know.", _SPECS["list"].details)
        value = value.upper() if key == "priority" else value
        if found.setdefault(key, value) != value:
            raise _fail("list", f"`/medic list` takes one {key} at a time, not `{found[key]}` and `{value}`.")
    status = found.get("status")
    include = "all" in found or status == "resolved"
    return List(
        status=status, service=found.get("service"), priority=found.get("priority"), include_resolved=include
    )


def unknown_list_filter(word: str, *, services: Collection[str]) -> CommandError:
    """``/medic list chekout``: a bare word that is no status, priority or known service. Answered
    with the word and the nearest filters, never with an empty list that looks like good news."""
    candidates = [*_STATUSES, *sorted(services)]
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.5)
    close += [s for s in _STATUSES if len(word) >= 3 and s.startswith(word[:3]) and s not in close]
    hint = f" Did you mean {' or '.join(f'`{c}`' for c in close[:3])}?" if close else ""
    return _fail(
        "list",
        f"`{shown(word)}` is not a status, a priority or a service I know.{hint}",
        _SPECS["list"].details,
    )


def _parse_resolve(rest: str) -> Resolve:
    first = _WORD.match(rest)
    if first is None:
        raise _fail("resolve", "`/medic resolve` needs an incident id.")
    reason = rest[first.end() :].strip().removeprefix("--")
    return Resolve(
        incident_id=_incident_id(first.group(), "resolve"), reason=_text_arg("resolve", "reason", reason)
    )


def _id_and_action(verb: str, words: list[str]) -> tuple[str, str | None]:
    if not 1 <= len(words) <= 2:
        hint = " Put a reason after `--`." if verb == "deny" and words else ""
        raise _fail(verb, f"`/medic {verb}` takes an incident id and at most one action.{hint}")
    action = words[1] if len(words) == 2 else None
    if action is not None and not _ACTION.fullmatch(action):
        raise _fail(verb, f"`{shown(action)}` is not an action name (letters, digits, `.`, `_`, `-`).")
    return _incident_id(words[0], verb), action


def _parse_approve(rest: str) -> Approve:
    incident_id, action = _id_and_action("approve", _WORD.findall(rest))
    return Approve(incident_id=incident_id, action=action)


def _parse_deny(rest: str) -> Deny:
    cut = next((w.start() for w in _WORD.finditer(rest) if w.group().startswith("--")), len(rest))
    incident_id, action = _id_and_action("deny", _WORD.findall(rest[:cut]))
    return Deny(
        incident_id=incident_id,
        action=action,
        reason=_text_arg("deny", "reason", rest[cut + 2 :], limit=DECISION_REASON_MAX),
    )


def _parse_silence(rest: str) -> Silence:
    try:
        spans, comment = silence_spans(rest)
    except CommandError as err:
        raise _fail("silence", err.message) from err
    tokens = [rest[a:b] for a, b in spans]
    incident_id = None
    first, second = [*tokens, "", ""][:2]
    # A leading bare word cannot be a matcher (no operator) nor the duration: it names the incident.
    bare_word = not re.search(r"[=!~{}\"',]", first) and not DURATION.fullmatch(first.lower())
    if bare_word and second[:1] not in ("", "=", "!", "~"):
        incident_id = _incident_id(first, "silence")
        spans, tokens = spans[1:], tokens[1:]
    if not tokens:
        raise _fail("silence", "`/medic silence` needs matchers and a duration.")
    try:
        duration = parse_duration(tokens[-1])
    except CommandError as err:
        if len(tokens) == 1 or re.search("[=~]", tokens[-1]):
            bad = f"`{shown(tokens[-1])}` is not one"
            raise _fail(
                "silence", f"The last word before any `-- comment` must be a duration; {bad}."
            ) from err
        commented = any(DURATION.fullmatch(t.lower()) for t in tokens[:-1])
        raise _fail("silence", err.message + (" Put a comment after `--`." if commented else "")) from err
    if len(tokens) == 1:
        raise _fail("silence", "`/medic silence` needs at least one matcher before the duration.")
    try:
        matchers = parse_matchers(rest[spans[0][0] : spans[-2][1]])
    except CommandError as err:
        raise _fail("silence", err.message, MATCHER_USAGE) from err
    comment = _text_arg("silence", "comment", comment)
    return Silence(matchers=matchers, duration=duration, comment=comment, incident_id=incident_id)


def _parse_killswitch(rest: str) -> KillSwitch:
    cut = next((w.start() for w in _WORD.finditer(rest) if w.group().startswith("--")), len(rest))
    words = [w.lower() for w in _WORD.findall(rest[:cut])]
    if len(words) > 1 or (words and words[0] not in ("on", "off", "status")):
        raise _fail("killswitch", f"`/medic killswitch` takes on, off or status, not `{shown(rest[:cut])}`.")
    state = words[0] if words else "status"
    reason = _text_arg("killswitch", "reason", rest[cut + 2 :] if cut < len(rest) else "")
    return KillSwitch(state=state, reason=reason)


_PARSERS: dict[str, Callable[[str], Command]] = {
    "help": _parse_help,
    "list": _parse_list,
    "show": lambda rest: Show(incident_id=_one_id("show", rest)),
    "ack": lambda rest: Ack(incident_id=_one_id("ack", rest)),
    "resolve": _parse_resolve,
    "approve": _parse_approve,
    "deny": _parse_deny,
    "silence": _parse_silence,
    "postmortem": lambda rest: Postmortem(incident_id=_one_id("postmortem", rest)),
    "insights": lambda rest: Insights(),
    "heartbeats": lambda rest: Heartbeats(),
    "killswitch": _parse_killswitch,
}
