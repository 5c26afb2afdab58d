"""``medic check`` on ``anomaly.yaml`` as a field review met it (2026-12-06): every problem in one
pass (a duplicate name was said only once every other error was mended, a scan's unknown detector
only once its misspelt keys were), a "did you mean" for misspelt keys, the name rule in words, and a
``service:`` the catalog does not know (its incidents landed as P5 in the default channel)."""

import json
from pathlib import Path

import pytest

from medic.catalog import load_catalog
from medic.promql import is_ratio, outer_aggregation, range_at_top
from medic.scan import load_anomaly_config
from medic.yamldoc import ConfigError
from tests.support.shop import SHOP_YAML


def _problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_anomaly_config(text, source="anomaly.yaml", **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in err.value.problems]


def test_a_duplicate_name_is_said_with_the_other_errors() -> None:
    text = "scans:\n  - name: memory\n    query: up\n    threshold: 50\n  - name: memory\n    query: up\n"
    assert _problems(text) == [
        "anomaly.yaml:4: scans[0].threshold: Input should be less than 1",
        "anomaly.yaml:5: scans[1].name: scan 'memory' is defined twice",
    ]


def test_a_scans_cross_field_checks_beside_its_misspelt_keys() -> None:
    text = (
        "scans:\n"
        "  - name: a\n    query: up\n    step_second: 60\n    treshold: 0.5\n    detector: ensamble\n"
        "  - name: b\n    query: up\n    service_lable: app\n    capacity: 0.9\n"
    )
    assert _problems(text) == [
        "anomaly.yaml:4: scans[0].step_second: Extra inputs are not permitted (did you mean 'step_seconds'?)",
        "anomaly.yaml:5: scans[0].treshold: Extra inputs are not permitted (did you mean 'threshold'?)",
        "anomaly.yaml:6: scans[0].detector: unknown 'ensamble' (did you mean 'ensemble'?); known: change,"
        " ensemble, knn, level, rhythm, still",
        "anomaly.yaml:7: scans[1].horizon_seconds: capacity and horizon_seconds go together"
        " (a prediction needs both)",
        "anomaly.yaml:9: scans[1].service_lable: Extra inputs are not permitted"
        " (did you mean 'service_label'?)",
    ]


def test_the_name_rules_are_said_in_words() -> None:
    text = "scans:\n  - name: Request_Rate\n    query: up\n    service: Storage Team\n"
    found = _problems(text)
    assert found == [
        "anomaly.yaml:2: scans[0].name: 'Request_Rate' is not a scan name: 1 to 63 lower-case letters,"
        " digits and dashes, beginning and ending with a letter or digit (it names the scan's Temporal"
        " Schedule and its state)",
        "anomaly.yaml:4: scans[0].service: 'Storage Team' is not a service name: up to 128 letters,"
        " digits and _ . : / -, beginning with a letter or digit",
    ]
    assert not any("^" in p or "pattern" in p for p in found)


def test_a_service_the_catalog_does_not_know_is_a_warning() -> None:
    """A warning, not an error: the worker runs the scan, and `medic check` is the chart's init
    container, so an error stopped the rollout of a configuration that ran (an owner review)."""
    catalog = load_catalog(SHOP_YAML)
    text = "scans:\n  - name: disk\n    query: up\n    service: {}\n"
    assert _problems(text.format("checkuot"), catalog=catalog) == [
        "anomaly.yaml:4: scans[0].service: warning: service 'checkuot' is not in the catalog (did you mean"
        " 'checkout'?): its anomalies would open incidents outside it (no owner: priority P5, the"
        " default channel)"
    ]
    assert load_anomaly_config(text.format("checkout"), source="a", catalog=catalog).scans
    # without a catalog (the worker's own load, a catalog of its own making) not checked here
    assert load_anomaly_config(text.format("checkuot"), source="a").scans


