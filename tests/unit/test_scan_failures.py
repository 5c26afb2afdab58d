"""A scan that fails every run (a field review, 2026-12-06): its query, refused by Prometheus for an
unclosed parenthesis, passed ``medic check`` and then failed every run with a traceback in the
worker's log only, while ``GET /anomalies/scans`` showed ``last_run: null, last_result: null``. Now
``medic check`` says what is plainly wrong with a query's brackets and quotes, each run that failed
for good is kept with the scan's state (Prometheus's own words, redacted, and the failures in a row)
and shown by the API, a refused query is not retried, and the worker counts runs by outcome."""

import asyncio
import dataclasses
import threading
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import medic.redact
from activities.adapters.prometheus import PrometheusMetrics
from activities.scan import ScanActivities, ScanInput, ScanStore
from medic.anomaly import AnomalySignal
from medic.ports import TransientError
from medic.promql import unbalanced
from medic.redact import register_secrets
from medic.scan import RangeSeries, ScanSpec, load_anomaly_config
from medic.yamldoc import ConfigError
from service.metrics import WorkerMetrics
from tests.doubles.prometheus import PrometheusAlertsDouble

NOW = 1_024_020.0
BROKEN = "sum by (service) (rate(http_requests_total[15s])"
PARSE_ERROR = "1:49: parse error: unclosed left parenthesis"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (BROKEN, "'(' at character 18 is never closed"),
        ("sum(rate(x[5m)))", "'[' at character 11 is closed by ')' at character 14"),
        ("up)", "')' at character 3 closes nothing"),
        ('up{job="a}', 'the string opened by " at character 8 is never closed'),
        ('sum by (le) (rate(h{path=~"/a(b|[c"}[5m]))', None),  # brackets within a string
        ("sum(up) # a comment (with an open bracket\n", None),
        ("rate(x[5m:1m]) / on() group_left `raw)`", None),
        ("histogram_quantile(0.99, sum by (le) (rate(h[5m])))", None),
    ],
)
def test_unbalanced_brackets_and_quotes_are_said(query: str, says: str | None) -> None:
    assert unbalanced(query) == says


def test_medic_check_refuses_a_query_prometheus_would_refuse_at_every_run() -> None:
    text = f"scans:\n  - name: broken\n    query: '{BROKEN}'\n"
    with pytest.raises(ConfigError) as err:
        load_anomaly_config(text, source="anomaly.yaml", queries=True)
    assert [str(p) for p in err.value.problems] == [
        "anomaly.yaml:3: scans[0].query: '(' at character 18 is never closed: Prometheus would refuse it"
        " at every run"
    ]
    # a worker leaves the query to Prometheus (a check that is no parser never stops a worker)
    assert load_anomaly_config(text, source="anomaly.yaml").scans


def _activities(
    source: object, store: ScanStore, recorder: WorkerMetrics, now: list[float]
) -> ScanActivities:
    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    spec = ScanSpec(name="broken", query=BROKEN, lookback_seconds=600, step_seconds=60)
    return ScanActivities(
        source=source,  # type: ignore[arg-type]
        specs=lambda: {spec.name: spec},
        store=store,
        deliver=deliver,
        clock=lambda: now[0],
        recorder=recorder,
    )


def _runs(registry: CollectorRegistry, outcome: str) -> float:
    return (
        registry.get_sample_value("medic_anomaly_scan_runs_total", {"scan": "broken", "outcome": outcome})
        or 0
    )


