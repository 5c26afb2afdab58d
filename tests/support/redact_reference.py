"""The redaction patterns as they were before they were made linear-time, kept verbatim as an oracle:
the property test checks that :mod:`medic.redact` gives the same answers on inputs small enough for
these to finish, and ``bench.redact_linear --before`` shows how they grow. Never used by Medic."""

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["redact", "redact_data", "register_secrets"]

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
# A structure's key that says its value is a secret ("routing_key_name" names one: it is not one).
_SECRET_KEY = re.compile(rf"(?i)(?:{_SECRET_WORDS})(?!\w*_names?$)")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{REDACTED}"),
    (
        # name=value, name: value, "name": "value"; the name may carry a prefix or suffix
        # (DB_PASSWORD, client_secret, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY).
        re.compile(
            rf"(?i)\b([\w.-]*?(?:{_SECRET_WORDS})[\w-]*)(?<!_name)(?<!_names)([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}}]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), REDACTED),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    # added 2026-12-06 (a Slack webhook URL's secret part, GitHub tokens, JSON Web Tokens)
    (
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/(?:[A-Za-z0-9]+/)+)[A-Za-z0-9]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
)


# Every pattern above needs one of these; one search rules most text out (the storm path builds an
# entry per alert: a pass per pattern cost 70 us an entry).
# (Lower-casing and a case-sensitive search is ten times faster than re.IGNORECASE here.)
_MAYBE = re.compile(
    r"xox|xapp|bearer|basic|passw|pwd|secret|token|api.?key|access.?key|routing.?key|authorization|://|"
    r"private key|akia|hooks\.slack\.com|gh[pousr]_|github_pat_|eyj"
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
    return text


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
            if isinstance(k, str) and isinstance(v, str) and v and _SECRET_KEY.search(k)
            else _redact_all(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_all(v) for v in value]
    return value