def test_a_pipeline_service_is_checked_as_a_service_and_said_where_it_is_never_used() -> None:
    catalog = load_catalog(SHOP_YAML)
    text = "scans:\n  - name: logs\n    query: up\n    pipeline_service: {}\n"
    assert _problems(text.format("log shipper")) == [
        "anomaly.yaml:4: scans[0].pipeline_service: 'log shipper' is not a service name: up to 128"
        " letters, digits and _ . : / -, beginning with a letter or digit"
    ]
    assert _problems(text.format("chekout") + "    absent: zero\n", catalog=catalog) == [
        "anomaly.yaml:4: scans[0].pipeline_service: warning: service 'chekout' is not in the catalog (did"
        " you mean 'checkout'?): a silence most series share would open an incident outside it (no owner:"
        " priority P5, the default channel)"
    ]
    # a Prometheus scan's missing steps are gaps: no shared silence is ever found there
    assert _problems(text.format("checkout"), catalog=catalog) == [
        "anomaly.yaml:4: scans[0].pipeline_service: warning: a shared silence is found where a step"
        " without a point is a 0 (absent: zero, Loki's default): this scan's missing points are gaps, and"
        " pipeline_service is never used"
    ]
    assert load_anomaly_config(text.format("checkout") + "    absent: zero\n", source="a", catalog=catalog)
    coarse = text.format("checkout") + "    absent: zero\n    step_seconds: 300\n"
    assert _problems(coarse, catalog=catalog) == [
        "anomaly.yaml:4: scans[0].pipeline_service: warning: a run holds 12 points of a series"
        " (lookback_seconds / step_seconds), and a shared silence is judged on 20 at least (10 with lines"
        " before a run of 0 longer than the earlier ones): it is never found; raise lookback_seconds to 6000"
    ]


def test_a_misspelt_key_of_the_catalog_gets_a_hint_too() -> None:
    """The README promised "did you mean" for every file; a misspelt key got none anywhere."""
    with pytest.raises(ConfigError) as err:
        load_catalog("services:\n  - name: a\n    team: t\n    tier: 1\n    calss: [b]\n")
    assert "services[0].calss: Extra inputs are not permitted (did you mean 'calls'?)" in str(err.value)


@pytest.mark.parametrize(
    ("query", "keeps"),
    [
        ("sum by (job) (rate(http_requests_total[5m]))", False),
        ("sum by (job, service) (rate(http_requests_total[5m]))", True),
        ("SUM(rate(x[5m])) BY (service)", True),  # keywords in any case, the clause after the call
        ("sum(rate(x[5m]))", False),  # no clause: no label at all
        ("( max without (service, pod) (x) )", False),
        ("avg without (pod) (x)", None),  # depends on what the series aggregated carry
        ("sum by ('service', \"a.b\",) (x) # a comment\n", True),  # quoted names, a trailing comma
        ('count_values("service", x)', True),  # count_values adds its label
        ("quantile(0.9, x) by (job)", False),
        ("sum by () (x)", False),
    ],
)
def test_which_labels_the_outermost_aggregation_keeps(query: str, keeps: bool | None) -> None:
    found = outer_aggregation(query)
    assert found is not None
    assert found.keeps("service") is keeps


@pytest.mark.parametrize(
    "query",
    [
        "sum by (job) (x) / 2",  # a binary expression at the top
        "histogram_quantile(0.99, sum by (le) (rate(h[5m])))",  # a function at the top
        "topk(5, x) by (job)",  # keeps every label of the series it selects
        "sum_over_time(x[5m])",
        "sum by (job (x)",  # unbalanced: left to the brackets' check
        "up",
    ],
)
def test_anything_but_one_aggregation_is_left_alone(query: str) -> None:
    assert outer_aggregation(query) is None


@pytest.mark.parametrize(
    ("query", "ratio"),
    [
        ("used / size", True),
        ("sum(rate(errors[5m])) / sum(rate(requests[5m]))", True),
        ("(a / on (instance) group_left (name) b)", True),
        ("max by (service) (used / size)", True),  # a max of shares is a share
        ("sum by (service) (used / size)", False),  # a sum is not
        ("100 * used / size", False),
        ("used / size * 100", False),
        ("1 - avail / size", False),
        ("bytes / 1024", False),  # a unit, not a share
        ("used / size > 0.5", False),
        ("rate(x_sum[5m]) / rate(x_count[5m])", False),  # a mean
        ("sum(rate(x_sum[5m])) by (le) / sum(rate(x_count[5m])) by (le)", False),
        ("a_sum / b_count", True),  # two metrics' _sum and _count: no mean
        ("up", False),
    ],
)
def test_a_ratio_is_a_division_at_the_top(query: str, ratio: bool) -> None:
    assert is_ratio(query) is ratio


