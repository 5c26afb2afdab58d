"""A double of Grafana Loki's query API: log lines pushed by the test, and ``GET
/loki/api/v1/query_range`` evaluating the LogQL metric queries Medic's Loki scans ask, as Loki answers
them today (3.x). No Grafana Loki binary is packaged for this machine (Debian's ``loki`` is another
program), so the double is what the tests run against.

What it holds to, with its sources (repository ``grafana/loki`` unless said):

- **Parameters** (``pkg/loghttp/params.go``, ``parseTimestamp``): ``start`` and ``end`` as float
  seconds when they hold a ``.`` (the fraction rounded to milliseconds), as an integer of at most 10
  digits in seconds and of more in nanoseconds (the reference, docs/sources/reference/loki-http-api.md,
  documents nanoseconds), else RFC 3339; ``step`` as float seconds or a duration (``5m``).
  ``pkg/loghttp/query.go`` refuses, in these words: ``end`` before ``start``, a step of 0 or less,
  and more than 11,000 steps.
- **What a metric query answers** (``pkg/util/marshal/query.go``): ``{"status": "success", "data":
  {"resultType": "matrix", "result": [{"metric": {...}, "values": [[<seconds>, "<value>"], ...]}],
  "stats": {...}}}``, each series sorted by time, evaluated at ``start + k * step`` up to ``end``
  over the lines in ``(t - range, t]`` (``pkg/logql/range_vector.go``: the lower bound is not
  inclusive). **A step whose range holds no line has no point**, and a series with none in the
  whole range is not in the result (``popBack`` deletes an empty window). A log query (a selector
  and its filters) answers ``resultType: streams``, each line ``["<nanoseconds>", "<line>"]``.
- **Errors are plain text** (``pkg/util/server/error.go``, ``WriteError``: ``Content-Type:
  text/plain; charset=utf-8``, the bare message): a parse error 400 ``parse error at line 1, col N:
  syntax error: ...`` (``pkg/logqlmodel/error.go``); the query length limit 400 ``the query time range
  exceeds the limit (query length: ..., limit: ...)`` (``pkg/querier/queryrange/limits.go``,
  ``max_query_length``, default 721h); ``max_query_series`` (default 500) 400 ``maximum number of
  series (500) reached for a single query; ...``; a query past ``query_timeout`` 504 ``Request timed
  out, decrease the duration of the request ...``.
- **Tenants** (docs/sources/operations/multi-tenancy.md): with ``auth_enabled`` (``tenants`` given)
  every call needs ``X-Scope-OrgID``, else 401 ``no org id`` (dskit's ``AuthenticateUser``, written
  with ``http.Error``: a trailing newline); ``a|b`` reads several where
  ``multi_tenant_queries_enabled`` (``federation``), each series labelled ``__tenant_id__`` when
  more than one is read (``pkg/querier/multi_tenant_querier.go``), else ``multiple org IDs present``.
  Without ``tenants``, Loki is single-tenant (its tenant ``fake``) and ignores the header.
- ``GET /loki/api/v1/status/buildinfo`` is the bare object (``pkg/loki/version_handler.go`` encodes
  ``PrometheusVersion`` without an envelope); ``GET /ready`` answers ``ready``.

The LogQL understood is the part scans use: ``[sum|count|max|min|avg [by|without (l, ...)]] (
count_over_time|rate|bytes_over_time|bytes_rate ({matchers} [|= "x" | != "x" | |~ "re" | !~ "re"]...
[range]))``; anything else is a parse error in Loki's words. Every call is in the request log.
"""

import bisect
import itertools
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.doubles._base import HttpDouble

__all__ = ["LokiDouble"]

_MAX_STEPS = 11_000
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>\|=|!=|\|~|!~|=~|=|\(|\)|\{|\}|\[|\]|,)'
    r"|(?P<dur>(?:\d+(?:ms|s|m|h|d|w|y))+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_AGGREGATIONS = {"sum", "count", "max", "min", "avg"}
