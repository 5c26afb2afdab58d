"""The anomaly scan activity: fetch a scan's query over its lookback from Prometheus, run each
series' detector from its saved state, save the states, and hand what it found to incidents
through the same path as ``POST /webhooks/anomaly`` (injected: ``deliver``).

Before scoring, the incidents each series' signals joined are checked for false-positive marks
(``false_positives``, injected): a marked one makes that series less sensitive
(``medic.scan.learn_false_positives``).

Detector state lives in a JSON file per scan under ``MEDIC_DATA_DIR/scans`` (``ScanStore``),
never in workflow history; the activity returns only counts. Running the same scan twice at once
is prevented by the schedule (overlap: skip); a retried run re-reads the saved state and scores
only points after the last one it saved, so nothing is scored twice.
"""

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from medic.anomaly import AnomalySignal
from medic.ports import PermanentError, TransientError
from medic.scan import (
    RangeSeries,
    ScanSpec,
    SeriesState,
    learn_false_positives,
    remember_incidents,
    scan_series,
    series_key,
)

__all__ = ["RangeSource", "ScanActivities", "ScanInput", "ScanResult", "ScanStore", "StoredScan"]

_MAX_SERIES = 2000  # per scan: a query that fans out further is cut (and says so)


class RangeSource(Protocol):
    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]: ...


class ScanInput(BaseModel):
    name: str


class ScanResult(BaseModel):
    series: int = 0
    points: int = 0
    anomalies: int = 0
    predictions: int = 0
    incidents: list[str] = Field(default_factory=list)
    truncated: bool = False


class StoredScan(BaseModel):
    """A scan's saved state: every series' detector, and when it last ran."""

    name: str
    last_run: float | None = None
    last_result: ScanResult | None = None
    series: dict[str, SeriesState] = Field(default_factory=dict)


class ScanStore:
    """One JSON file per scan, replaced atomically (write, fsync, rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def load(self, name: str) -> StoredScan:
        path = self.path(name)
        if not path.exists():
            return StoredScan(name=name)
        return StoredScan.model_validate_json(path.read_bytes())

    def save(self, stored: StoredScan) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(stored.name)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            fh.write(stored.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)


Deliver = Callable[[list[AnomalySignal]], Awaitable[list[str]]]
# which of these incidents someone marked a false positive
FalsePositives = Callable[[list[str]], Awaitable[set[str]]]
_MAX_CHECKED = 200  # incidents asked about per run


class ScanActivities:
    def __init__(
        self,
        *,
        source: RangeSource | None,
        specs: Callable[[], dict[str, ScanSpec]],
        store: ScanStore,
        deliver: Deliver,
        false_positives: FalsePositives | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._specs = specs
        self._store = store
        self._deliver = deliver
        self._false_positives = false_positives
        self._clock = clock

    @activity.defn(name="anomaly_scan")
    async def scan(self, request: ScanInput) -> ScanResult:
        spec = self._specs().get(request.name)
        if spec is None:
            raise ApplicationError(f"no scan named {request.name!r} in anomaly.yaml", non_retryable=True)
        if self._source is None:
            raise ApplicationError("no Prometheus configured (MEDIC_PROMETHEUS_URL)", non_retryable=True)
        end = self._clock()
        try:
            found = await asyncio.to_thread(
                self._source.query_range,
                spec.query,
                start=end - spec.lookback_seconds,
                end=end,
                step=spec.step_seconds,
            )
        except PermanentError as err:
            raise ApplicationError(str(err), type="PermanentError", non_retryable=True) from err
        except TransientError as err:
            raise ApplicationError(str(err), type="TransientError") from err
        stored = await asyncio.to_thread(self._store.load, spec.name)
        await self._learn(stored)
        result = ScanResult(truncated=len(found) > _MAX_SERIES)
        incidents: dict[str, None] = {}
        for series in found[:_MAX_SERIES]:
            key = series_key(series.labels)
            outcome = scan_series(spec, series.labels, series.times, series.values, stored.series.get(key))
            state = outcome.state
            result.series += 1
            result.points += outcome.scored
            for signal in outcome.signals:
                if signal.forecast:
                    result.predictions += 1
                else:
                    result.anomalies += 1
            if outcome.signals:  # per series, so its false-positive marks find their way back to it
                joined = await self._deliver(outcome.signals)
                state = remember_incidents(state, joined)
                incidents.update(dict.fromkeys(joined))
            stored.series[key] = state
        result.incidents = list(incidents)
        stored.last_run = end
        stored.last_result = result
        # saved after the hand-over: a run that fails to deliver is retried from the same state
        await asyncio.to_thread(self._store.save, stored)
        activity.logger.info(
            "scan %s: %d series, %d points, %d anomalies, %d predictions",
            spec.name,
            result.series,
            result.points,
            result.anomalies,
            result.predictions,
        )
        return result

    async def _learn(self, stored: StoredScan) -> None:
        """Series whose anomalies were marked false positives become less sensitive."""
        if self._false_positives is None:
            return
        asked = list(dict.fromkeys(i for st in stored.series.values() for i in st.incidents))[-_MAX_CHECKED:]
        if not asked:
            return
        marked = await self._false_positives(asked)
        if marked:
            for key, state in stored.series.items():
                stored.series[key] = learn_false_positives(state, marked)

    def all(self) -> list[Callable[..., object]]:
        return [self.scan]


def state_size(stored: StoredScan) -> int:
    return len(json.dumps(stored.model_dump(mode="json")))