def _checked(scan: str) -> list[str]:
    return _problems(f"scans:\n  - name: a\n{scan}", queries=True)


def test_a_query_whose_result_cannot_name_the_service_is_a_warning() -> None:
    """A scan of ``sum by (job) (...)`` with the default service_label: every series had no service,
    and every anomaly went to one incident of service 'unknown' (a field review)."""
    assert _checked("    query: sum by (job) (rate(http_requests_total[5m]))\n") == [
        "anomaly.yaml:3: scans[0].query: warning: no series of the query can have the label 'service'"
        " (service_label): the whole query is `sum by (job)`, whose series carry only the labels its by"
        " (...) lists; every series would be of service 'unknown', its anomalies in one incident outside"
        " the catalog (no owner: P5, the default channel). Add service to its by (...), or give the"
        " scan a fixed `service:`"
    ]
    [without] = _checked("    query: sum without (app) (x)\n    service_label: app\n")
    assert without.startswith(
        "anomaly.yaml:4: scans[0].service_label: warning: no series of the query can have"
    )
    assert "`sum without (app)`, whose without (...) removes app" in without
    assert "Take app out of its without (...)" in without
    [bare] = _checked("    query: sum(rate(x[5m]))\n")
    assert "`sum(...)`, which keeps no label (it has no by (...))" in bare
    # a fixed service, a label kept, or what the check cannot follow: nothing said
    for fine in (
        "    query: sum(rate(x[5m]))\n    service: checkout\n",
        "    query: sum by (job) (x)\n    service_label: job\n",
        "    query: sum by (job) (x) / on (job) sum by (job) (y)\n",
        "    query: label_replace(sum by (job) (x), 'service', '$1', 'job', '(.*)')\n",
    ):
        assert load_anomaly_config(f"scans:\n  - name: a\n{fine}", source="a", queries=True).scans
    # the worker runs it all the same (it is `medic check` that says it)
    assert load_anomaly_config("scans:\n  - name: a\n    query: sum(x)\n", source="a").scans


def test_runs_more_often_than_the_step_is_a_warning_and_a_lookback_under_3_steps_says_what_to_change() -> (
    None
):
    """A run's end is on the step grid: runs between two steps fetch the same points and score none.
    It works (a warning); a lookback under 3 steps cannot (an error, now saying what to change)."""
    assert _checked("    query: up\n    every_seconds: 30\n") == [
        "anomaly.yaml:4: scans[0].every_seconds: warning: every_seconds (30) is shorter than step_seconds"
        " (60): a run ends on the step grid, so the runs between two steps fetch the same points again"
        " and score none; every_seconds of step_seconds or more finds the same with fewer queries"
    ]
    assert _checked("    query: up\n    lookback_seconds: 100\n") == [
        "anomaly.yaml:4: scans[0].lookback_seconds: lookback_seconds (100) must cover at least 3 steps of"
        " step_seconds (60): a run fetches fewer points than a trend or a score needs; raise"
        " lookback_seconds to 180, or lower step_seconds to 33.33 or less"
    ]
    assert load_anomaly_config("scans:\n  - {name: a, query: up, every_seconds: 30}\n", source="a").scans


