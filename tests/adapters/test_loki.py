"""The Loki adapter against the Loki double (tests/doubles/loki.py, which cites what it holds to): the
matrix of a LogQL metric query, what Medic sends (nanosecond epochs, the step, the tenant), and each
refusal in Loki's own plain-text words with what to do about it."""

from pathlib import Path

import pytest

from activities.adapters.http import Access
from activities.adapters.loki import LokiMetrics, nanoseconds
from activities.scan import _too_long
from medic.ports import PermanentError, TransientError
from service.prometheus import loki
from service.settings import Settings
from tests.doubles.loki import LokiDouble

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
ERRORS = 'sum by (service) (count_over_time({namespace="shop"} |= "error" [5m]))'


def _shop(double: LokiDouble, *, tenant: str | None = None) -> None:
    """Error lines of checkout at minutes 1, 2 and 12; orders at minute 3; info lines that the
    query's filter drops."""
    for minute, service in ((1, "checkout"), (2, "checkout"), (12, "checkout"), (3, "orders")):
        labels = {"namespace": "shop", "service": service, "pod": f"{service}-0"}
        double.push(labels, T0 + minute * 60 + 5, "level=error msg=upstream failed", tenant=tenant)
    double.push({"namespace": "shop", "service": "checkout", "pod": "checkout-0"}, T0 + 30, "level=info ok")


def test_a_metric_query_answers_each_series_with_no_point_where_no_line_was() -> None:
    double = LokiDouble()
    _shop(double)
    with double.serve() as url:
        series = LokiMetrics(url).query_range(ERRORS, start=T0, end=T0 + 1200, step=60)
        [asked] = double.requests("GET /loki/api/v1/query_range")
    by = {s.labels["service"]: s for s in series}
    assert set(by) == {"checkout", "orders"}
    # a line at 1:05 counts from 2:00 to 6:00 (the range (t - 5m, t]); none after 17:00: no points
    assert by["checkout"].times[0] == T0 + 120 and by["checkout"].values[:2] == [1.0, 2.0]
    assert by["checkout"].times[-1] == T0 + 17 * 60
    assert T0 + 11 * 60 not in by["checkout"].times  # between the lines' ranges: no point, not a 0
    assert by["orders"].times == [T0 + m * 60 for m in range(4, 9)] and set(by["orders"].values) == {1.0}
    # the reference's nanosecond epochs, the step in seconds
    assert f"start={int(T0)}000000000" in asked.query and f"end={int(T0) + 1200}000000000" in asked.query
    assert "step=60&" in asked.query + "&"
    assert "x-scope-orgid" not in asked.headers  # single-tenant Loki: no header


def test_nanoseconds_are_exact_to_the_microsecond() -> None:
    assert nanoseconds(1_767_225_600.0) == "1767225600000000000"
    assert nanoseconds(1_767_225_600.25) == "1767225600250000000"
    assert nanoseconds(1_700_000_060.2) == "1700000060200000000"  # (1.7000000602e18 as a float is not)


def test_a_log_query_is_refused_in_words_with_how_to_count_its_lines() -> None:
    double = LokiDouble()
    _shop(double)
    with double.serve() as url, pytest.raises(PermanentError) as refused:
        LokiMetrics(url).query_range('{namespace="shop"} |= "error"', start=T0, end=T0 + 600, step=60)
    assert "answered log lines" in str(refused.value) and "count_over_time(" in str(refused.value)


@pytest.mark.parametrize(
    ("query", "span", "said", "too_long"),
    [
        ('sum(count_over_time({namespace="shop"} [5m])', (600, 60), "parse error at line 1, col ", False),
        ('rate({namespace=~".*"} [5m])', (600, 60), "empty-compatible value", False),
        ('rate({namespace="shop"} [5m])', (40 * 86400, 3600), "the query time range exceeds the limit", True),
        ('rate({namespace="shop"} [5m])', (86400, 1), "exceeded maximum resolution of 11,000 points", True),
    ],
)
def test_refusals_are_permanent_in_lokis_words_and_the_limits_a_shorter_range_fits_are_told(
    query: str, span: tuple[float, float], said: str, too_long: bool
) -> None:
    """Loki's refusals are plain text (not Prometheus's JSON envelope): its words reach the scan's
    last_error; a limit a shorter range fits (the query length, the resolution) makes a catch-up
    fall back to the lookback, as Prometheus's and Mimir's do."""
    with LokiDouble().serve() as url, pytest.raises(PermanentError) as refused:
        LokiMetrics(url).query_range(query, start=T0, end=T0 + span[0], step=span[1])
    assert said in str(refused.value) and "Loki rejected the query" in str(refused.value)
    assert _too_long(refused.value) is too_long


