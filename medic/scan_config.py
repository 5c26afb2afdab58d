"""What ``anomaly.yaml`` configures (:class:`ScanSpec`, one per scan) and what ``medic check`` says of
it: every problem at its own line in one pass, schema and cross-field checks together (a scan's unknown
detector was said only once its misspelt keys were mended, a duplicate name only once everything else
was), a "did you mean" for near misses, the name rule in words, and a ``service:`` the catalog does
not know (its anomalies opened incidents outside the catalog: P5, the default channel)."""

import math
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from medic.anomaly import NAME_PATTERN
from medic.catalog import Catalog
from medic.detect import DETECTORS
from medic.detect.core import points_a_day
from medic.forecast import Direction
from medic.promql import (
    is_ratio,
    log_query,
    outer_aggregation,
    range_at_top,
    raw_counters,
    shortest_range,
    unbalanced,
)
from medic.yamldoc import ConfigProblem, did_you_mean, field_path, load_checked, locate

__all__ = [
    "MAX_POINTS",
    "NAME_RULE",
    "AnomalyConfig",
    "ScanSpec",
    "load_anomaly_config",
    "spec_problems",
]

MAX_POINTS = 11_000  # Prometheus's (and Loki's) limit on the points of a range query's series
_SHARED_POINTS = 20  # points a run of a scan needs for a shared silence (medic.shared_silence)

_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
NAME_RULE = (
    "1 to 63 lower-case letters, digits and dashes, beginning and ending with a letter or digit "
    "(it names the scan's Temporal Schedule and its state)"
)
_SERVICE = re.compile(NAME_PATTERN)
_SERVICE_RULE = "up to 128 letters, digits and _ . : / -, beginning with a letter or digit"
# Validation context of a whole file: its cross-check says each coherence problem at its own line,
# even beside a misspelt key of the same scan (a model validator runs only once every field passed)
_CROSS_CHECKED = "cross_checked"


Source = Literal["prometheus", "loki"]
SOURCE_NAMES: dict[str, str] = {"prometheus": "Prometheus", "loki": "Loki"}