def test_a_percentage_capacity_of_a_ratio_is_a_warning() -> None:
    scan = "    query: used / size\n    capacity: {}\n    horizon_seconds: 86400\n"
    assert _checked(scan.format(95)) == [
        "anomaly.yaml:4: scans[0].capacity: warning: capacity 95 with a query that is a ratio (a division"
        " at its top): if its values are a share (0..1), they never reach 95 rising (no exhaustion is"
        " ever predicted), and falling are past it at once; write capacity: 0.95 for 95%, or multiply"
        " the query by 100"
    ]
    assert load_anomaly_config(f"scans:\n  - name: a\n{scan.format(0.95)}", source="a", queries=True).scans
    percent = scan.format(95).replace("used / size", "100 * used / size")
    assert load_anomaly_config(f"scans:\n  - name: a\n{percent}", source="a", queries=True).scans
    # Divisions that are no share (an owner review): a mean latency against 2 s, bytes per request
    # against 4096 (over 100): nothing said. (A load per CPU against 4 is said: a division is a share
    # most often, hence a warning.)
    for query, capacity in (
        ("rate(x_sum[5m]) / rate(x_count[5m])", 2),
        ("sum(rate(bytes_out[5m])) / sum(rate(requests[5m]))", 4096),
    ):
        fine = scan.replace("used / size", query).format(capacity)
        assert load_anomaly_config(f"scans:\n  - name: a\n{fine}", source="a", queries=True).scans, query
    # A _sum and a _count of two metrics, or in a comment, are no mean: said.
    for query in ("a_sum / b_count", "used / size  # was disk_sum/disk_count"):
        [said] = [
            p for p in _checked(scan.replace("used / size", repr(query)).format(95)) if "counter" not in p
        ]
        assert "capacity 95 with a query that is a ratio" in said, query


def test_a_step_that_keeps_no_days_is_a_warning() -> None:
    """The level part holds days only at one point a minute or coarser, on a step that divides a day:
    a scan at the scrape interval (15 s) alarmed on each weekday's morning ramp (a field review), with
    nothing in `medic check` to say why."""
    q = "    query: sum by (service) (rate(x[5m]))\n"
    [fine] = _checked(q + "    step_seconds: 15\n    every_seconds: 60\n")
    assert fine.startswith("anomaly.yaml:4: scans[0].step_seconds: warning: step_seconds (15) is finer")
    assert "keeps no days" in fine and "(60, 120, 300, 600)" in fine
    [rests] = _checked(q + "    step_seconds: 15\n    every_seconds: 60\n    detector: still\n")
    assert "step_seconds (15) is finer than one point a minute" in rests  # still's daily rests need days
    long = q.replace("[5m]", "[5h]")
    [odd] = _checked(
        long + "    step_seconds: 18000\n    every_seconds: 18000\n    lookback_seconds: 86400\n"
    )
    assert "step_seconds (18000) is not a whole number of steps a day" in odd
    # steps with days, a detector without a season, and a step coarser than 6 hours: nothing said
    for fine_step in (
        "    step_seconds: 60\n",
        "    step_seconds: 300\n",
        "    step_seconds: 15\n    every_seconds: 60\n    detector: knn\n",
        "    step_seconds: 43200\n    every_seconds: 43200\n    lookback_seconds: 200000\n",
    ):
        text = (
            f"scans:\n  - name: a\n{q if '43200' not in fine_step else q.replace('[5m]', '[12h]')}{fine_step}"
        )
        assert load_anomaly_config(text, source="a", queries=True).scans, fine_step


def test_a_range_shorter_than_the_step_is_a_warning() -> None:
    """``count_over_time({...} [1m])`` at a step of 5 minutes counts one minute in five: a burst of
    errors between two points is never seen. Said, not refused (a sampled rate may be meant);
    strings, a subquery's resolution and the ranges inside a subquery (evaluated at its own
    resolution, a review found them said) are not taken for the query's ranges."""
    loki = (
        '    source: loki\n    query: \'sum by (service) (count_over_time({a=~"[a-z]+"} |~ "[0-9]" [1m]))\'\n'
    )
    [said] = _checked(loki + "    step_seconds: 300\n")
    assert said.startswith(
        "anomaly.yaml:4: scans[0].query: warning: its range (1m) is shorter than step_seconds"
    )
    assert "a range of step_seconds or more ([5m]) sees all of it" in said
    [mixed] = _checked("    query: 'rate(x[10m]) / rate(y[90s])'\n    step_seconds: 120\n")
    assert "its range (90s) is shorter than step_seconds (120)" in mixed
    [outer] = _checked(
        "    query: 'max_over_time(rate(x[1m])[10m:1m]) + rate(y[2m])'\n    step_seconds: 300\n"
    )
    assert "its range (2m) is shorter than step_seconds (300)" in outer
    for fine in (
        "    query: 'max_over_time(rate(x[5m])[1h:30s])'\n    step_seconds: 300\n",
        "    query: 'max_over_time(rate(x[1m])[10m:1m])'\n    step_seconds: 300\n",  # (evaluated each minute)
        loki.replace("[1m]", "[5m]") + "    step_seconds: 300\n",
        "    query: up\n    step_seconds: 300\n",
    ):
        assert load_anomaly_config(f"scans:\n  - name: a\n{fine}", source="a", queries=True).scans