def test_too_many_series_and_a_query_past_its_timeout() -> None:
    double = LokiDouble(max_query_series=1, query_timeout=3600)
    _shop(double)
    with double.serve() as url:
        metrics = LokiMetrics(url)
        with pytest.raises(PermanentError) as many:
            metrics.query_range(ERRORS, start=T0, end=T0 + 1200, step=60)
        assert "maximum number of series (1) reached for a single query" in str(many.value)
        with pytest.raises(TransientError) as slow:
            metrics.query_range(
                'sum(count_over_time({namespace="shop"} [5m]))', start=T0, end=T0 + 7200, step=60
            )
    assert "(504): Request timed out" in str(slow.value) and _too_long(slow.value)


def test_a_multi_tenant_loki_needs_the_tenant_and_federates_with_a_pipe() -> None:
    double = LokiDouble(tenants=("team-a", "team-b"), federation=True)
    _shop(double, tenant="team-a")
    double.push({"namespace": "shop", "service": "checkout"}, T0 + 65, "error", tenant="team-b")
    with double.serve() as url:
        with pytest.raises(PermanentError) as refused:
            LokiMetrics(url).query_range(ERRORS, start=T0, end=T0 + 600, step=60)
        assert "(401): no org id; Loki runs with auth_enabled: true" in str(refused.value)
        assert "set MEDIC_LOKI_TENANT" in str(refused.value)
        one = LokiMetrics(url, access=Access("Loki", "MEDIC_LOKI", tenant="team-a"))
        assert {s.labels["service"] for s in one.query_range(ERRORS, start=T0, end=T0 + 600, step=60)} == {
            "checkout",
            "orders",
        }
        both = LokiMetrics(url, access=Access("Loki", "MEDIC_LOKI", tenant="team-a|team-b"))
        raw = both.query_range('count_over_time({namespace="shop"} [5m])', start=T0, end=T0 + 600, step=60)
        assert {s.labels["__tenant_id__"] for s in raw} == {"team-a", "team-b"}
    single = LokiDouble(tenants=("team-a",))
    with single.serve() as url, pytest.raises(PermanentError) as several:
        LokiMetrics(url, access=Access("Loki", "MEDIC_LOKI", tenant="team-a|team-b")).query_range(
            ERRORS, start=T0, end=T0 + 600, step=60
        )
    assert "multiple org IDs present" in str(several.value)
    assert "-querier.multi-tenant-queries-enabled=true" in str(several.value)


def test_the_settings_make_it_with_its_tenant_token_and_its_api_path_once(tmp_path: Path) -> None:
    """MEDIC_LOKI_URL as written (a path prefix; a URL copied with Loki's API path, which was asked
    twice over), the tenant and the token file (read at every query) reach Loki; its build
    information is Loki's bare object, not Prometheus's envelope."""
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    double = LokiDouble(tenants=("team-a",))
    _shop(double, tenant="team-a")
    with double.serve() as url:
        settings = Settings(
            _env_file=None,
            loki_url=f"{url}/loki/api/v1/",
            loki_tenant="team-a",
            loki_bearer_token_file=token,
        )
        source = loki(settings)
        assert source is not None
        assert source.query_range(ERRORS, start=T0, end=T0 + 600, step=60)
        assert source.build_info()["version"] == "3.4.2"
        [asked] = double.requests("GET /loki/api/v1/query_range")
    assert asked.headers["x-scope-orgid"] == "team-a"
    assert asked.headers["authorization"] == "Bearer s3cr3t-token"
    assert loki(Settings(_env_file=None)) is None
    with pytest.raises(ValueError, match="which Loki does not take"):
        Settings(_env_file=None, loki_tenant="team a")
