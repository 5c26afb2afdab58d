"""The anomaly signal: what an anomaly detector (Medic's own scans, or any external
one) posts to ``/webhooks/anomaly``.

An anomaly is a series that left its expected band. It stays *active* until the end of
its window; a later signal for the same series extends it. Identity is the detector plus
the series labels, so a detector re-posting the same finding changes nothing.
"""

import hashlib
import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from medic.redact import redact, redact_data, redact_name

__all__ = [
    "HEARTBEAT_LABEL",
    "HEARTBEAT_SOURCE",
    "MAX_AGE",
    "MAX_AHEAD",
    "MAX_SKEW",
    "NAME_PATTERN",
    "PREDICTION_SOURCE",
    "SCAN_LABEL",
    "AnomalySignal",
    "ExpectedBand",
    "ForecastPoint",
    "TimeWindow",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"  # a source or service name
_NAME_MAX = 128
_SUMMARY_MAX = 1024


def _not_bool(value: Any) -> Any:
    """JSON's true/false are not numbers (pydantic would read them as 1.0 and 0.0)."""
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]


def _text_time(value: Any) -> Any:
    """Times are RFC 3339 strings, as the schema says (pydantic would also read a number as epoch seconds)."""
    if isinstance(value, int | float):
        raise ValueError("a time is an RFC 3339 string such as 2026-01-02T03:04:05Z, not a number")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_text_time)]


class ExpectedBand(BaseModel):
    """The range the detector expected the value to stay in."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lower: Number
    upper: Number

    @model_validator(mode="after")
    def _ordered(self) -> "ExpectedBand":
        if self.lower > self.upper:
            raise ValueError("expected.lower must not exceed expected.upper")
        return self

    def against(self, value: float) -> str:
        """``value`` against the band as people read it: outside it, or within it with its course
        unusual (a daily rise that did not come, a new shape: the value itself is an ordinary one)."""
        seen, lo, hi = readable([value, self.lower, self.upper])
        band = f"[{lo}, {hi}]"
        if self.lower <= value <= self.upper:
            return f"value {seen} within {band}, its course unusual"
        # +Inf and -Inf as PromQL writes them (a signal carries them as the largest float there is)
        shown = ("+Inf" if value > 0 else "-Inf") if abs(value) >= sys.float_info.max else seen
        return f"value {shown} outside {band}"


SI_PREFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"))  # (and k, for forecasts: medic.forecast)


def readable(values: list[float]) -> list[str]:
    """Numbers as people read them side by side: as ``%g`` under a million; from a million, in thousands
    of thousands (M, G, T, P, E) to as few significant figures (3 at least) as keep apart the values that
    differ: ``5.33e+10 outside [4.1e+10, 5.32711e+10]`` read as a formula (bytes, a request count), where
    ``53.3G outside [41G, 53.271G]`` reads as a size."""

    def one(x: float, digits: int) -> str:
        size = abs(x)
        if not math.isfinite(x) or size < 1e6 or size >= 1e21:
            return f"{x:g}"
        power, unit = next(
            (p, u) for p, u in SI_PREFIXES if size >= 10.0**p * (1 - 0.5 * 10.0 ** (1 - digits))
        )
        return f"{x / 10.0**power:.{digits}g}{unit}"

    for digits in range(3, 10):
        out = [one(x, digits) for x in values]
        if all(out[i] != out[j] for i in range(len(values)) for j in range(i) if values[i] != values[j]):
            return out
    return [f"{x:g}" for x in values]


# The source of Medic's own predictions of exhaustion (medic.forecast).
PREDICTION_SOURCE = "medic-forecast"
# The label a Medic scan's signals carry with the scan's name: two scans whose series have the same
# labels (both `by (service)`) are two findings, not one seen again, and the scan names the incident.
SCAN_LABEL = "medic_scan"
# The label a missing heartbeat's finding carries with its rule's name, and its source (medic.dead_man).
HEARTBEAT_LABEL = "medic_heartbeat"
HEARTBEAT_SOURCE = "medic-heartbeat"
_NOT_SHOWN = frozenset({HEARTBEAT_LABEL, "alertname", "severity"})  # in a heartbeat's headline
# How far past its receipt an anomaly's window may end (a forecast holds its signal up to 30 days).
MAX_AHEAD = timedelta(days=31)
# How long before its receipt an anomaly's window may have ended: a detector catching up after an outage
# is heard that late (Medic's own scans reach back a day after a gap); older, it is history, not an
# incident to open now and page for.
MAX_AGE = timedelta(days=1)
# How far past its receipt an anomaly's window may start: a detector's clock a little ahead of Medic's.
MAX_SKEW = timedelta(minutes=5)


class TimeWindow(BaseModel):
    """The stretch of time the detector looked at and found anomalous."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start: Timestamp
    end: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> "TimeWindow":
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window.start and window.end need a timezone (e.g. a trailing Z)")
        if self.start > self.end:
            raise ValueError("window.start must not be after window.end")
        return self


