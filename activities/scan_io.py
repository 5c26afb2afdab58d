"""What the anomaly scan activity takes and returns, apart from the activity itself: the scan
workflow imports only this (and the activity's name), so its sandbox never loads the detectors,
numpy or scikit-learn that the activity runs."""

from pydantic import BaseModel, Field

__all__ = ["SCAN_ACTIVITY", "ScanInput", "ScanResult"]

SCAN_ACTIVITY = "anomaly_scan"  # the activity's name in every recorded history: never change it


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
