"""``medic doctor`` with nothing to reach: each part says so in its line, and the command exits 1 on an
error (the real parts: tests/e2e/test_doctor.py)."""

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.support.stack import free_port


def test_nothing_reachable_is_said_part_by_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - name: lat\n    query: up\n")
    for key, value in {
        "MEDIC_WEBHOOK_TOKEN": "t" * 32,
        "MEDIC_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MEDIC_CATALOG": str(tmp_path / "catalog.yaml"),
        "MEDIC_LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        done = CliRunner().invoke(app, ["doctor", "--timeout", "3"])
    finally:  # the command set up logging on the runner's stream, closed once it returns
        root.handlers[:], root.level = handlers, level
    lines = done.output.splitlines()
    assert done.exit_code == 1, done.output
    assert lines[0].startswith("error Temporal 127.0.0.1:") and "nothing answers there" in lines[0]
    assert "warn  Prometheus: MEDIC_PROMETHEUS_URL is not set: no verification, no scans" in lines
    assert "error scan lat: its source is prometheus, and MEDIC_PROMETHEUS_URL is not set" in lines
    assert "warn  Alertmanager: MEDIC_ALERTMANAGER_URL is not set: no silences from Slack" in lines
    assert "warn  Slack: MEDIC_SLACK_BOT_TOKEN is not set: no Slack messages" in lines
    assert "warn  Jira: MEDIC_JIRA_URL is not set: no Jira issues" in lines  # (it said nothing of Jira)
    assert any(line.startswith("warn  Pager: no PagerDuty routing key or Opsgenie API key") for line in lines)
    assert lines[-1] == "2 error(s), 5 warning(s)"


def test_an_unreachable_slack_is_said_once_without_the_sdks_own_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """slack_sdk logged each failed try (ERROR) and retry (INFO) onto stderr, beside the finding."""
    from pydantic import SecretStr  # noqa: PLC0415

    from service.doctor import _notifications  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    url = f"http://127.0.0.1:{free_port()}/api/"
    settings = Settings(_env_file=None, slack_bot_token=SecretStr("xoxb-1-doctor"), slack_base_url=url)
    with caplog.at_level(logging.DEBUG):
        found = _notifications(settings, 2.0)
    (slack,) = [str(f) for f in found if f.what.startswith("Slack")]
    assert slack.startswith(f"error Slack {url}: Slack unreachable"), slack
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_sdk")] == []
    assert logging.getLogger("slack_sdk").level == logging.NOTSET  # as it was, after


def test_search_attributes_of_another_type_are_said_as_the_worker_refuses_them() -> None:
    """A worker refuses to start on a search attribute of another type: doctor says it the same way."""
    from temporalio.api.enums.v1 import IndexedValueType  # noqa: PLC0415

    from service.temporal import search_attributes_wanted  # noqa: PLC0415
    from workflows.search_attributes import ALL  # noqa: PLC0415

    right = {key.name: key.indexed_value_type.value for key in ALL}
    assert search_attributes_wanted(right) == ([], {})
    wrong = {**right, "MedicTitle": IndexedValueType.INDEXED_VALUE_TYPE_TEXT}
    del wrong["MedicImpact"]
    conflicts, missing = search_attributes_wanted(wrong)
    assert conflicts == ["MedicTitle is Text, Medic needs Keyword"]
    assert list(missing) == ["MedicImpact"]


def test_urls_are_shown_without_credentials_or_query_values() -> None:
    from service.doctor import shown  # noqa: PLC0415

    assert shown("https://medic:S3cret@thanos:9092/prom/?namespace=shop&token=abc") == (
        "https://thanos:9092/prom (and its query)"
    )
    assert shown("http://prometheus:9090/") == "http://prometheus:9090"
    # one httpx cannot read: said without its text (a review: doctor crashed on it)
    assert shown("http://medic:S3cret@[::1") == "(a URL that cannot be read)"


async def test_slack_and_jira_are_asked_who_medic_is_and_nothing_is_posted(tmp_path: Path) -> None:
    """``auth.test`` and Jira's ``myself`` and project, against the doubles: the token's user and the
    project's name when they answer; their own refusal (invalid_auth, a project Jira does not know)
    when not. Nothing is posted or filed."""
    from pydantic import SecretStr  # noqa: PLC0415

    from service.doctor import diagnose  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.doubles.jira import DEFAULT_API_TOKEN, DEFAULT_USER, JiraDouble  # noqa: PLC0415
    from tests.doubles.slack import DEFAULT_TOKEN, SlackDouble  # noqa: PLC0415
    from tests.support.shop import SHOP_YAML  # noqa: PLC0415

    (tmp_path / "catalog.yaml").write_text("services: []\n")
    slack, jira = SlackDouble(), JiraDouble(deployment_type="Cloud")
    with slack.serve() as slack_url, jira.serve() as jira_url:

        async def lines(**values: object) -> list[str]:
            settings = Settings(
                _env_file=None,
                webhook_token=SecretStr("t" * 32),
                temporal_address=f"127.0.0.1:{free_port()}",
                slack_base_url=f"{slack_url}/api/",
                jira_url=jira_url,
                jira_user=DEFAULT_USER,
                catalog=tmp_path / "catalog.yaml",
                **values,  # type: ignore[arg-type]
            )
            found = await diagnose(settings, timeout=3)
            return [str(f) for f in found if f.what.startswith(("Slack", "Jira"))]

        good = await lines(
            slack_bot_token=SecretStr(DEFAULT_TOKEN),
            jira_api_token=SecretStr(DEFAULT_API_TOKEN),
            jira_project="CHK",
        )
        assert good[0] == f"ok    Slack {slack_url}/api/: the token is medic in {slack.team}"
        assert good[1].startswith(f"ok    Jira {jira_url}: Jira Cloud, as ")
        assert (
            good[2]
            == f"ok    Jira {jira_url} CHK: project CHK (Checkout) takes issues of type 'Bug' from Medic"
        )
        bad = await lines(
            slack_bot_token=SecretStr("xoxb-0-revoked"),
            jira_api_token=SecretStr(DEFAULT_API_TOKEN),
            jira_project="NOPE",
        )
        assert bad[0].startswith("error Slack") and "invalid_auth" in bad[0], bad
        assert bad[1].startswith(f"ok    Jira {jira_url}: Jira Cloud, as "), bad
        assert not [line for line in bad if "xoxb-0-revoked" in line or DEFAULT_API_TOKEN in line]
        assert bad[2].startswith("error Jira") and "No project could be found with key 'NOPE'" in bad[2], bad
        assert not slack.requests("POST /api/chat.postMessage") and not jira.issues()
    # A team-managed project without the policy's issue type: every issue filed there is refused.
    tasks = JiraDouble(deployment_type="Cloud", issue_types=["Task", "Story"])
    with slack.serve() as slack_url, tasks.serve() as jira_url:
        said = await lines(jira_api_token=SecretStr(DEFAULT_API_TOKEN), jira_project="OPS")
    assert said[-1].startswith(f"error Jira {jira_url} OPS: project OPS (Operations) has no issue type 'Bug'")
    assert "(it has Task, Story)" in said[-1] and "set jira_issue_type in the routing policy" in said[-1]
    # A Slack app installed without chat:write: auth.test answers, and every post is refused.
    mute = SlackDouble(scopes=("commands", "usergroups:read"))
    with mute.serve() as slack_url, jira.serve() as jira_url:
        said = await lines(slack_bot_token=SecretStr(DEFAULT_TOKEN))
    assert said[0] == (
        f"error Slack {slack_url}/api/: the token is medic in {mute.team}, without the chat:write scope: "
        "every message is refused (missing_scope); add it to the app's bot token scopes and reinstall the app"
    )
    # An app with the scopes Medic asked for before: it posts, and cannot look for a post cut off.
    older = SlackDouble(scopes=("chat:write", "chat:write.public", "commands", "usergroups:read"))
    with older.serve() as slack_url, jira.serve() as jira_url:
        said = await lines(slack_bot_token=SecretStr(DEFAULT_TOKEN))
    assert said[0] == f"ok    Slack {slack_url}/api/: the token is medic in {older.team}"
    assert said[1].startswith(
        f"warn  Slack {slack_url}/api/: without channels:history, groups:history, channels:read, "
        "groups:read: a post Slack took but answered late"
    ), said
    # nor read people's display names: they are named by the username Slack sends, or their id
    assert said[2].startswith(f"warn  Slack {slack_url}/api/: without users:read: people who act"), said
    # A project where Medic's user may not create issues (a read-only grant).
    readonly = JiraDouble(deployment_type="Server", cannot_create=["OPS"])
    with slack.serve() as slack_url, readonly.serve() as jira_url:
        said = await lines(jira_api_token=SecretStr(DEFAULT_API_TOKEN), jira_project="OPS")
    assert said[-2].startswith(f"ok    Jira {jira_url}: Jira Data Center, as ")
    assert said[-1] == (
        f"error Jira {jira_url} OPS: Medic's Jira user may not create issues in project OPS (Operations): "
        "grant it the Create Issues permission there, or route the service's issues elsewhere"
    )
    # A project where Medic may create issues but not transition them: they would never close.
    stuck = JiraDouble(deployment_type="Server", cannot_transition=["OPS"])
    with slack.serve() as slack_url, stuck.serve() as jira_url:
        said = await lines(jira_api_token=SecretStr(DEFAULT_API_TOKEN), jira_project="OPS")
    assert said[-1] == (
        f"warn  Jira {jira_url} OPS: Medic's Jira user may create issues in project OPS (Operations) but "
        "not transition them: its issues stay open when incidents resolve (grant it Transition Issues)"
    ), said
    # The catalog's projects are each tried, beside MEDIC_JIRA_PROJECT (the shop names CHK and DATA).
    (tmp_path / "catalog.yaml").write_text(SHOP_YAML)
    with slack.serve() as slack_url, jira.serve() as jira_url:
        said = await lines(jira_api_token=SecretStr(DEFAULT_API_TOKEN))
    assert [line.split(": ")[0] for line in said[2:]] == [
        f"ok    Jira {jira_url} CHK",
        f"error Jira {jira_url} DATA",
    ], said


def test_loki_and_the_scans_that_ask_it(tmp_path: Path) -> None:
    """A Loki for the scans whose source is loki: what answers, and each scan asked of its own source
    (its series now; a tenant it needs and lacks, in Loki's words)."""
    import time  # noqa: PLC0415

    from service.doctor import _loki, _scans  # noqa: PLC0415
    from service.prometheus import loki  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.doubles.loki import LokiDouble  # noqa: PLC0415

    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text(
        "scans:\n  - name: errors\n    source: loki\n"
        '    query: \'sum by (service) (count_over_time({namespace="shop"} |= "error" [5m]))\'\n'
        "  - name: lat\n    query: up\n"
    )
    double = LokiDouble(tenants=("team-a",))
    for service in ("checkout", "orders"):
        double.push({"namespace": "shop", "service": service}, time.time() - 90, "error", tenant="team-a")
    with double.serve() as url:
        for tenant, said in (
            ("team-a", "ok    scan errors: 2 series now"),
            (None, "error scan errors: Loki refused to run a scan's range query (401): no org id"),
        ):
            settings = Settings(_env_file=None, loki_url=url, loki_tenant=tenant, anomaly=anomaly)
            logs = loki(settings)
            [found] = _loki(settings, logs)
            assert str(found).startswith(f"ok    Loki {url}: Loki 3.4.2 answers")
            lines = [str(f) for f in _scans(settings, {"prometheus": None, "loki": logs})]
            assert lines[0].startswith(said), lines
            assert lines[1] == "error scan lat: its source is prometheus, and MEDIC_PROMETHEUS_URL is not set"
    assert _loki(Settings(_env_file=None), None) == []  # no Loki, no line


def test_a_scan_whose_source_could_not_be_set_up_is_not_said_unset(tmp_path: Path) -> None:
    """A Prometheus whose CA file is no CA is said above as a set-up error; its scans said
    "MEDIC_PROMETHEUS_URL is not set", which it was (a review)."""
    from service.doctor import _scans  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415

    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text("scans:\n  - name: lat\n    query: up\n")
    settings = Settings(_env_file=None, prometheus_url="http://prom:9090", anomaly=anomaly)
    [line] = _scans(settings, {"prometheus": None, "loki": None}, {"prometheus"})
    assert str(line) == "error scan lat: its source is prometheus, and could not be set up (above)"


def test_a_scan_past_the_series_a_run_watches_is_said(tmp_path: Path) -> None:
    """A query answering 2,100 series was ``ok    scan pods: 2100 series now``, though a run scores 2,000 of
    them and says so only in its result and the worker's log (a walk-through against a Mimir, 2026-12-07)."""
    import time  # noqa: PLC0415

    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from service.doctor import _scans  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text("scans:\n  - name: pods\n    query: 'sum by (service, pod) (rate(x[5m]))'\n")
    double = PrometheusAlertsDouble()
    now = time.time()
    for count, said in (
        (2000, "ok    scan pods: 2000 series now"),
        (
            2100,
            "warn  scan pods: 2100 series now: more than a run watches (2000): 100 of them are not scored "
            "(aggregate the query, e.g. by service, or split it into several scans)",
        ),
    ):
        double.set_range(
            [
                {"metric": {"service": "checkout", "pod": f"p{i}"}, "values": [[now, "1"]]}
                for i in range(count)
            ]
        )
        with double.serve() as url:
            settings = Settings(_env_file=None, prometheus_url=url, anomaly=anomaly)
            [line] = _scans(settings, {"prometheus": PrometheusMetrics(url, timeout=5.0), "loki": None})
        assert str(line) == said
