"""`medic check` as a newcomer meets it (issue 17): every mistake in one pass, with a hint."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from medic.catalog import load_catalog
from medic.routing import load_routing
from medic.yamldoc import ConfigError
from service.cli import app
from service.config_files import anomaly_near_miss

CATALOG = """\
services:
  - name: checkout
    team: shop
    routing: {pagerduty: checkout}
  - name: payments
    team: shop
    calls: [checkuot]
"""

ROUTING = """\
teams:
  shop: {primary: shop-primary, manager: eng-managers}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 15, page: [managr]}
rules:
  - {name: p1, escalation: critical}
"""


def _problems(load: object, text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(text, source="f.yaml", **kwargs)  # type: ignore[operator]
    return [str(p) for p in err.value.problems]


def test_an_unknown_page_role_fails_with_a_hint() -> None:
    catalog = load_catalog(CATALOG.replace("checkuot", "checkout"))
    (problem,) = _problems(load_routing, ROUTING, catalog=catalog, key_names=[])
    assert problem.startswith("f.yaml:6: escalations.critical[1].page[0]: unknown page role 'managr'")
    assert "did you mean 'manager'?" in problem
    # Key names from teams:, the catalog and the secrets are fine.
    text = ROUTING.replace("managr", "checkout").replace("[primary]", "[shop-primary, from-secrets]")
    assert load_routing(text, catalog=catalog, key_names=["from-secrets"]).rules


def test_an_unknown_service_in_calls_suggests_the_near_name() -> None:
    assert _problems(load_catalog, CATALOG) == [
        "f.yaml:7: services[1].calls[0]: unknown service 'checkuot' (did you mean 'checkout'?)"
    ]


def test_schema_and_reference_errors_in_one_pass() -> None:
    broken = CATALOG.replace("team: shop\n    calls", "team: shop\n    tier: 9\n    calls")
    found = _problems(load_catalog, broken)
    assert any("services[1].tier" in p for p in found)
    assert any("unknown service 'checkuot'" in p for p in found)
    routing = ROUTING.replace("after_minutes: 0,", "after_minutes: -1,")
    found = _problems(
        load_routing, routing, catalog=load_catalog(CATALOG.replace("uot", "out")), key_names=[]
    )
    assert [p.split(": ")[1] for p in found] == [
        "escalations.critical[0].after_minutes",
        "escalations.critical[1].page[0]",
    ]


def test_a_missing_required_field_is_not_reported_twice() -> None:
    text = CATALOG.replace("  - name: payments\n", "  - tier: 2\n").replace("checkuot", "checkout")
    assert _problems(load_catalog, text) == ["f.yaml:5: services[1].name: Field required"]


@pytest.mark.parametrize("text", ["", "services: []\n", "# nothing yet\n"])
def test_check_refuses_an_empty_catalog(tmp_path: Path, text: str) -> None:
    (tmp_path / "catalog.yaml").write_text(text)
    result = CliRunner().invoke(app, ["check", "--catalog", str(tmp_path / "catalog.yaml")])
    assert result.exit_code == 1
    assert "the catalog lists no services" in result.output


def test_check_takes_the_files_as_options_or_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "pol.yaml").write_text(ROUTING)
    (tmp_path / "rb").mkdir()
    monkeypatch.chdir(tmp_path)
    args = ["check", "--catalog", "cat.yaml", "--routing", "pol.yaml", "--runbooks", "rb"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "pol.yaml:6: escalations.critical[1].page[0]: unknown page role 'managr'" in result.output
    monkeypatch.setenv("MEDIC_CATALOG", "cat.yaml")
    monkeypatch.setenv("MEDIC_ROUTING", "pol.yaml")
    monkeypatch.setenv("MEDIC_RUNBOOKS_DIR", "rb")
    assert "unknown page role 'managr'" in CliRunner().invoke(app, ["check"]).output
    (tmp_path / "pol.yaml").write_text(ROUTING.replace("managr", "manager"))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok  pol.yaml" in result.output


def test_check_refuses_a_path_given_that_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    args = ["check", "--catalog", str(tmp_path / "cat.yaml"), "--runbooks", str(tmp_path / "runbooks-typo")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "runbooks-typo:1: not found (--runbooks)" in result.output


@pytest.mark.parametrize(
    ("setting", "option", "said"),
    [
        ("MEDIC_ROUTING", "--routing", "nope:1: file not found"),
        ("MEDIC_RUNBOOKS_DIR", "--runbooks", "nope:1: not found"),
        ("MEDIC_CATALOG", "--catalog", "nope:1: file not found"),
        ("MEDIC_ANOMALY", "--anomaly", "nope:1: file not found"),
    ],
)
def test_a_path_set_on_purpose_that_is_not_there_is_an_error_and_no_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, option: str, said: str
) -> None:
    """``MEDIC_ROUTING=nope.yaml medic check`` said `ok  built-in default: 3 routing rules` and exited 0
    (``MEDIC_RUNBOOKS_DIR=nope``: `ok  nope: 0 runbooks`), and ``--routing nope.yaml`` said that ok line
    and its error both; the chart's init container is there to stop such a rollout."""
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "runbooks").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("MEDIC_CATALOG", "MEDIC_ROUTING", "MEDIC_RUNBOOKS_DIR", "MEDIC_ANOMALY"):
        monkeypatch.delenv(name, raising=False)
    assert CliRunner().invoke(app, ["check"]).exit_code == 0
    for args, env, named_by in (([], {setting: "nope"}, setting), ([option, "nope"], {}, option)):
        result = CliRunner().invoke(app, ["check", *args], env=env)
        assert result.exit_code == 1, result.output
        assert f"{said} ({named_by})" in result.output
        assert "ok  nope" not in result.output
        assert option != "--routing" or "built-in default" not in result.output


