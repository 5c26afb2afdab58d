"""Alertmanager matchers and silence durations as people type them in ``/medic silence``.

Split out of :mod:`medic.commands` to keep each module small: this is the part that speaks
amtool's matcher syntax (quoting included, hence :func:`silence_spans`) and Prometheus-style
durations, with the same strict refusals that say what was wrong (:class:`CommandError`, which
lives here so both modules raise the one class). Replies use :func:`format_duration`.
"""

import re
import warnings
from datetime import timedelta

from medic.feedback import Matcher
from medic.redact import redact

__all__ = [
    "DURATION",
    "DURATION_HELP",
    "MATCHER_HELP",
    "MATCHER_USAGE",
    "MAX_SILENCE",
    "MIN_SILENCE",
    "CommandError",
    "compile_regex",
    "format_duration",
    "parse_duration",
    "parse_matchers",
    "shown",
    "silence_spans",
]

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNQUOTED = re.compile(r"[^\s,{}=~][^\s,{}]*")
DURATION = re.compile(r"(?:[0-9]+[wdhms])+")
_OPERATORS = ("=~", "!~", "!=", "=")  # two-character operators first
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MIN_SILENCE = timedelta(minutes=1)
MAX_SILENCE = timedelta(days=30)

MATCHER_HELP = (
    "MATCHERS use Alertmanager/amtool syntax: `name=value`, `!=`, `=~` (regex), `!~`; "
    'quote values with spaces or commas (`summary="disk full, again"`), or use the brace form '
    '`{alertname="X", service="y"}`. At least one matcher must name something: `env=""` alone would '
    "silence everything."
)
DURATION_HELP = "DURATION is a number and a unit, `30m`, `2h`, `1h30m`, `1d`, `1w`: from 1 minute to 30 days."
MATCHER_USAGE = (
    'Matchers look like `alertname=HighLatency service=~"check.*" env!="dev"` (or `{a="x", b="y"}`).'
)
_DURATION_USAGE = "Durations look like `30m`, `2h`, `1h30m`, `1d` or `1w` (1 minute to 30 days)."


