"""Binding ``${...}`` values into a runbook's PromQL without letting them change the query.

A binding may only stand inside a string literal (``"..."``, ``'...'`` or a raw `````...`````): there the
value is quoted for that literal (``\\`` and the quote escaped, line breaks as ``\\n``), so a label cannot
close the string and add PromQL of its own. A literal right after a regex operator (``=~``, ``!~``) is
an RE2 regex, so the value is regex-escaped first: ``deployment="web.v2"`` in ``pod=~"${...}-.*"``
matches the pods of ``web.v2``, not those of ``web-v2`` or ``webXv2`` too. A binding outside a literal
(a metric name, a number, a comment) is refused: :func:`check_promql` at ``medic check`` time,
:func:`bind_promql` when an alert arrives.

What ``medic check`` reads of a scan's query, without a parser: :func:`unbalanced` (brackets and
quotes), :func:`outer_aggregation` (the aggregation the whole query is, and which labels its result
keeps) and :func:`is_ratio` (a division at the top). Each reads only as far as it is sure, and says
nothing of what it cannot follow.

References: the string literals and escapes of the PromQL lexer
(https://prometheus.io/docs/prometheus/latest/querying/basics/#string-literals) and RE2's syntax, whose
metacharacters are ``\\.+*?()|[]{}^$`` (https://github.com/google/re2/wiki/Syntax).
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BINDING",
    "GROUPING_AGGREGATIONS",
    "Aggregation",
    "bind_promql",
    "check_promql",
    "has_bool",
    "is_ratio",
    "outer_aggregation",
    "promql_regex_escape",
    "promql_string",
    "raw_counters",
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


_COMPARISONS = frozenset({"==", "!=", "<=", ">=", "<", ">"})


def has_bool(query: str) -> bool:
    """Whether the query's outermost comparison carries the ``bool`` modifier (parentheses around the
    whole aside): its result has every series, 0 or 1, where one without it keeps only those that pass.
    A ``bool`` inside (``sum(x > bool 0) == 0``, counting what passes) is not said (a review)."""
    tokens = _top_level(query)
    if len(tokens) == 1 and tokens[0][0] == "group" and tokens[0][1].startswith("("):
        return has_bool(tokens[0][1][1:-1])
    return any(
        kind == "op" and text in _COMPARISONS and tokens[i + 1] == ("word", "bool")
        for i, (kind, text) in enumerate(tokens[:-1])
    )


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


# Aggregations whose result carries only the labels of their grouping: by (...) those listed,
# without (...) all but those, neither none. topk, bottomk, limitk and limit_ratio are left out:
# they select series and keep every label the series had.
GROUPING_AGGREGATIONS = frozenset(
    {"sum", "avg", "max", "min", "count", "quantile", "stddev", "stdvar", "group", "count_values"}
)
_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Aggregation:
    """A query that is one aggregation and nothing else (parentheses around it aside)."""

    operator: str  # lower-case
    clause: Literal["by", "without"] | None
    labels: tuple[str, ...]
    argument: str  # the text between the call's parentheses
    adds: str | None = None  # count_values' label (its first parameter), which its result carries

    def keeps(self, label: str) -> bool | None:
        """Whether every series of the result carries ``label``: True, False, or None when that
        depends on the series aggregated (``without`` a list that does not name it)."""
        if label == self.adds:
            return True
        if self.clause == "by":
            return label in self.labels
        if self.clause == "without":
            return None if label not in self.labels else False
        return False

    def said(self) -> str:
        """How a person writes it: ``sum by (job)``, ``sum without (pod)``, ``sum(...)``."""
        if self.clause is None:
            return f"{self.operator}(...)"
        return f"{self.operator} {self.clause} ({', '.join(self.labels)})"


def outer_aggregation(query: str) -> Aggregation | None:
    """The aggregation the whole query is (``sum by (job) (rate(x[5m]))``, ``(max(x) without (pod))``),
    or None: a binary expression or a function at the top, a selector, another aggregation
    (:data:`GROUPING_AGGREGATIONS`), or anything this small reader cannot follow. Not a parser: it
    reads only the outermost call and its grouping clause."""
    return _aggregation(query, 0, len(query))


def _aggregation(query: str, start: int, end: int) -> Aggregation | None:
    i = _skip(query, start, end)
    if i < end and query[i] == "(":
        j = _closing(query, i, end)
        if j is None or _skip(query, j + 1, end) != end:
            return None
        return _aggregation(query, i + 1, j)
    word = _WORD.match(query, i, end)
    if word is None or word.group().lower() not in GROUPING_AGGREGATIONS:
        return None
    operator = word.group().lower()
    clause, labels, i = _grouping(query, _skip(query, word.end(), end), end)
    if i < 0 or i >= end or query[i] != "(":
        return None
    j = _closing(query, i, end)
    if j is None:
        return None
    argument = query[i + 1 : j]
    i = _skip(query, j + 1, end)
    if clause is None:
        clause, labels, i = _grouping(query, i, end)
        if i < 0:
            return None
    if i != end:
        return None
    adds = None
    if operator == "count_values":
        found = _string(argument, _skip(argument, 0, len(argument)))
        adds = found[0] if found is not None else None
    return Aggregation(operator, clause, labels, argument, adds)


def _grouping(query: str, i: int, end: int) -> tuple[Literal["by", "without"] | None, tuple[str, ...], int]:
    """A ``by (...)`` or ``without (...)`` at ``i``: the clause, its labels and where reading goes on
    (-1: a clause this reader cannot follow); no clause: ``None, (), i``."""
    word = _WORD.match(query, i, end)
    if word is None or word.group().lower() not in ("by", "without"):
        return None, (), i
    clause: Literal["by", "without"] = "by" if word.group().lower() == "by" else "without"
    i = _skip(query, word.end(), end)
    if i >= end or query[i] != "(":
        return None, (), -1
    labels: list[str] = []
    i = _skip(query, i + 1, end)
    while i < end and query[i] != ")":
        name = _LABEL_NAME.match(query, i, end)
        quoted = _string(query, i) if name is None else None
        if name is not None:
            labels.append(name.group())
            i = name.end()
        elif quoted is not None:
            labels.append(quoted[0])
            i = quoted[1]
        else:
            return None, (), -1
        i = _skip(query, i, end)
        if i < end and query[i] == ",":
            i = _skip(query, i + 1, end)
        elif i < end and query[i] != ")":
            return None, (), -1
    if i >= end:
        return None, (), -1
    return clause, tuple(labels), _skip(query, i + 1, end)


def _skip(query: str, i: int, end: int) -> int:
    """Past white space and ``#`` comments."""
    while i < end:
        if query[i].isspace():
            i += 1
        elif query[i] == "#":
            stop = query.find("\n", i, end)
            i = end if stop < 0 else stop + 1
        else:
            break
    return i