def test_no_catalog_at_the_default_path_is_a_warning_as_at_run_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime runs without a catalog (correlation falls back to Alertmanager groups, said as a
    warning); `medic check` in an empty folder said `catalog.yaml:1: file not found (MEDIC_CATALOG)` and
    failed. A catalog named on purpose that is not there is still an error, naming what named it."""
    monkeypatch.chdir(tmp_path)
    for name in ("MEDIC_CATALOG", "MEDIC_ROUTING", "MEDIC_RUNBOOKS_DIR", "MEDIC_ANOMALY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "catalog.yaml:1: warning: no service catalog: correlation falls back" in result.output
    assert "runbooks:1: warning: no runbooks folder" in result.output
    assert "ok  runbooks" not in result.output
    result = CliRunner().invoke(app, ["check", "--catalog", "catalog.yaml"])
    assert result.exit_code == 1 and "catalog.yaml:1: file not found (--catalog)" in result.output
    result = CliRunner().invoke(app, ["check"], env={"MEDIC_CATALOG": "catalog.yaml"})
    assert result.exit_code == 1 and "catalog.yaml:1: file not found (MEDIC_CATALOG)" in result.output


@pytest.mark.parametrize("setting", ["MEDIC_CATALOG", "MEDIC_ROUTING", "MEDIC_ANOMALY", "MEDIC_RUNBOOKS_DIR"])
def test_a_file_setting_set_but_empty_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """An empty setting reads as the current directory: ``MEDIC_ANOMALY=`` said `.:1: is a directory
    (MEDIC_ANOMALY)`, ``MEDIC_ROUTING=`` (or ``MEDIC_CATALOG=``) was a traceback, and
    ``MEDIC_RUNBOOKS_DIR=`` read the folder's YAML files as runbooks (a review)."""
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "runbooks").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("MEDIC_CATALOG", "MEDIC_ROUTING", "MEDIC_RUNBOOKS_DIR", "MEDIC_ANOMALY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["check"], env={setting: ""})
    assert result.exit_code == 1, result.output
    assert f".:1: {setting} is set but empty" in result.output


def test_each_commands_summary_is_one_line() -> None:
    """`medic --help` lists the first paragraph of each command's docstring with its line breaks:
    `check` read `...; file:line messages on` and, on a line of its own, `errors.`."""
    import typer  # noqa: PLC0415

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name, command in group.commands.items():
        summary = (command.short_help or command.help or "").strip().split("\n\n")[0]
        assert summary and "\n" not in summary, (name, summary)
    listed = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    lines = [line for line in listed.splitlines() if line.startswith("│ ")]
    assert len(lines) == 1 + len(group.commands), listed  # --help, then a line per command


def test_check_help_names_the_settings() -> None:
    text = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200"}).output
    for word in (
        "MEDIC_CATALOG",
        "MEDIC_ROUTING",
        "MEDIC_RUNBOOKS_DIR",
        "--catalog",
        "--routing",
        "--runbooks",
        "MEDIC_ANOMALY",
        "--anomaly",
    ):
        assert word in text


def test_an_anomaly_file_named_that_is_not_there_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MEDIC_ANOMALY=anomaly.yml`` (a typo) was read as "no scans": check said nothing and exited 0,
    and the worker deleted every scan's schedule (a field review, 2026-12-06). A file named on purpose
    that is not there is an error; the default one beside the catalog missing is "no scans"."""
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "rb").mkdir()
    monkeypatch.chdir(tmp_path)
    base = ["check", "--catalog", "cat.yaml", "--runbooks", "rb"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "anomaly" not in result.output
    monkeypatch.setenv("MEDIC_ANOMALY", "anomaly.yml")
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 1
    assert "anomaly.yml:1: file not found (MEDIC_ANOMALY)" in result.output
    monkeypatch.delenv("MEDIC_ANOMALY")
    result = CliRunner().invoke(app, [*base, "--anomaly", "scans.yaml"])
    assert result.exit_code == 1 and "scans.yaml:1: file not found (--anomaly)" in result.output
    (tmp_path / "scans.yaml").write_text("scans:\n  - name: lat\n    query: up\n")
    result = CliRunner().invoke(app, [*base, "--anomaly", "scans.yaml"])
    assert result.exit_code == 0, result.output
    assert "ok  scans.yaml: 1 anomaly scans" in result.output


def test_a_scan_of_a_service_outside_the_catalog_is_a_warning_and_the_directory_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`medic check` is the chart's init container: a scan the worker runs (a service outside the
    catalog) said as an error stopped the rollout of a configuration that ran; it is a warning, exit
    0. ``MEDIC_ANOMALY=`` (set, empty) is the current directory: a traceback before, an error now,
    said as set but empty (a directory named is said as one)."""
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "rb").mkdir()
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - {name: disk, query: up, service: storage}\n")
    monkeypatch.chdir(tmp_path)
    base = ["check", "--catalog", "cat.yaml", "--runbooks", "rb", "--anomaly", "anomaly.yaml"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "scans[0].service: warning: service 'storage' is not in the catalog" in result.output
    assert "1 warning(s)" in result.output
    assert "ok  anomaly.yaml: 1 anomaly scans" in result.output  # with warnings alone, it loads
    monkeypatch.setenv("MEDIC_ANOMALY", "")
    result = CliRunner().invoke(app, base[:-2])
    assert result.exit_code == 1 and "MEDIC_ANOMALY is set but empty" in result.output, result.output
    (tmp_path / "scans").mkdir()
    result = CliRunner().invoke(app, [*base[:-2], "--anomaly", "scans"])
    assert result.exit_code == 1 and "scans:1: is a directory (--anomaly)" in result.output


def test_check_warns_of_a_scan_whose_query_drops_its_service_label_and_of_its_timing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `medic check` reads of a scan's query: a result that cannot carry the service_label and
    runs more often than the step are warnings (exit 0: the worker runs the scan, and `medic check`
    is the chart's init container)."""
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "rb").mkdir()
    monkeypatch.chdir(tmp_path)
    base = ["check", "--catalog", "cat.yaml", "--runbooks", "rb", "--anomaly", "anomaly.yaml"]
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - {name: rps, query: 'sum by (job) (rate(x[5m]))'}\n")
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "scans[0].query: warning: no series of the query can have the label 'service'" in result.output
    (tmp_path / "anomaly.yaml").write_text(
        "scans:\n  - {name: rps, query: 'sum by (service) (x)', every_seconds: 10}\n"
    )
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert (
        "scans[0].every_seconds: warning: every_seconds (10) is shorter than step_seconds (60)"
        in result.output
    )


def test_a_misnamed_anomaly_file_beside_the_catalog_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """anomaly.yml beside the catalog, where the scans are read from anomaly.yaml (a ConfigMap of
    one's own with its key misnamed): no scan ran, and `medic check` said nothing."""
    (tmp_path / "cat.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    (tmp_path / "rb").mkdir()
    (tmp_path / "anomaly.yml").write_text("scans:\n  - {name: rps, query: 'sum by (service) (x)'}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDIC_ANOMALY", raising=False)
    result = CliRunner().invoke(app, ["check", "--catalog", "cat.yaml", "--runbooks", "rb"])
    assert result.exit_code == 0, result.output
    assert (
        "anomaly.yml:1: warning: there is no anomaly.yaml here, but there is anomaly.yml" in result.output
    ), result.output
    (tmp_path / "anomaly.yml").rename(tmp_path / "anomaly-notes.md")  # nothing like it: nothing said
    result = CliRunner().invoke(app, ["check", "--catalog", "cat.yaml", "--runbooks", "rb"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output


@pytest.mark.parametrize(
    ("name", "near"),
    [
        ("anomaly.yml", True),
        ("Anomaly.yaml", True),
        ("ANOMALY.YML", True),
        ("anomalies.yaml", True),
        ("anomaly.json", True),
        ("anomaly", True),
        ("anomaly-scans.yaml", True),
        # backups, editor files and other files: none (an owner review found each read as one)
        ("anomaly.yaml.bak", False),
        ("anomaly.yaml~", False),
        ("#anomaly.yaml#", False),
        ("anomaly.yaml.orig", False),
        ("anomaly.yaml.j2", False),
        ("anomaly-rules.yaml", False),
        ("anomaly_detection.yml", False),
        ("anomaly-notes.md", False),
        ("catalog.yaml", False),
    ],
)
def test_what_is_taken_for_a_misnamed_anomaly_file(tmp_path: Path, name: str, near: bool) -> None:
    (tmp_path / name).write_text("scans: []\n")
    found = anomaly_near_miss(tmp_path / "anomaly.yaml")
    assert found == (tmp_path / name if near else None)


def test_a_file_of_that_name_holding_no_scans_is_no_misnamed_anomaly_file(tmp_path: Path) -> None:
    """An anomalies.json kept beside the catalog for another purpose (an API answer saved) answered
    500 in GET /anomalies/scans and stopped the workers managing schedules (an owner review)."""
    (tmp_path / "anomalies.json").write_text('[{"name": "latency", "series": []}]')
    assert anomaly_near_miss(tmp_path / "anomaly.yaml") is None
    (tmp_path / "anomalies.json").write_text('{"scans": []}')
    assert anomaly_near_miss(tmp_path / "anomaly.yaml") == tmp_path / "anomalies.json"


def test_an_empty_runbooks_setting_is_said_so_at_run_time_too(tmp_path: Path) -> None:
    """The worker and `medic explain` load the runbooks as `medic check` does: an empty
    MEDIC_RUNBOOKS_DIR read the current folder, its catalog and routing policy as runbooks
    (`catalog.yaml:7: name: Field required`, a review)."""
    from medic.yamldoc import ConfigError  # noqa: PLC0415
    from service.config_files import load_runbooks  # noqa: PLC0415

    with pytest.raises(ConfigError, match="MEDIC_RUNBOOKS_DIR is set but empty"):
        load_runbooks(Path(""))
    assert load_runbooks(tmp_path / "none") == []


@pytest.mark.parametrize("command", ["api", "worker", "dev"])
def test_the_api_and_worker_refuse_to_start_on_a_routing_or_anomaly_file_set_and_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A typo in MEDIC_ROUTING ran with the built-in routing (the default rule pages P1 and P2), one in
    MEDIC_ANOMALY with no scans: a warning in the log was the only word of either."""
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace("checkuot", "checkout"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIC_WEBHOOK_TOKEN", "a-token-for-the-test")
    monkeypatch.setenv("MEDIC_ROUTING", "routng.yaml")
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2, result.output
    assert (
        "refusing to start, a file set on purpose cannot be read:\n"
        "routng.yaml:1: file not found (MEDIC_ROUTING)" in result.output
    )
    monkeypatch.delenv("MEDIC_ROUTING")
    monkeypatch.setenv("MEDIC_ANOMALY", str(tmp_path))  # a folder
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path}:1: is a directory (MEDIC_ANOMALY)" in result.output
