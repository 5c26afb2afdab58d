"""What the anomaly scan activity takes and returns, apart from the activity itself: the scan
workflow imports only this (and the activity's name), so its sandbox never loads the detectors,
numpy or scikit-learn that the activity runs."""

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from medic.anomaly import AnomalySignal

__all__ = [
    "MAX_SERIES",
    "SCAN_ACTIVITY",
    "SCAN_ATTEMPTS",
    "Deliver",
    "ScanFailure",
    "ScanInput",
    "ScanResult",
]

# How Medic's own findings (a scan's, a missing heartbeat's) reach the incident path, as
# ``POST /webhooks/anomaly`` hands them over: the incidents that hold them.
Deliver = Callable[[list[AnomalySignal]], Awaitable[list[str]]]

SCAN_ACTIVITY = "anomaly_scan"  # the activity's name in every recorded history: never change it
MAX_SERIES = 2000  # scored per scan: a query that fans out further is cut (and says so)
SCAN_ATTEMPTS = 3  # attempts of a run's activity (its retry policy): the last one's failure is the run's


class ScanInput(BaseModel):
    name: str


class ScanResult(BaseModel):
    series: int = 0
    points: int = 0
    anomalies: int = 0
    predictions: int = 0
    incidents: list[str] = Field(default_factory=list)
    truncated: bool = False
    forgotten: int = 0  # series gone from the query for longer than forget_after_seconds
    failed: int = 0  # series that could not be scored (logged; their state kept as it was)
    held: int = Field(
        default=0,
        description="anomalies of series held in one finding of a silence most of the scan's series share "
        "(counted in anomalies as that one finding)",
    )
    histograms: int = Field(
        default=0,
        description="series the query answered with native histograms alone, which no detector scores "
        "(not counted in series; ask for a number: histogram_quantile, histogram_count)",
    )


class ScanFailure(BaseModel):
    """A run that failed for good (its last attempt, or an error not worth retrying: a query Prometheus
    refuses), kept with the scan's state so ``GET /anomalies/scans`` shows it: a scan that failed
    every run showed ``last_run: null`` and nothing of why (a field review, 2026-12-06)."""

    at: float = Field(description="when (epoch seconds)")
    error: str = Field(description="what failed, in the words of whoever refused (Prometheus's), redacted")
    attempts: int = Field(default=1, description="attempts the run made")