class CommandError(ValueError):
    """A command that cannot be run as typed; ``str()`` is the whole reply for the person."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message, usage)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\n{self.usage}" if self.usage else self.message


def shown(text: str, limit: int = 60) -> str:
    """User text inside backticks in a reply: redacted (before it is cut, so a secret cut in two is
    still found whole), bounded, and unable to break the formatting."""
    text = redact(text).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_end(text: str, i: int) -> int:
    """Index after the quote opened at ``i``; a backslash escapes the next character."""
    j = i + 1
    while j < len(text):
        if text[j] == text[i]:
            return j + 1
        j += 2 if text[j] == "\\" else 1
    raise CommandError(f"A quote opened at `{shown(text[i:], 30)}` is never closed.", MATCHER_USAGE)


def _skip(text: str, i: int, chars: str = "") -> int:
    while i < len(text) and (text[i].isspace() or text[i] in chars):
        i += 1
    return i


def silence_spans(text: str) -> tuple[list[tuple[int, int]], str]:
    """``/medic silence``'s arguments as token spans up to one starting ``--`` (quoted values stay
    whole), and the comment after it."""
    spans: list[tuple[int, int]] = []
    i = _skip(text, 0)
    while i < len(text):
        if text.startswith("--", i):
            return spans, text[i + 2 :]
        start = i
        while i < len(text) and not text[i].isspace():
            opens = text[i] in "\"'" and (i == start or text[i - 1] in "=~{,")
            i = _quote_end(text, i) if opens else i + 1
        spans.append((start, i))
        i = _skip(text, i)
    return spans, ""


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """The value of the quote opened at ``i`` (``\\"`` and ``\\\\`` unescaped, any other backslash
    kept, so regexes like ``"\\d+"`` need no doubling) and the index after it."""
    end = _quote_end(text, i)
    quote, out, j = text[i], [], i + 1
    while j < end - 1:
        if text[j] == "\\" and text[j + 1] in (quote, "\\"):
            out.append(text[j + 1])
            j += 2
        else:
            out.append(text[j])
            j += 1
    return "".join(out), end


def _matches_empty(m: Matcher, pattern: re.Pattern[str] | None) -> bool:
    """Whether the matcher also matches alerts without the label (Alertmanager's empty-string rule)."""
    hit = pattern.fullmatch("") is not None if pattern is not None else m.value == ""
    return hit == m.is_equal


def _matcher_error(text: str, start: int, problem: str) -> CommandError:
    if redact(text) != text:  # a piece cut out of it could hold part of a secret: show it redacted, whole
        return CommandError(f"Matcher in `{shown(text)}`: {problem}", MATCHER_USAGE)
    end = start
    while end < len(text) and end - start < 40 and not (text[end].isspace() or text[end] == ","):
        end += 1
    bad = text[start:end] or text[max(0, start - 20) : start + 20].strip()
    return CommandError(f"Matcher `{shown(bad)}`: {problem}", MATCHER_USAGE)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A regex a person wrote, compiled; ValueError saying why for one that does not compile (re.error,
    and the OverflowError or RecursionError of absurd repeats and nesting)."""
    try:
        with warnings.catch_warnings():  # FutureWarnings on set syntax: the person's regex, not ours
            warnings.simplefilter("ignore")
            return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as err:
        raise ValueError(str(err)) from err


def parse_matchers(text: str) -> list[Matcher]:
    """Alertmanager matchers in amtool syntax, space/comma separated or in one ``{...}``.

    Values are taken as typed: pass raw Slack text through :func:`normalize_text` first."""
    text = text.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise CommandError("The `{` of the matchers is never closed with `}`.", MATCHER_USAGE)
        text = text[1:-1]
    matchers: list[Matcher] = []
    names_something = False
    i = _skip(text, 0, ",")
    while i < len(text):
        start = i
        name = _NAME.match(text, i)
        if name is None:
            raise _matcher_error(
                text, start, "expected a label name (letters, digits, `_`; not a digit first)."
            )
        i = _skip(text, name.end())
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            raise _matcher_error(
                text, start, f'needs an operator `=`, `!=`, `=~` or `!~`, e.g. `{name.group()}="value"`.'
            )
        i = _skip(text, i + len(op))
        if i < len(text) and text[i] in "\"'":
            value, i = _read_quoted(text, i)
        elif (bare := _UNQUOTED.match(text, i)) is not None:
            value, i = bare.group(), bare.end()
        elif text[i : i + 1] in ("=", "~"):
            raise _matcher_error(
                text, start, f"`{op}{text[i]}` is not an operator: use `=`, `!=`, `=~` or `!~`."
            )
        else:
            raise _matcher_error(
                text, start, f'has no value; write `{name.group()}{op}""` to match an empty label.'
            )
        if i < len(text) and not (text[i].isspace() or text[i] == ","):
            raise _matcher_error(text, start, f"unexpected `{shown(text[i])}` after the value.")
        if len(name.group()) > 200 or len(value) > 1000:
            raise _matcher_error(text, start, "too long (names up to 200 characters, values up to 1000).")
        matcher = Matcher(name=name.group(), value=value, is_regex="~" in op, is_equal=op[0] == "=")
        pattern = None
        if matcher.is_regex:
            try:
                pattern = compile_regex(value)
            except ValueError as err:
                raise _matcher_error(text, start, f"the regex does not compile: {err}.") from err
        names_something = names_something or not _matches_empty(matcher, pattern)
        matchers.append(matcher)
        i = _skip(text, i, ",")
    if not matchers:
        raise CommandError("No matchers given.", MATCHER_USAGE)
    if not names_something:
        raise CommandError(
            "Every matcher also matches alerts without that label, so the silence would mute everything "
            "(Alertmanager refuses it). Add one that names something, e.g. `alertname=HighLatency`.",
            MATCHER_USAGE,
        )
    return matchers


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1h30m``, ``1d``, ``1w`` (Prometheus style), between 1 minute and 30 days."""
    raw = text.strip()
    low = raw.lower()
    if not raw:
        raise CommandError("A duration is missing.", _DURATION_USAGE)
    if not DURATION.fullmatch(low):
        problem = "has no unit (`m`, `h`, `d`...)" if low.isdigit() else "is not a duration"
        raise CommandError(f"`{shown(raw)}` {problem}.", _DURATION_USAGE)
    parts = re.findall(r"([0-9]+)([wdhms])", low)
    if any(len(number) > 9 for number, _ in parts):
        raise CommandError(f"`{shown(raw)}` is far too long: silences last at most 30 days.", _DURATION_USAGE)
    seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    if seconds < MIN_SILENCE.total_seconds():
        raise CommandError(f"`{shown(raw)}` is too short: silences last at least 1 minute.", _DURATION_USAGE)
    if seconds > MAX_SILENCE.total_seconds():
        raise CommandError(
            f"`{shown(raw)}` is too long: silences last at most 30 days (`30d`); "
            "for longer, change the alert rule instead.",
            _DURATION_USAGE,
        )
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """``1h 30m``: how a reply says how long a silence lasts."""
    seconds = abs(td) // timedelta(seconds=1)
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return ("-" if td < timedelta(0) else "") + (" ".join(parts) or "0s")