def test_a_query_prometheus_refuses_fails_its_run_once_and_is_kept_with_its_words(tmp_path: Path) -> None:
    double = PrometheusAlertsDouble()
    double.refuse_range(PARSE_ERROR)
    store = ScanStore(tmp_path)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    now = [NOW]
    with double.serve() as url:
        acts = _activities(PrometheusMetrics(url, timeout=5.0), store, metrics, now)
        for run in (1, 2):
            with pytest.raises(ApplicationError) as failed:
                asyncio.run(acts.scan(ScanInput(name="broken")))
            # not retried as if transient: Temporal is told so, and the workflow's policy agrees
            assert failed.value.non_retryable and failed.value.type == "PermanentError"
            stored = store.load("broken")
            assert stored.failures_in_a_row == run and stored.last_run is None
            assert stored.last_error is not None and stored.last_error.at == now[0]
            assert "(400 bad_data): " + PARSE_ERROR in stored.last_error.error
            now[0] += 60
    assert _runs(registry, "failed") == 2 and _runs(registry, "ok") == 0

    # mended: the next run succeeds, the count goes back to 0, the failure stays for who looks
    ok = _activities(_Answers(), store, metrics, now)
    asyncio.run(ok.scan(ScanInput(name="broken")))
    stored = store.load("broken")
    assert stored.failures_in_a_row == 0 and stored.last_error is not None and stored.last_run == now[0]
    assert _runs(registry, "ok") == 1


class _Answers:
    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return [RangeSeries({"service": "checkout"}, [end - 120.0, end - 60.0, end], [1.0, 1.0, 1.0])]


class _Down:
    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        raise TransientError("Prometheus unreachable while trying to run a scan's range query: reset")


def test_an_attempt_temporal_retries_is_counted_and_only_the_runs_last_is_kept(tmp_path: Path) -> None:
    store = ScanStore(tmp_path)
    registry = CollectorRegistry()
    acts = _activities(_Down(), store, WorkerMetrics(registry), [NOW])
    env = ActivityEnvironment()
    for attempt in (1, 2, 3):
        env.info = dataclasses.replace(
            env.info, attempt=attempt, retry_policy=RetryPolicy(maximum_attempts=3)
        )
        with pytest.raises(ApplicationError) as failed:
            asyncio.run(env.run(acts.scan, ScanInput(name="broken")))
        assert not failed.value.non_retryable
        kept = store.load("broken")
        assert (kept.failures_in_a_row, kept.last_error is not None) == (
            (0, False) if attempt < 3 else (1, True)
        )
    assert kept.last_error is not None and kept.last_error.attempts == 3
    assert (_runs(registry, "retried"), _runs(registry, "failed")) == (2, 1)


class _Slow:
    """A Prometheus that answers after the activity's timeout (its attempt is cancelled first)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        self.release.wait(5.0)
        return []


async def test_a_run_cut_short_by_its_timeout_is_kept_as_its_failure(tmp_path: Path) -> None:
    """The SDK cancels an attempt at its timeout (or its worker stopping): asyncio.CancelledError is no
    Exception, so the run that outlasted its timeout was neither counted nor kept, and the view said
    nothing of it (an owner review)."""
    store, registry, slow = ScanStore(tmp_path), CollectorRegistry(), _Slow()
    acts = _activities(slow, store, WorkerMetrics(registry), [NOW])
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3, retry_policy=RetryPolicy(maximum_attempts=3))
    running = asyncio.ensure_future(env.run(acts.scan, ScanInput(name="broken")))
    await asyncio.sleep(0.3)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    slow.release.set()
    kept = store.load("broken")
    assert kept.failures_in_a_row == 1 and kept.last_error is not None
    assert "outlasted its timeout" in kept.last_error.error and _runs(registry, "failed") == 1


def test_a_scan_this_worker_does_not_know_is_retried(tmp_path: Path) -> None:
    """A worker whose MEDIC_ANOMALY is wrong (or an older one during a rolling deploy that adds a scan)
    refused the runs it took, for good: about one in N of every scan's runs lost."""
    acts = _activities(_Down(), ScanStore(tmp_path), WorkerMetrics(CollectorRegistry()), [NOW])
    with pytest.raises(ApplicationError) as failed:
        asyncio.run(acts.scan(ScanInput(name="another")))
    assert not failed.value.non_retryable and "knows no scan named 'another'" in str(failed.value)


