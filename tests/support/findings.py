"""A detector's finding as an incident receives it (an anomaly batch, no alert), for the workflow tests
and the recorded histories: one builder where three copies differed only in their numbers."""

from datetime import UTC, datetime, timedelta

from medic.anomaly import AnomalySignal
from medic.incident import AnomalyBatch
from tests.support.shop import ctx

__all__ = ["finding"]


def finding(
    service: str,
    *,
    ended: timedelta = timedelta(0),
    lasted: timedelta = timedelta(minutes=2),
    source: str = "grafana-ml",
    metric: str = "pg_stat_activity_max_tx_duration",
    value: float = 240.0,
    expected: tuple[float, float] = (0.0, 5.0),
    score: float = 0.99,
) -> AnomalyBatch:
    """A finding on ``service`` (say a Grafana ML job on the database's latency) whose window of
    ``lasted`` ended ``ended`` before now, received now."""
    now = datetime.now(UTC)
    end = now - ended
    signal = AnomalySignal.model_validate(
        {
            "source": source,
            "service": service,
            "series": {"__name__": metric, "service": service},
            "value": value,
            "expected": {"lower": expected[0], "upper": expected[1]},
            "score": score,
            "window": {"start": (end - lasted).isoformat(), "end": end.isoformat()},
        }
    )
    return AnomalyBatch(signals=[signal], received_at=now, contexts=[ctx(service)])
