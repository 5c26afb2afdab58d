"""Binding ``${...}`` values into a runbook's PromQL without letting them change the query.

A binding may only stand inside a string literal (``"..."``, ``'...'`` or a raw `````...`````): there the
value is quoted for that literal (``\\`` and the quote escaped, line breaks as ``\\n``), so a label cannot
close the string and add PromQL of its own. A literal right after a regex operator (``=~``, ``!~``) is
an RE2 regex, so the value is regex-escaped first: ``deployment="web.v2"`` in ``pod=~"${...}-.*"``
matches the pods of ``web.v2``, not those of ``web-v2`` or ``webXv2`` too. A binding outside a literal
(a metric name, a number, a comment) is refused: :func:`check_promql` at ``medic check`` time,
:func:`bind_promql` when an alert arrives.

References: the string literals and escapes of the PromQL lexer
(https://prometheus.io/docs/prometheus/latest/querying/basics/#string-literals) and RE2's syntax, whose
metacharacters are ``\\.+*?()|[]{}^$`` (https://github.com/google/re2/wiki/Syntax).
"""

import re
from collections.abc import Iterator, Mapping

__all__ = [
    "BINDING",
    "bind_promql",
    "check_promql",
    "promql_regex_escape",
    "promql_string",
    "unbalanced",
]

# A runbook binding, ``${alert.labels.x}`` (medic.runbook re-exports it).
BINDING = re.compile(r"\$\{([a-z_]+(?:\.[A-Za-z0-9_]+)+)\}")
_RE2_META = re.compile(r"[\\.+*?()|\[\]{}^$]")
_REGEX_OPERATOR = re.compile(r"[=!]~\s*$")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_regex_escape(value: str) -> str:
    """``value`` as an RE2 regex that matches exactly it."""
    return _RE2_META.sub(lambda m: "\\" + m.group(), value)


def promql_string(value: str, quote: str = '"') -> str:
    """The body of a PromQL string literal delimited by ``quote`` that reads as ``value``."""
    if quote == "`":
        if "`" in value:
            raise ValueError(f"{value!r} contains a backtick and cannot go into a raw string")
        return value
    out = []
    for char in value:
        if char == quote:
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _segments(template: str) -> Iterator[tuple[str, str, bool]]:
    """``(text, quote, is_regex)``: the template cut into code (quote ``""``) and literal bodies."""
    i, code_start = 0, 0
    while i < len(template):
        quote = template[i]
        if quote not in "\"'`":
            i += 1
            continue
        yield template[code_start:i], "", False
        j = i + 1
        while j < len(template) and template[j] != quote:
            j += 2 if quote != "`" and template[j] == "\\" else 1
        if j >= len(template):
            raise ValueError(f"the string starting at character {i} of the query is never closed")
        yield template[i + 1 : j], quote, bool(_REGEX_OPERATOR.search(template[:i]))
        i = code_start = j + 1
    yield template[code_start:], "", False


def check_promql(template: str) -> None:
    """Raise ValueError when a binding stands outside a string literal (or a literal never closes)."""
    for text, quote, _ in _segments(template):
        if not quote and (found := BINDING.search(text)):
            raise ValueError(
                f"${{{found.group(1)}}} stands outside a quoted string in the PromQL; bind values only "
                'inside label matchers, e.g. namespace="${alert.labels.namespace}"'
            )


def bind_promql(template: str, context: Mapping[str, str]) -> str:
    """The query with each ``${path}`` replaced by its value, quoted (and regex-escaped after ``=~``/``!~``).
    A missing value, or a binding outside a string literal, is a ValueError naming it."""
    check_promql(template)
    parts = []
    for text, quote, is_regex in _segments(template):
        if not quote:
            parts.append(text)
            continue

        def one(match: re.Match[str], quote: str = quote, is_regex: bool = is_regex) -> str:
            key = match.group(1)
            if key not in context:
                raise ValueError(f"${{{key}}} has no value for this alert")
            value = promql_regex_escape(context[key]) if is_regex else context[key]
            return promql_string(value, quote)

        parts.append(quote + BINDING.sub(one, text) + quote)
    return "".join(parts)


_CLOSES = {")": "(", "]": "[", "}": "{"}


def unbalanced(query: str) -> str | None:
    """What is obviously wrong with a query's brackets or quotes, or None: a ``(``, ``[`` or ``{`` never
    closed or closed by another kind, a closing one that closes nothing, a string never closed (string
    literals and ``#`` comments skipped). Not a parser: a query it passes Prometheus may still refuse;
    one it refuses, Prometheus refuses too (at every run of a scan, found only in the worker's log)."""
    opened: list[tuple[str, int]] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char == "#":  # a comment, to the end of its line
            end = query.find("\n", i)
            i = len(query) if end < 0 else end
            continue
        if char in "\"'`":
            j = i + 1
            while j < len(query) and query[j] != char:
                j += 2 if char != "`" and query[j] == "\\" else 1
            if j >= len(query):
                return f"the string opened by {char} at character {i + 1} is never closed"
            i = j + 1
            continue
        if char in "([{":
            opened.append((char, i))
        elif char in _CLOSES:
            if not opened:
                return f"{char!r} at character {i + 1} closes nothing"
            first, at = opened.pop()
            if first != _CLOSES[char]:
                return f"{first!r} at character {at + 1} is closed by {char!r} at character {i + 1}"
        i += 1
    if opened:
        first, at = opened[-1]
        return f"{first!r} at character {at + 1} is never closed"
    return None