class ScanSpec(BaseModel):
    """One configured scan: a PromQL query (or a LogQL metric query, ``source: loki``) whose every
    series is watched."""

    # a capacity of .nan or .inf was accepted and then never predicted anything
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(description=NAME_RULE)
    query: str = Field(min_length=1, max_length=4000)
    source: Source = Field(
        default="prometheus",
        description="where the query is asked: prometheus (MEDIC_PROMETHEUS_URL: PromQL) or loki "
        "(MEDIC_LOKI_URL: a LogQL metric query, e.g. "
        'sum by (service) (count_over_time({namespace="shop"} |= "error" [5m])))',
    )
    absent: Literal["missing", "zero"] | None = Field(
        default=None,
        description="what a step the query answers no point for means, in a series it answered before: "
        "missing (a scrape that failed, a gap; Prometheus's default) or zero (no log line in the range: "
        "Loki's default, where a count of 0 is no point at all)",
    )
    service: str | None = Field(default=None, description="the catalog service of every series")
    service_label: str = Field(default="service", description="else the label that names it")
    pipeline_service: str | None = Field(
        default=None,
        description="the catalog service of what the series come through (the log shipper, Loki): where"
        " most series fall to 0 at once (absent: zero), their silences are one finding of it, to its team;"
        " unset: each service's silence is its own finding",
    )
    every_seconds: int = Field(default=300, ge=1, le=86400)
    lookback_seconds: int = Field(default=3600, ge=10, le=30 * 86400)
    step_seconds: float = Field(default=60.0, ge=0.1, le=86400)
    detector: str = "ensemble"
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    sensitivity: float = Field(default=1.0, gt=0.0, le=100.0)
    warmup: int = Field(default=150, ge=0, le=100_000)
    severity: str = Field(default="warning", pattern=r"^(critical|error|warning|info)$")
    capacity: float | None = None
    horizon_seconds: float | None = Field(default=None, gt=0)
    direction: Direction = Field(
        default="auto",
        description="how the resource runs out: rising to capacity (used bytes, a working set, "
        "connections) or falling to it (free bytes, an error budget); auto: the side of the capacity "
        "most of the window lies on (it cannot tell a used ratio past its capacity from a free amount "
        "above its floor: say it)",
    )
    shift_hold_seconds: int = Field(
        default=21600,
        ge=0,
        le=7 * 86400,
        description="a finding whose series stays outside the band it left (a level shift that lasts: an "
        "error rate stuck at five times its level) stays active while it does, up to this long after it "
        "began; then the new level is the series' normal and its incident may resolve. 0: a finding is "
        "active only to its last anomalous point (its incident resolved a quiet period later, shifted)",
    )
    forget_after_seconds: int = Field(
        default=86400,
        ge=60,
        le=90 * 86400,
        description="a series the query no longer returns is forgotten once its last point is this old "
        "(replaced pods, label churn): the saved state stays bounded by what the query returns",
    )

    @property
    def source_name(self) -> str:
        """Prometheus or Loki, as said to people."""
        return SOURCE_NAMES[self.source]

    @property
    def absent_is_zero(self) -> bool:
        """Whether a step without a point is a 0 (``absent``; by default for Loki only)."""
        return self.absent == "zero" if self.absent is not None else self.source == "loki"

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        # in words: "String should match pattern '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'" was the message
        if not _NAME.fullmatch(value):
            raise PydanticCustomError(
                "scan_name", "{value} is not a scan name: {rule}", _said(value, NAME_RULE)
            )
        return value

    @field_validator("service", "pipeline_service")
    @classmethod
    def _service_rule(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE.fullmatch(value):
            raise PydanticCustomError(
                "service_name", "{value} is not a service name: {rule}", _said(value, _SERVICE_RULE)
            )
        return value

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> "ScanSpec":
        if isinstance(info.context, dict) and info.context.get(_CROSS_CHECKED):
            return self  # load_anomaly_config says each problem at its own line
        problems = spec_problems(self)
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        return self


def _said(value: str, rule: str) -> dict[str, Any]:
    return {"value": repr(value[:80]), "rule": rule}


def spec_problems(spec: ScanSpec) -> list[tuple[str, str]]:
    """``(field, message)`` for each setting that does not go with the others. Safe on a salvaged
    spec (a field that failed its own check holds a neutral value: 0, an empty string)."""
    out: list[tuple[str, str]] = []
    if spec.detector not in DETECTORS:
        out.append(
            (
                "detector",
                f"unknown {spec.detector!r}{did_you_mean(spec.detector, DETECTORS)}; "
                f"known: {', '.join(sorted(DETECTORS))}",
            )
        )
    if (spec.capacity is None) != (spec.horizon_seconds is None):
        missing = "horizon_seconds" if spec.horizon_seconds is None else "capacity"
        out.append((missing, "capacity and horizon_seconds go together (a prediction needs both)"))
    step, lookback = spec.step_seconds, spec.lookback_seconds
    if step > 0 and lookback > 0:
        if lookback < 3 * step:
            out.append(
                (
                    "lookback_seconds",
                    f"lookback_seconds ({lookback}) must cover at least 3 steps of step_seconds ({step:g}):"
                    f" a run fetches fewer points than a trend or a score needs; raise lookback_seconds to"
                    f" {math.ceil(3 * step)}, or lower step_seconds to {lookback / 3:.4g} or less",
                )
            )
        elif lookback / step > MAX_POINTS:
            out.append(
                (
                    "lookback_seconds",
                    f"lookback_seconds / step_seconds is {lookback / step:,.0f} points;"
                    f" {spec.source_name} answers at most {MAX_POINTS:,} a series (raise step_seconds"
                    " or lower lookback)",
                )
            )
    return out


class AnomalyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scans: list[ScanSpec] = Field(default_factory=list)


def load_anomaly_config(
    text: str, *, source: str, catalog: Catalog | None = None, queries: bool = False
) -> AnomalyConfig:
    """Parse and validate ``anomaly.yaml``; every problem with its line in one ConfigError. With the
    ``catalog``, a ``service:`` it does not know (by name or alias) is one of them; with ``queries``
    (``medic check``), a query whose brackets or quotes do not balance (a worker leaves the query to
    Prometheus: a scan's failures show in ``GET /anomalies/scans``), a query whose result cannot have
    the ``service_label``, runs more often than the step (a warning) and a percentage ``capacity`` of a
    ratio (a warning)."""

    def cross_check(config: AnomalyConfig, root: yaml.Node | None) -> list[ConfigProblem]:
        return _problems(config, root, source=source, catalog=catalog, queries=queries)

    return load_checked(
        text, AnomalyConfig, source=source, cross_check=cross_check, context={_CROSS_CHECKED: True}
    )


def _problems(
    config: AnomalyConfig, root: yaml.Node | None, *, source: str, catalog: Catalog | None, queries: bool
) -> list[ConfigProblem]:
    out: list[ConfigProblem] = []

    def problem(i: int, field: str, message: str, *, warning: bool = False) -> None:
        loc = ("scans", i, field)
        out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message, warning=warning))

    seen: set[str] = set()
    known = [n for s in catalog.services for n in (s.name, *s.aliases)] if catalog is not None else []
    for i, scan in enumerate(config.scans):
        if scan.name in seen:
            problem(i, "name", f"scan {scan.name!r} is defined twice")
        seen.add(scan.name)
        for field, message in spec_problems(scan):
            problem(i, field, message)
        if queries and (wrong := unbalanced(scan.query)):
            problem(i, "query", f"{wrong}: {scan.source_name} would refuse it at every run")
        elif queries and (log_query := _log_query(scan)):
            problem(i, "query", log_query)
        elif queries and (span := range_at_top(scan.query)):
            problem(
                i,
                "query",
                f"a range vector ({span} at its top), which a range query refuses at every run: a scan "
                f"asks one value a series at each step; ask for one over the range, e.g. "
                f"rate(...{span}), avg_over_time(...{span}) or max_over_time(...{span})",
            )
        if queries:
            for field, message, warning in _query_problems(scan):
                problem(i, field, message, warning=warning)
        if catalog is not None and scan.service and catalog.resolve(scan.service) is None:
            problem(
                i,
                "service",
                f"service {scan.service!r} is not in the catalog{did_you_mean(scan.service, known)}: its"
                " anomalies would open incidents outside it (no owner: priority P5, the default channel)",
                # a warning: the worker runs it (a node or workload incident's name is no catalog
                # service), and a rollout of a configuration that ran must not stop at check
                warning=True,
            )
        pipeline = scan.pipeline_service
        if catalog is not None and pipeline and catalog.resolve(pipeline) is None:
            problem(
                i,
                "pipeline_service",
                f"service {pipeline!r} is not in the catalog{did_you_mean(pipeline, known)}: a silence"
                " most series share would open an incident outside it (no owner: priority P5, the default"
                " channel)",
                warning=True,
            )
        points = scan.lookback_seconds / scan.step_seconds if scan.step_seconds > 0 else 0.0
        if pipeline and scan.absent_is_zero and 0 < points < _SHARED_POINTS:
            problem(
                i,
                "pipeline_service",
                f"a run holds {points:.0f} points of a series (lookback_seconds / step_seconds), and a"
                f" shared silence is judged on {_SHARED_POINTS} at least (10 with lines before a run of 0"
                " longer than the earlier ones): it is never found; raise lookback_seconds to"
                f" {math.ceil(_SHARED_POINTS * scan.step_seconds)}",
                warning=True,
            )
        if pipeline and not scan.absent_is_zero:
            problem(
                i,
                "pipeline_service",
                "a shared silence is found where a step without a point is a 0 (absent: zero, Loki's"
                " default): this scan's missing points are gaps, and pipeline_service is never used",
                warning=True,
            )
    return sorted(out, key=lambda p: p.line)