def _string(query: str, i: int) -> tuple[str, int] | None:
    """The string literal at ``i`` (its value, escapes kept as written, and the index after it)."""
    if i >= len(query) or query[i] not in "\"'`":
        return None
    quote, j = query[i], i + 1
    while j < len(query) and query[j] != quote:
        j += 2 if quote != "`" and query[j] == "\\" else 1
    return (query[i + 1 : j], j + 1) if j < len(query) else None


def _closing(query: str, i: int, end: int) -> int | None:
    """The index of the bracket that closes the one at ``i`` (strings and comments skipped)."""
    depth = 0
    while i < end:
        char = query[i]
        if char == "#":
            i = _skip(query, i, end)
            continue
        if char in "\"'`":
            found = _string(query, i)
            if found is None:
                return None
            i = found[1]
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_OPERATOR = re.compile(r"==|!=|>=|<=|[-+*/%^<>]")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})
_NUMBER_WORDS = frozenset({"inf", "nan"})
_MATCHING = frozenset({"bool", "on", "ignoring", "group_left", "group_right"})
_KEEPS_RANGE = frozenset({"max", "min", "avg"})  # of ratios: a ratio


def is_ratio(query: str) -> bool:
    """Whether the whole query is one division of two vectors (``used / size``, ``sum(a) / on(x)
    sum(b)``), parentheses around it aside, or a ``max``, ``min`` or ``avg`` of one: its values are
    0..1 where it is a share of something. False for anything else: another operator beside it at the
    top (``100 * a / b``, ``1 - a / b``, ``a / b > 0.5``), a number on either side (``bytes / 1024``),
    or a metric's ``_sum`` over its ``_count`` (a mean)."""
    found = outer_aggregation(query)
    if found is not None:
        return found.operator in _KEEPS_RANGE and is_ratio(found.argument)
    tokens = _top_level(query)
    if len(tokens) == 1 and tokens[0][0] == "group":
        return is_ratio(tokens[0][1][1:-1])
    ops = [i for i, (kind, _) in enumerate(tokens) if kind == "op"]
    if len(ops) != 1 or tokens[ops[0]][1] != "/":
        return False
    left, right = tokens[: ops[0]], tokens[ops[0] + 1 :]
    while right and right[0][0] == "word" and right[0][1].lower() in _MATCHING:
        # a matching modifier and its labels: ``on (instance) group_left (name)``
        right = right[2:] if len(right) > 1 and right[1][0] == "group" else right[1:]
    if _names(left, "_sum") & _names(right, "_count"):
        return False  # a histogram's or a summary's mean (a latency, a size): no share
    return _a_vector(left) and _a_vector(right)