async def test_the_scans_view_shows_the_last_failure_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medic.catalog import Catalog  # noqa: PLC0415
    from service.api import create_app  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.unit.test_api import TOKEN, FakeReader, FakeSink, bearer  # noqa: PLC0415

    secret = "hunter2-very-secret-value"
    monkeypatch.setattr(medic.redact, "_known", set())  # this test's secret stays with this test
    register_secrets([secret])
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "anomaly.yaml").write_text(f"scans:\n  - name: broken\n    query: '{BROKEN}'\n")

    class Leaky:
        def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
            from medic.ports import PermanentError  # noqa: PLC0415

            raise PermanentError(f"Prometheus rejected the query (400 bad_data): {PARSE_ERROR} {secret}")

    store = ScanStore(tmp_path / "scans")
    acts = _activities(Leaky(), store, WorkerMetrics(CollectorRegistry()), [NOW])
    with pytest.raises(ApplicationError):
        await acts.scan(ScanInput(name="broken"))

    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None, webhook_token=SecretStr(TOKEN), catalog=tmp_path / "catalog.yaml", data_dir=tmp_path
    )
    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as http:
        shown = await http.get("/anomalies/scans", headers=bearer())
    assert shown.status_code == 200, shown.text
    [scan] = shown.json()
    assert scan["last_run"] is None and scan["failures_in_a_row"] == 1
    assert scan["last_error"]["at"].startswith("1970-01-12T")  # NOW, as a time
    assert PARSE_ERROR in scan["last_error"]["error"] and secret not in shown.text


MAX_SERIES = (
    "the query exceeded the maximum number of series (limit: 1000 series) (err-mimir-max-series-per-query). "
    "Consider reducing the time range and/or number of series selected by the query"
)


@pytest.mark.parametrize(
    ("status", "error", "error_type", "final"),
    [
        (429, "too many outstanding requests", None, False),  # its query-frontend's queue, plain text
        (429, "too many outstanding requests", "too_many_requests", False),
        (503, "query timed out in expression evaluation", "timeout", False),
        (422, MAX_SERIES, "execution", True),
    ],
)
def test_what_a_busy_or_limited_mimir_says_is_kept_in_its_words(
    tmp_path: Path, status: int, error: str, error_type: str | None, final: bool
) -> None:
    """A Mimir whose query-frontend's queue is full answers 429 ``too many outstanding requests``: the
    scan's last_error said ``Prometheus unavailable while trying to run a scan's range query (429)`` and
    nothing of why (a walk-through against a multi-tenant Mimir, 2026-12-07), where a 5xx kept the
    server's words. Retried either way; a limit the query hits (422) is not."""
    from activities.adapters.http import Access  # noqa: PLC0415
    from tests.doubles.mimir import MimirGateway  # noqa: PLC0415

    mimir = MimirGateway(tenants=("team-a",))
    mimir.refuse_queries(status, error, error_type=error_type)
    store, registry = ScanStore(tmp_path), CollectorRegistry()
    with mimir.serve() as url:
        access = Access("Prometheus", "MEDIC_PROMETHEUS", tenant="team-a")
        source = PrometheusMetrics(f"{url}/prometheus", timeout=5.0, access=access)
        acts = _activities(source, store, WorkerMetrics(registry), [NOW])
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=3, retry_policy=RetryPolicy(maximum_attempts=3))
        with pytest.raises(ApplicationError) as failed:
            asyncio.run(env.run(acts.scan, ScanInput(name="broken")))
    assert failed.value.non_retryable is final
    kept = store.load("broken").last_error
    assert kept is not None and f"({status}" in kept.error and error in kept.error, kept


def test_each_scans_run_counts_are_exported_at_0_before_any_run(tmp_path: Path) -> None:
    """``MedicAnomalyScanFailing`` is ``increase(...{outcome="failed"}[1h]) > 0``, and increase() counts
    nothing of a series that first appears at 1: a scan's first failed run on a worker (its only one:
    Mimir's queue full for the three attempts of a run) was never alerted on (promtool: ``_x10 1x30``
    stays quiet where ``0x10 1x30`` fires; a walk-through, 2026-12-07). Each configured scan's counts
    are exported at 0 from the worker's start."""
    registry = CollectorRegistry()
    _activities(_Answers(), ScanStore(tmp_path), WorkerMetrics(registry), [NOW])
    for outcome in ("ok", "retried", "failed"):
        assert (
            registry.get_sample_value("medic_anomaly_scan_runs_total", {"scan": "broken", "outcome": outcome})
            == 0.0
        )