def _log_query(spec: ScanSpec) -> str | None:
    """The error of a LogQL log query (a stream selector at its top, ``{app="shop"} |= "error"``): it
    answers log lines (Loki's ``resultType: streams``), which no detector scores; asked of Prometheus
    (a pipeline after the selector), it is a parse error at every run."""
    found = log_query(spec.query)
    if spec.source == "loki" and found is not None:
        return (
            "a log query (a stream selector at its top): Loki answers it with log lines, and a scan"
            " scores numbers; count them over a range, e.g. sum by (service) (count_over_time("
            f"{spec.query.strip()[:120]} [5m]))"
        )
    if spec.source == "prometheus" and found == "pipeline":
        return (
            "a LogQL query (a stream selector and a pipeline), asked of Prometheus, which refuses it at"
            " every run: set source: loki (and MEDIC_LOKI_URL), with a metric query such as"
            " sum by (service) (count_over_time(... [5m]))"
        )
    return None


# The detectors that use days: the level part's daily season, and `still`'s rests that recur each day
# (a counter idle every night is not stuck); `change` and `knn` keep none.
_SEASONAL = ("ensemble", "level", "still")


def _without_days(spec: ScanSpec) -> str | None:
    """A warning when the scan's detector looks for a daily season and its step gives it none: finer
    than a minute, or not a whole number of steps a day (a field review: a business-hours ramp
    alarmed about 0.7 times a weekday a series at 15 s and 30 s; the detector works, without days).
    A step of more than 6 hours has no day to hold, and is left alone."""
    step = spec.step_seconds
    if spec.detector not in _SEASONAL or step > 86400 / 4 or points_a_day(step):
        return None
    why = "finer than one point a minute" if step < 60 else "not a whole number of steps a day"
    return (
        f"step_seconds ({step:g}) is {why}: the detector then keeps no days, so what recurs each day"
        " at the same time (a morning ramp, a nightly batch) is not known as ordinary and can alarm"
        " every day; a step of 60 s or more that divides a day (60, 120, 300, 600) keeps them (the"
        " scrape interval does not decide the step)"
    )