_RANGES = {"count_over_time", "rate", "bytes_over_time", "bytes_rate"}
_STATS = {
    "summary": {
        "bytesProcessedPerSecond": 0,
        "linesProcessedPerSecond": 0,
        "totalBytesProcessed": 0,
        "totalLinesProcessed": 0,
        "execTime": 0.001,
        "queueTime": 0,
        "subqueries": 0,
        "totalEntriesReturned": 0,
        "splits": 1,
        "shards": 1,
    },
    "querier": {"store": {}},
    "ingester": {"totalReached": 0, "store": {}},
    "cache": {},
    "index": {"totalChunks": 0},
}


class LogQLError(Exception):
    """Loki's parse error (pkg/logqlmodel/error.go): ``parse error at line 1, col N: syntax error:
    ...`` from the grammar, ``parse error : ...`` for what is found past it (no position)."""

    def __init__(self, col: int, said: str) -> None:
        super().__init__(
            f"parse error at line 1, col {col}: syntax error: {said}" if col else f"parse error : {said}"
        )


@dataclass
class _Query:
    matchers: list[tuple[str, str, str]]
    filters: list[tuple[str, str]]
    function: str | None = None  # a range function: a metric query
    range_seconds: float = 0.0
    aggregation: str | None = None
    grouping: str | None = None  # by, without
    labels: tuple[str, ...] = ()


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        found = _TOKEN.match(text, i)
        if found is None or found.end() == i:
            raise LogQLError(i + 1, f"unexpected character {text[i]!r}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind), found.start(kind) + 1))
        i = found.end()
    return out


def _seconds(duration: str) -> float:
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(duration))


