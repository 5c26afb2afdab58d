"""Secrets never reach the timeline: every entry's message and data pass through :func:`redact` when
the entry is built (see ``medic.timeline``), so no code path can add one unredacted. What enters a
workflow is redacted before it does (alerts in ``medic.alerts``, anomaly signals in ``medic.anomaly``,
chat command text in ``medic.commands``, decisions and the kill switch in ``service.control``).

Two nets: the secrets this deployment is configured with (registered once at start by every process
that takes input: the worker, the API and ``medic dev``), and the shapes of common credentials (Slack
tokens, bearer tokens, ``password=...``-style pairs, passwords in URLs, private keys).

Linear time whatever the input: every text redacted here came from outside (an alert name of
``token-token-...`` once took 44 s for 4,000 characters and froze the worker). No pattern below may
scan the same stretch of text from many starting points: each starts only where a run of the
characters it is made of starts (a negative lookbehind), decides with a lazy lookahead that stops at
the first witness, and consumes with possessive quantifiers; the private-key search, whose body is
unbounded, looks for its END line once, not once per BEGIN. ``bench/redact_linear.py`` measures it,
and ``tests/unit/test_redact.py`` checks it against the old patterns on random input."""

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "redact", "redact_data", "redact_name", "register_secrets"]

REDACTED = "[redacted]"
_MIN_SECRET = 6
_known: set[str] = set()

# The words that name a secret (not one).
_SECRET_WORDS = "|".join(
    [
        *("password", "passwd", "pwd", "secret", "token", "authorization"),
        *("api[_-]?key", "apikey", "access[_-]?key", "routing[_-]?key", "signing[_-]?secret"),
    ]
)
# Every place a secret word starts (zero-width, so overlapping ones are all found).
_WORD_AT = re.compile(rf"(?i)(?=({_SECRET_WORDS}))")
# A key ending in _name or _names (before an optional final newline, as ``$`` allows).
_NAMES_END = re.compile(r"(?i)_names?\n?\Z")
_WORD_CHARS = re.compile(r"\w*+")

# name=value, name: value, "name": "value"; the name may carry a prefix or suffix (DB_PASSWORD,
# client_secret, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY). The name is the run of [\w-] holding a secret
# word that ends at the separator (a prefix before a dot, as in ``db.password``, is kept as it is).
_NAME_VALUE = re.compile(
    rf"(?i)(?<![\w-])(?=[\w-]*?(?:{_SECRET_WORDS}))([\w-]++)(?<!_name)(?<!_names)"
    r"([\"']?\s*+[=:]\s*+)(\"[^\"]*+\"|'[^']*+'|[^\s,;}]++)"
)
# scheme://user:password@ (a scheme is a letter at a word boundary, then letters, digits, + . -).
_URL_PASSWORD = re.compile(
    r"(?i)(?<![a-z0-9+.-])(?=[a-z0-9+.-]*?\b[a-z])([a-z0-9+.-]*+://[^/\s:@]++:)[^@\s/]++@"
)
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)(\s++)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{REDACTED}"),
    (_NAME_VALUE, rf"\1\2{REDACTED}"),
    (_URL_PASSWORD, rf"\1{REDACTED}@"),
)
_AWS_KEY = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
# Credentials known by their shape alone (a review found them in label values, 2026-12-06): a Slack
# incoming-webhook URL's secret part, GitHub tokens, and JSON Web Tokens (header and payload both
# base64url JSON objects, "eyJ").
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        # (a segment joins the prefix only when another follows: the last is the secret, a trailing
        # slash or not; possessive, so linear, and the backtracking pattern's answer)
        re.compile(
            r"(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9]++/(?:[A-Za-z0-9]++/(?=[A-Za-z0-9]))*+)"
            r"[A-Za-z0-9]++"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_[A-Za-z0-9_]{30,}+)"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"), REDACTED),
)


# Every pattern above needs one of these; one search rules most text out (the storm path builds an
# entry per alert: a pass per pattern cost 70 us an entry; every alert has a generator URL, so a URL
# counts only with an @ before its path, as a password in it needs).
# (Lower-casing and a case-sensitive search is ten times faster than re.IGNORECASE here.)
_MAYBE = re.compile(
    r"xox|xapp|bearer|basic|passw|pwd|secret|token|api.?key|access.?key|routing.?key|authorization|"
    r"://[^/\s@]*+@|private key|akia|hooks\.slack\.com|gh[pousr]_|github_pat_|eyj"
)


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember this deployment's secret values (short ones would redact ordinary words: ignored)."""
    _known.update(v for v in values if v and len(v) >= _MIN_SECRET)


def redact(text: str) -> str:
    for secret in _known:
        if secret in text:
            for known in sorted(_known, key=len, reverse=True):  # longest first: no partial leftovers
                text = text.replace(known, REDACTED)
            break
    if _MAYBE.search(text.lower()) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _AWS_KEY.sub(REDACTED, _redact_private_keys(text))
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def redact_name(text: str) -> str:
    """:func:`redact` for a name whose characters are restricted (an anomaly's source or service):
    the marker without its brackets, so the result is still a valid name."""
    return redact(text).replace(REDACTED, REDACTED[1:-1])


def _redact_private_keys(text: str) -> str:
    """Each BEGIN ... PRIVATE KEY----- up to the first END line after it. Searched for explicitly: as
    one pattern, every BEGIN without an END scanned the rest of the text again (quadratic). Here each
    END search starts where the last match ended, and none after the first that finds nothing."""
    pieces: list[str] = []
    done = 0
    while (begin := _KEY_BEGIN.search(text, done)) is not None:
        end = _KEY_END.search(text, begin.end())
        if end is None:
            break  # no END after this BEGIN, so none after any later one
        pieces += [text[done : begin.start()], REDACTED]
        done = end.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _secret_key(key: str) -> bool:
    """Whether a structure's key says its value is a secret ("routing_key_name" names one: it is
    not one): a secret word that is not followed by word characters ending in ``_name(s)``."""
    found = [m.end(1) for m in _WORD_AT.finditer(key)]
    if not found:
        return False
    names_end = _NAMES_END.search(key)
    if names_end is None:
        return True
    # The word characters running back from the end: a word ending inside them, early enough to
    # leave room for "_name(s)", is that name's prefix.
    tail = len(key) - (1 if key.endswith("\n") else 0)
    run = _WORD_CHARS.match(key[:tail][::-1])
    run_start = tail - (run.end() if run else 0)
    last_prefix_end = names_end.start()
    return any(not run_start <= end <= last_prefix_end for end in found)


def redact_data(value: Any) -> Any:
    """:func:`redact` through nested dicts, lists and strings (keys included)."""
    if isinstance(value, dict | list | tuple):
        found: list[str] = []
        _strings(value, found)
        if not _suspect("\x00".join(found)):
            return value  # one check for the whole structure: nothing in it can need redacting
    return _redact_all(value)


def _suspect(text: str) -> bool:
    return any(secret in text for secret in _known) or _MAYBE.search(text.lower()) is not None


def _strings(value: Any, out: list[str]) -> None:
    """Every string in a nested structure (keys too), appended to ``out``; no generators: this runs
    for every timeline entry."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                out.append(key)
            if isinstance(item, str):
                out.append(item)
            else:
                _strings(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out)


def _redact_all(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            _redact_all(k): REDACTED
            if isinstance(k, str) and isinstance(v, str) and v and _secret_key(k)
            else _redact_all(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_all(v) for v in value]
    return value