def range_at_top(query: str) -> str | None:
    """The range of a query whose value is a range vector (``up[5m]``, ``x{a="b"}[5m] offset 1h``, a
    subquery ``(a / b)[1h:5m]``), which a range query refuses at every run ("invalid expression type
    \"range vector\" for range query"); None for anything else (``rate(up[5m])``)."""
    tokens = _top_level(query)
    while len(tokens) == 1 and tokens[0][0] == "group" and tokens[0][1].startswith("("):
        tokens = _top_level(tokens[0][1][1:-1])
    # an operator between vectors (PromQL takes none of range vectors); a sign after offset or @
    # (``up[5m] offset -1h``) is the modifier's, no operator
    signed = {i for i in range(1, len(tokens)) if tokens[i - 1][1].lower() in ("offset", "@")}
    if any(kind == "op" and i not in signed for i, (kind, _) in enumerate(tokens)):
        return None
    for i, (kind, text) in enumerate(tokens):
        if kind == "group" and text.startswith("[") and i > 0 and tokens[i - 1][0] in ("word", "group"):
            return text
    return None


def log_query(query: str) -> Literal["selector", "pipeline"] | None:
    """What makes ``query`` a LogQL log query, which answers log lines (Loki's ``resultType:
    streams``), not numbers: a stream selector at its top (``selector``: ``{app="shop"}``), followed by
    a pipeline (``pipeline``: ``{app="shop"} |= "error" | json``); None for anything else, a metric
    query (``count_over_time({app="shop"} [5m])``) and PromQL's own ``{__name__="up"}`` alike."""
    tokens = _top_level(query)
    while len(tokens) == 1 and tokens[0][0] == "group" and tokens[0][1].startswith("("):
        tokens = _top_level(tokens[0][1][1:-1])
    if not tokens or tokens[0][0] != "group" or not tokens[0][1].startswith("{"):
        return None
    return "pipeline" if any(kind == "other" and text == "|" for kind, text in tokens) else "selector"


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')
_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|[smhdwy]))+)\s*(?::[^\]]*)?\]")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def shortest_range(query: str) -> float | None:
    """The shortest range a query's functions take over at its evaluation steps (``rate(x[1m])``,
    ``count_over_time({...} [5m])``, a subquery's own ``[1h:5m]``), in seconds; None where it takes
    none. The ranges inside a subquery are left out (it evaluates them at its own resolution, not at
    the query's step), and strings and comments are not read (a regex ``=~"[a-z]+"`` is no range)."""
    bare = _STRINGS.sub(" ", query)
    inside: list[tuple[int, int]] = []  # the expressions subqueries take (from, to)
    for m in _RANGE.finditer(bare):
        if ":" in m.group(0):
            inside.append((_operand_start(bare, m.start()), m.start()))
    found = [
        sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", m.group(1)))
        for m in _RANGE.finditer(bare)
        if not any(a <= m.start() < b for a, b in inside)
    ]
    return min(found) if found else None


def _operand_start(bare: str, at: int) -> int:
    """Where the expression a bracket at ``at`` applies to begins: the ``(`` of a parenthesised one,
    else the selector or name before it (strings already blanked)."""
    i = at - 1
    while i >= 0 and bare[i].isspace():
        i -= 1
    if i >= 0 and bare[i] in ")}":
        close, open_ = bare[i], "(" if bare[i] == ")" else "{"
        depth = 0
        while i >= 0:
            depth += bare[i] == close
            depth -= bare[i] == open_
            if depth == 0:
                break
            i -= 1
        if open_ == "(":
            return max(i, 0)
    while i > 0 and (bare[i - 1].isalnum() or bare[i - 1] in "_:"):
        i -= 1
    return max(i, 0)


def _names(tokens: list[tuple[str, str]], suffix: str) -> set[str]:
    """The metric names ending in ``suffix`` on one side of an operator, the suffix cut off."""
    text = " ".join(t for kind, t in tokens if kind in ("word", "group"))
    return {w.removesuffix(suffix) for w in _WORD.findall(text) if w.endswith(suffix) and w != suffix}