def _unquote(token: str) -> str:
    return token[1:-1] if token.startswith("`") else bytes(token[1:-1], "utf-8").decode("unicode_escape")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.end = len(text) + 1

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", self.end)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v, col = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind) or k == "end":
            raise LogQLError(
                col, f"unexpected {v or 'end of input'}" + (f", expecting {value}" if value else "")
            )
        self.i += 1
        return v

    def query(self) -> _Query:
        _k, v, _ = self.peek()
        if v == "{":
            q = self.log_query()
        elif v in _AGGREGATIONS:
            q = self.aggregation()
        else:
            q = self.range_call()
        if self.peek()[0] != "end":
            raise LogQLError(self.peek()[2], f"unexpected {self.peek()[1]}")
        return q

    def aggregation(self) -> _Query:
        name = self.take()
        grouping: str | None = None
        labels: tuple[str, ...] = ()
        if self.peek()[1] in ("by", "without"):
            grouping, labels = self.take(), self.label_list()
        self.take("(")
        inner = self.range_call()
        self.take(")")
        if self.peek()[1] in ("by", "without"):
            grouping, labels = self.take(), self.label_list()
        inner.aggregation, inner.grouping, inner.labels = name, grouping, labels
        return inner

    def label_list(self) -> tuple[str, ...]:
        self.take("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.take(kind="word"))
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return tuple(out)

    def range_call(self) -> _Query:
        _k, v, col = self.peek()
        if v not in _RANGES:
            raise LogQLError(col, f"unexpected {v or 'end of input'}")
        self.take()
        self.take("(")
        q = self.log_query()
        self.take("[")
        q.range_seconds = _seconds(self.take(kind="dur"))
        self.take("]")
        self.take(")")
        q.function = v
        return q

    def log_query(self) -> _Query:
        self.take("{")
        matchers = []
        while self.peek()[1] != "}":
            name = self.take(kind="word")
            op = self.take(kind="op")
            if op not in ("=", "!=", "=~", "!~"):
                raise LogQLError(self.peek()[2], f"unexpected {op}")
            matchers.append((name, op, _unquote(self.take(kind="str"))))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        if not any(
            (op in ("=", "=~") and not re.fullmatch(v if op == "=~" else re.escape(v), ""))
            for _, op, v in matchers
        ):
            raise LogQLError(
                0,
                "queries require at least one regexp or equality matcher that does not have an "
                'empty-compatible value. For instance, app=~".*" does not meet this requirement, but '
                'app=~".+" will',
            )
        filters = []
        while self.peek()[1] in ("|=", "!=", "|~", "!~"):
            op = self.take()
            filters.append((op, _unquote(self.take(kind="str"))))
        return _Query(matchers=matchers, filters=filters)


def parse_logql(text: str) -> _Query:
    return _Parser(text).query()


def _parse_time(value: str | None, default: float) -> float:
    """``parseTimestamp`` of pkg/loghttp/params.go."""
    if not value:
        return default
    if "." in value:
        try:
            return round(float(value), 3)
        except ValueError:
            pass
    try:
        whole = int(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(whole) if len(value) <= 10 else whole / 1e9


def _parse_step(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        if not _DURATION.fullmatch(value) and not re.fullmatch(r"(?:\d+(?:ms|s|m|h|d|w|y))+", value):
            raise ValueError(f'cannot parse "{value}" to a valid duration') from None
        return _seconds(value)


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


def _kept(line: str, filters: list[tuple[str, str]]) -> bool:
    for op, text in filters:
        ok = {
            "|=": text in line,
            "!=": text not in line,
            "|~": re.search(text, line) is not None,
            "!~": re.search(text, line) is None,
        }[op]
        if not ok:
            return False
    return True


def _duration_said(seconds: float) -> str:
    """Prometheus's ``model.Duration`` words (``30d1h``, ``745h0m0s`` for Go's ``time.Duration``)."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s"


def _time_said(t: float) -> float | int:
    """A point's time as Loki writes it: whole seconds, or seconds with a millisecond fraction."""
    ms = round(t * 1000)
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


class LokiDouble(HttpDouble):
    def __init__(
        self,
        *,
        tenants: tuple[str, ...] | None = None,
        federation: bool = False,
        max_query_series: int = 500,
        max_query_length: float = 721 * 3600,
        query_timeout: float | None = None,
    ) -> None:
        super().__init__(title="Grafana Loki")
        self._tenants = tenants
        self._federation = federation
        self._max_series = max_query_series
        self._max_length = max_query_length
        self._timeout = query_timeout
        # tenant -> stream labels (sorted items) -> [(time, line)]
        self._logs: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.app.add_api_route("/loki/api/v1/query_range", self._query_range, methods=["GET"])
        self.app.add_api_route("/loki/api/v1/status/buildinfo", self._build_info, methods=["GET"])
        self.app.add_api_route("/ready", self._ready, methods=["GET"])

    def push(self, labels: dict[str, str], at: float, line: str, *, tenant: str | None = None) -> None:
        """One log line of the stream ``labels`` at ``at`` (epoch seconds)."""
        self._logs[tenant or "fake"][tuple(sorted(labels.items()))].append((at, line))

    async def _build_info(self) -> JSONResponse:
        return JSONResponse(
            {
                "version": "3.4.2",
                "revision": "1d3d2ea",
                "branch": "HEAD",
                "buildUser": "root@buildkitsandbox",
                "buildDate": "2025-05-09T11:20:29Z",
                "goVersion": "go1.24.1",
            }
        )

    async def _ready(self) -> PlainTextResponse:
        return PlainTextResponse("ready\n")

    def _tenants_of(self, request: Request) -> list[str] | Response:
        if self._tenants is None:
            return ["fake"]
        said = request.headers.get("x-scope-orgid", "")
        if not said:
            return PlainTextResponse("no org id\n", status_code=401)
        asked = said.split("|")
        if len(asked) > 1 and not self._federation:
            return _error(400, "multiple org IDs present")
        return asked

    async def _query_range(self, request: Request) -> Response:
        tenants = self._tenants_of(request)
        if isinstance(tenants, Response):
            return tenants
        params = request.query_params
        now = time.time()
        try:
            end = _parse_time(params.get("end"), now)
            start = _parse_time(params.get("start"), end - 3600)
            step = (
                _parse_step(params["step"]) if params.get("step") else max(math.floor((end - start) / 250), 1)
            )
        except ValueError as err:
            return _error(400, str(err))
        if end < start:
            return _error(400, "end timestamp must not be before or equal to start time")
        if step <= 0:
            return _error(
                400, "zero or negative query resolution step widths are not accepted. Try a positive integer"
            )
        if (end - start) / step > _MAX_STEPS:
            return _error(
                400,
                "exceeded maximum resolution of 11,000 points per time series. Try increasing the value "
                "of the step parameter",
            )
        try:
            query = parse_logql(params.get("query", ""))
        except LogQLError as err:
            return _error(400, str(err))
        if query.function is not None and end - start > self._max_length:
            return _error(
                400,
                f"the query time range exceeds the limit (query length: {_duration_said(end - start)}, "
                f"limit: {_duration_said(self._max_length)})",
            )
        if self._timeout is not None and end - start > self._timeout:  # a long range takes too long
            return _error(
                504,
                "Request timed out, decrease the duration of the request or add more label matchers "
                "(prefer exact match over regex match) to reduce the amount of data processed.",
            )
        streams = [
            (({**dict(labels), "__tenant_id__": tenant} if len(tenants) > 1 else dict(labels)), lines)
            for tenant in tenants
            for labels, lines in self._logs.get(tenant, {}).items()
            if _matches(dict(labels), query.matchers)
        ]
        if query.function is None:
            result: list[dict[str, Any]] = [
                {
                    "stream": labels,
                    "values": [
                        [str(round(t * 1e9)), line]
                        for t, line in sorted(lines, reverse=True)
                        if start <= t < end and _kept(line, query.filters)
                    ],
                }
                for labels, lines in streams
            ]
            return _success("streams", [r for r in result if r["values"]])
        series = self._evaluate(query, streams, start, end, step)
        if len(series) > self._max_series:
            return _error(
                400,
                f"maximum number of series ({self._max_series}) reached for a single query; consider "
                "reducing query cardinality by adding more specific stream selectors, reducing the time "
                "range, or aggregating results with functions like sum(), count() or topk()",
            )
        return _success(
            "matrix",
            [
                {
                    "metric": dict(key),
                    "values": [[_time_said(t), _value(v)] for t, v in sorted(points.items())],
                }
                for key, points in sorted(series.items())
            ],
        )

    def _evaluate(
        self,
        query: _Query,
        streams: list[tuple[dict[str, str], list[tuple[float, str]]]],
        start: float,
        end: float,
        step: float,
    ) -> dict[tuple[tuple[str, str], ...], dict[float, float]]:
        steps = [start + k * step for k in range(math.floor((end - start) / step + 1e-9) + 1)]
        per_stream: list[tuple[dict[str, str], dict[float, float]]] = []
        for labels, lines in streams:
            kept = sorted((t, len(line.encode())) for t, line in lines if _kept(line, query.filters))
            times = [t for t, _ in kept]
            sizes = [0, *itertools.accumulate(size for _, size in kept)]
            points: dict[float, float] = {}
            for t in steps:
                first, last = (
                    bisect.bisect_right(times, t - query.range_seconds),
                    bisect.bisect_right(times, t),
                )
                if first == last:  # no line in the range: no point (range_vector.go, popBack)
                    continue
                count, size = float(last - first), float(sizes[last] - sizes[first])
                points[t] = {
                    "count_over_time": count,
                    "rate": count / query.range_seconds,
                    "bytes_over_time": size,
                    "bytes_rate": size / query.range_seconds,
                }[query.function or "count_over_time"]
            if points:
                per_stream.append((labels, points))
        if query.aggregation is None:
            return {tuple(sorted(labels.items())): points for labels, points in per_stream}
        groups: dict[tuple[tuple[str, str], ...], dict[float, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for labels, points in per_stream:
            if query.grouping == "by":
                key = tuple(sorted((k, v) for k, v in labels.items() if k in query.labels))
            elif query.grouping == "without":
                key = tuple(sorted((k, v) for k, v in labels.items() if k not in query.labels))
            else:
                key = ()
            for t, v in points.items():
                groups[key][t].append(v)
        folds: dict[str, Callable[[list[float]], float]] = {
            "sum": sum,
            "count": lambda vs: float(len(vs)),
            "max": max,
            "min": min,
            "avg": lambda vs: sum(vs) / len(vs),
        }
        fold = folds[query.aggregation]
        return {key: {t: float(fold(vs)) for t, vs in points.items()} for key, points in groups.items()}


def _value(v: float) -> str:
    """A sample's value as Go's ``model.SampleValue.String()`` writes it (``"3"``, ``"0.05"``)."""
    return repr(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _success(kind: str, result: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(
        {"status": "success", "data": {"resultType": kind, "result": result, "stats": _STATS}}
    )


def _error(status: int, message: str) -> PlainTextResponse:
    """``WriteError``: the bare message, text/plain."""
    return PlainTextResponse(message, status_code=status)