def _seconds_said(seconds: float) -> str:
    """``90`` as ``90s``, ``300`` as ``5m``, ``3600`` as ``1h`` (as a range is written)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _query_problems(spec: ScanSpec) -> list[tuple[str, str, bool]]:
    """``(field, message, warning)``: what ``medic check`` reads of a scan's query and timing (the
    worker runs the scan all the same: these are said, never a reason for a worker to refuse it)."""
    out: list[tuple[str, str, bool]] = []
    label, found = spec.service_label, None if unbalanced(spec.query) else outer_aggregation(spec.query)
    if not spec.service and label and found is not None and found.keeps(label) is False:
        # Certain (the whole query is that aggregation: no series it returns can have the label), yet
        # a warning: the worker runs the scan, and `medic check` is the chart's init container, where
        # an error would stop the rollout of a configuration that runs (as a scan's service outside
        # the catalog is a warning for the same reason).
        how, mend = {
            "by": ("whose series carry only the labels its by (...) lists", f"Add {label} to its by (...)"),
            "without": (f"whose without (...) removes {label}", f"Take {label} out of its without (...)"),
        }.get(found.clause or "", ("which keeps no label (it has no by (...))", f"Aggregate by ({label})"))
        field = "service_label" if "service_label" in spec.model_fields_set else "query"
        message = (
            f"no series of the query can have the label {label!r} (service_label): the whole query is"
            f" `{found.said()}`, {how}; every series would be of service 'unknown', its anomalies in"
            f" one incident outside the catalog (no owner: P5, the default channel). {mend},"
            " or give the scan a fixed `service:`"
        )
        out.append((field, message, True))
    if spec.every_seconds < spec.step_seconds:
        # a warning: it works (a run finds what the one before left), it only asks Prometheus in vain
        out.append(
            (
                "every_seconds",
                f"every_seconds ({spec.every_seconds}) is shorter than step_seconds ({spec.step_seconds:g}):"
                " a run ends on the step grid, so the runs between two steps fetch the same points"
                " again and score none; every_seconds of step_seconds or more finds the same with"
                " fewer queries",
                True,
            )
        )
    days = _without_days(spec)
    if days:
        out.append(("step_seconds", days, True))
    span = None if unbalanced(spec.query) else shortest_range(spec.query)
    if span is not None and span < spec.step_seconds:
        # a warning: it runs, and a sampled rate may be meant; what falls between is never seen
        out.append(
            (
                "query",
                f"its range ({_seconds_said(span)}) is shorter than step_seconds ({spec.step_seconds:g}):"
                f" each point sees only the last {_seconds_said(span)} of its step, so what happens in"
                " between (a burst of errors, a spike, lines logged) is never counted; a range of"
                f" step_seconds or more ([{_seconds_said(spec.step_seconds)}]) sees all of it",
                True,
            )
        )
    raw = [] if spec.source != "prometheus" or unbalanced(spec.query) else raw_counters(spec.query)
    if raw:
        # a warning: a counter's value can be meant (a job's total since start), and this reader is no parser
        many = len(raw) > 1
        out.append(
            (
                "query",
                f"it reads the counter{'s' if many else ''} {', '.join(raw[:3])} as "
                f"{'they are' if many else 'it is'}, outside rate() or increase(): a counter only grows, so"
                " the detector finds nothing in it but its resets (a restart reads as a fall to 0) and every"
                f" busy series trends up; watch its rate: rate({raw[0]}[5m]) (or increase(...) over a range)",
                True,
            )
        )
    cap = spec.capacity
    if cap is not None and 1 < cap <= 100 and not unbalanced(spec.query) and is_ratio(spec.query):
        # a warning, said of a percentage-looking capacity only: a division is a share most often,
        # not always (a load per CPU, bytes per request; a mean, _sum over _count, is_ratio leaves out)
        out.append(
            (
                "capacity",
                f"capacity {cap:g} with a query that is a ratio (a division at its top): if its values"
                f" are a share (0..1), they never reach {cap:g} rising (no exhaustion is ever"
                f" predicted), and falling are past it at once; write capacity: {cap / 100:g} for"
                f" {cap:g}%, or multiply the query by 100",
                True,
            )
        )
    return out
