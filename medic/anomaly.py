"""The anomaly signal: what an anomaly detector (Medic's own scans, or any external
one) posts to ``/webhooks/anomaly``.

An anomaly is a series that left its expected band. It stays *active* until the end of
its window; a later signal for the same series extends it. Identity is the detector plus
the series labels, so a detector re-posting the same finding changes nothing.
"""

import hashlib
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnomalySignal", "ExpectedBand", "ForecastPoint", "TimeWindow"]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"


class ExpectedBand(BaseModel):
    """The range the detector expected the value to stay in."""

    model_config = ConfigDict(extra="forbid")

    lower: float
    upper: float

    @model_validator(mode="after")
    def _ordered(self) -> "ExpectedBand":
        if self.lower > self.upper:
            raise ValueError("expected.lower must not exceed expected.upper")
        return self


class TimeWindow(BaseModel):
    """The stretch of time the detector looked at and found anomalous."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> "TimeWindow":
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window.start and window.end need a timezone (e.g. a trailing Z)")
        if self.start > self.end:
            raise ValueError("window.start must not be after window.end")
        return self


class ForecastPoint(BaseModel):
    """One point of the detector's forecast, if it made one."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    value: float
    lower: float | None = None
    upper: float | None = None


class AnomalySignal(BaseModel):
    """One anomaly finding. Schema published in the OpenAPI document."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(pattern=_NAME_PATTERN, description="the detector, e.g. 'medic-scan' or 'grafana-ml'")
    service: str = Field(pattern=_NAME_PATTERN, description="the catalog service the series belongs to")
    series: dict[str, str] = Field(
        min_length=1, description="the series labels, e.g. {'__name__': 'http_requests_total', ...}"
    )
    value: float = Field(description="the observed value")
    expected: ExpectedBand
    score: float = Field(ge=0.0, le=1.0, description="anomaly score, 0 (normal) to 1 (certainly anomalous)")
    window: TimeWindow
    severity: str = Field(default="warning", pattern=r"^(critical|error|warning|info)$")
    summary: str | None = Field(default=None, max_length=1024)
    forecast: list[ForecastPoint] | None = Field(default=None, max_length=1000)

    @property
    def key(self) -> str:
        """Stable identity: detector + series labels."""
        parts = [self.source, *(f"{k}={self.series[k]}" for k in sorted(self.series))]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]

    @property
    def active_until(self) -> datetime:
        return self.window.end.astimezone(UTC)