def _rule_exprs() -> list[str]:
    """Every ``expr`` of the public rule files the tests carry (kubernetes-mixin, node-mixin, Sloth,
    Pyrra, the apiserver SLO): alerting and recording rules, all of them instant vectors."""
    import yaml  # noqa: PLC0415

    folder = Path(__file__).parent.parent / "fixtures" / "alerts"
    exprs: list[str] = []
    for name in ("kubernetes-mixin-rules.yaml", "node-mixin-rules.yaml", "slo-generators-rules.yaml"):
        for group in yaml.safe_load((folder / name).read_text())["groups"]:
            exprs += [str(rule["expr"]) for rule in group["rules"]]
    for name in ("kubernetes-mixin.json", "node-mixin.json", "slo-generators.json"):
        _exprs_in(json.loads((folder / name).read_text()), exprs)
    return sorted(set(exprs))


def _exprs_in(value: object, out: list[str]) -> None:
    if isinstance(value, dict):
        out += [str(v) for k, v in value.items() if k == "expr"]
        for v in value.values():
            _exprs_in(v, out)
    elif isinstance(value, list):
        for v in value:
            _exprs_in(v, out)


def test_a_range_vector_at_the_top_is_an_error_and_no_rule_of_the_public_mixins_is_one() -> None:
    """``up[5m]`` (or a subquery) answers an instant query and is refused by every range query a run
    sends ("invalid expression type \\"range vector\\" for range query"): `medic check` says so, where
    only the scan's last_error did. None of the public rules' expressions is taken for one."""
    exprs = _rule_exprs()
    assert len(exprs) >= 90
    assert [e for e in exprs if range_at_top(e) is not None] == []
    for query, span in (
        ("up[5m]", "[5m]"),
        ('x{a="b"}[5m] offset 1h', "[5m]"),
        ("(a / b)[1h:5m]", "[1h:5m]"),
        ("(up[5m])", "[5m]"),
        ("up[5m] offset -1h", "[5m]"),
        ("up[5m] @ start()", "[5m]"),
    ):
        assert range_at_top(query) == span
        [said] = _checked(f"    query: '{query}'\n")
        assert f"a range vector ({span} at its top), which a range query refuses at every run" in said
    for query in ("rate(up[5m])", "max_over_time(x[1h:5m])", 'x{a="[5m]"}', "a[5m] / b[5m]"):
        assert range_at_top(query) is None


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("sum by (service) (http_requests_total)", "it reads the counter http_requests_total as it is"),
        ("http_requests_total", "rate(http_requests_total[5m])"),
        ("sum by (service) (sum_over_time(errors_total[5m]))", "the counter errors_total"),
        (
            "sum by (service) (a_total) / sum by (service) (b_count)",
            "the counters a_total, b_count as they are",
        ),
    ],
)
def test_a_counter_read_as_it_is_is_a_warning(query: str, said: str) -> None:
    """`sum(http_requests_total)` only grows: the detector found nothing in it but its resets, and every
    busy service trended up (a field walk-through's leftover, 2026-12-06)."""
    text = f"scans:\n  - name: a\n    query: '{query}'\n"
    (problem,) = [p for p in _problems(text, queries=True) if "counter" in p]
    assert (
        problem.startswith("anomaly.yaml:3: scans[0].query: warning: it reads the counter")
        and said in problem
    )


def test_no_rate_of_a_counter_and_no_public_rule_is_taken_for_a_raw_counter() -> None:
    from medic.promql import raw_counters  # noqa: PLC0415

    for fine in (
        "sum by (service) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))",
        "count by (service) (kube_pod_container_status_restarts_total)",
        'sum by (service) (increase(errors_total{code=~"5.._total"}[1h]))',
        "max by (service) (container_memory_working_set_bytes)",
    ):
        assert raw_counters(fine) == [], fine
    exprs = _rule_exprs()
    assert len(exprs) >= 90 and [e for e in exprs if raw_counters(e)] == []