class ForecastPoint(BaseModel):
    """One point of the detector's forecast, if it made one."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    at: Timestamp
    value: Number
    lower: Number | None = None
    upper: Number | None = None


class AnomalySignal(BaseModel):
    """One anomaly finding. Schema published in the OpenAPI document."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    source: str = Field(pattern=NAME_PATTERN, description="the detector, e.g. 'medic-scan' or 'grafana-ml'")
    service: str = Field(pattern=NAME_PATTERN, description="the catalog service the series belongs to")
    series: dict[str, str] = Field(
        min_length=1, description="the series labels, e.g. {'__name__': 'http_requests_total', ...}"
    )
    value: Number = Field(description="the observed value")
    expected: ExpectedBand
    score: Number = Field(ge=0.0, le=1.0, description="anomaly score, 0 (normal) to 1 (certainly anomalous)")
    window: TimeWindow
    severity: str = Field(default="warning", pattern=r"^(critical|error|warning|info)$")
    summary: str | None = Field(default=None, max_length=_SUMMARY_MAX)
    forecast: list[ForecastPoint] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _redacted(self) -> "AnomalySignal":
        """Secrets never enter a workflow (``medic.redact``): redacted as the signal is built, whoever
        builds it; idempotent, so reading it back from history changes nothing. The identity (``key``)
        is made from the redacted fields, the same for every delivery. Names keep their pattern and
        every text its bound (redaction can lengthen a text)."""
        self.source = redact_name(self.source)[:_NAME_MAX]
        self.service = redact_name(self.service)[:_NAME_MAX]
        self.series = {str(k): str(v) for k, v in redact_data(self.series).items()}
        if self.summary is not None:
            self.summary = redact(self.summary)[:_SUMMARY_MAX]
        return self

    @property
    def key(self) -> str:
        """Stable identity: detector + series labels."""
        return _key(self.source, self.series)

    @property
    def unlabelled_key(self) -> str | None:
        """A Medic scan's signal's identity before it carried the scan's name (``SCAN_LABEL``): an
        incident open across the upgrade holds its anomaly under that one. None for other signals."""
        if SCAN_LABEL not in self.series:
            return None
        return _key(self.source, {k: v for k, v in self.series.items() if k != SCAN_LABEL})

    def described(self) -> str:
        """What people read of it: a prediction's summary (when the resource runs out), a Medic scan's
        (its name, the value against its band and what the series did at this time on the days
        before), else its value against its band (a prediction read "value 0.75 within [0.75, 0.95],
        its course unusual"; a scan's finding did not say which scan, latency or traffic)."""
        if self.summary and (
            self.source == PREDICTION_SOURCE or SCAN_LABEL in self.series or HEARTBEAT_LABEL in self.series
        ):
            return self.summary
        return self.expected.against(self.value)

    def headline(self) -> str:
        """The incident title's part for it: the scan's name where a Medic scan found it (a query's
        aggregation drops ``__name__``: every scan's incident was "Anomaly in a metric"), else the
        metric's name."""
        if (heartbeat := self.series.get(HEARTBEAT_LABEL)) is not None:
            # which Prometheus or cluster: a page that says only "watchdog" sends people to look at all
            said = ", ".join(f"{k}={v}" for k, v in self.series.items() if k not in _NOT_SHOWN)
            return f"No heartbeat {heartbeat}" + (f" ({said[:120]})" if said else "")
        scan = self.series.get(SCAN_LABEL)
        if scan is None:  # (as before the label, so a history's title stays the same on replay)
            return f"Anomaly in {self.series.get('__name__', 'a metric')}"
        if self.source == PREDICTION_SOURCE:
            return f"{scan}: running out"
        return f"Anomaly in {scan}"

    @property
    def active_until(self) -> datetime:
        return self.window.end.astimezone(UTC)


def _key(source: str, series: dict[str, str]) -> str:
    parts = [source, *(f"{k}={series[k]}" for k in sorted(series))]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]