def _a_vector(tokens: list[tuple[str, str]]) -> bool:
    """Whether one side of an operator holds more than numbers (a selector, a call, a group)."""
    return any(kind in ("word", "group") for kind, _ in tokens)


def _top_level(query: str) -> list[tuple[str, str]]:
    """The query's tokens outside brackets: ``(kind, text)``, kind one of op, num, word, group (a
    bracketed part, brackets included), str, other."""
    out: list[tuple[str, str]] = []
    i, end = 0, len(query)
    while (i := _skip(query, i, end)) < end:
        char = query[i]
        if char in "([{":
            j = _closing(query, i, end)
            if j is None:
                return [("other", query[i:])]
            out.append(("group", query[i : j + 1]))
            i = j + 1
        elif char in "\"'`":
            found = _string(query, i)
            if found is None:
                return [("other", query[i:])]
            out.append(("str", query[i : found[1]]))
            i = found[1]
        elif (number := _NUMBER.match(query, i)) is not None:
            out.append(("num", number.group()))
            i = number.end()
        elif (word := _WORD.match(query, i)) is not None:
            name = word.group()
            kind = (
                "op"
                if name.lower() in _WORD_OPERATORS
                else "num"
                if name.lower() in _NUMBER_WORDS
                else "word"
            )
            out.append((kind, name))
            i = word.end()
        elif (op := _OPERATOR.match(query, i)) is not None:
            out.append(("op", op.group()))
            i = op.end()
        else:
            out.append(("other", char))
            i += 1
    return out


# What takes a counter's value and gives something a detector can watch (a rate, an increase, how often
# it reset), or reads only whether its series are there (how many, since when).
_COUNTER_SAFE = frozenset(
    {
        "rate",
        "irate",
        "increase",
        "resets",
        "changes",
        "count",
        "group",
        "absent",
        "absent_over_time",
        "present_over_time",
        "count_over_time",
        "timestamp",
        "histogram_quantile",  # (of a rate of buckets; a bucket outside rate() is said as raw below)
    }
)
_COUNTER_SUFFIXES = ("_total", "_count", "_bucket")
_NOT_METRICS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
        "start",
        "end",
    }
)
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def raw_counters(query: str) -> list[str]:
    """The counters (``..._total``, ``..._count``, ``..._bucket``) the query reads outside any function
    that makes a rate of them (``rate``, ``irate``, ``increase``, ``resets``, ``changes``) or counts their
    series (``count``, ``absent``, ...): ``sum(http_requests_total)`` only grows, so a detector finds
    nothing in it but its resets, and an exhaustion is predicted of every busy service. Not a parser:
    strings, comments, label matchers, ranges and label lists are skipped; a name it cannot place is
    left out (said only where it is sure)."""
    bare = _STRINGS.sub('""', query)
    found: list[str] = []
    stack: list[str] = []  # the function (or "" for a bare parenthesis) each open "(" belongs to
    i, n = 0, len(bare)
    last = before = ""  # the word just read (a function's name, before its "("), and the one before it
    while i < n:
        c = bare[i]
        if c in "{[":  # label matchers and ranges: nothing of a metric's name
            close = "}" if c == "{" else "]"
            j = bare.find(close, i)
            i = n if j < 0 else j + 1
            continue
        if c == "(":
            if last in _LABEL_LISTS:  # by (service, ...): label names, skipped; the aggregation goes on
                j = bare.find(")", i)
                i, last = (n if j < 0 else j + 1), before
                continue
            stack.append(last)
            last = ""
            i += 1
            continue
        if c == ")":
            if stack:
                stack.pop()
            last = ""
            i += 1
            continue
        m = _IDENT.match(bare, i)
        if m is None or (i > 0 and (bare[i - 1].isalnum() or bare[i - 1] in "_.")):
            if c.isdigit() or c == ".":  # a number, a duration: skipped whole
                while i < n and (bare[i].isalnum() or bare[i] == "."):
                    i += 1
                last = ""
                continue
            last = "" if not c.isspace() else last
            i += 1
            continue
        name = m.group()
        i = m.end()
        j = i
        while j < n and bare[j].isspace():
            j += 1
        before, last = last, name.lower()
        if j < n and bare[j] == "(":  # a function, an aggregation, or its label list
            continue
        if name.lower() in _NOT_METRICS or not name.endswith(_COUNTER_SUFFIXES):
            continue
        if not any(f in _COUNTER_SAFE for f in stack) and name not in found:
            found.append(name)
    return found
