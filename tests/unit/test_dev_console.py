"""The `medic dev` console as a newcomer meets it (issue 17): a dry run without a cluster says so in
one line (no chained tracebacks), and the banner's hint is a command that works as pasted."""

import logging
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from activities.remediate import RemediationActivities, StepRequest
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.plan import match_runbooks, plan_for
from service.config_files import load_runbooks
from service.dev import _banner, incident_list_url, medic_command
from service.settings import Settings
from tests.unit.test_runbooks import crashloop_alert, restart_runbook

REPO = Path(__file__).resolve().parents[2]


def test_no_cluster_in_a_dry_run_is_one_line_and_benign(caplog: pytest.LogCaptureFixture) -> None:
    alert = crashloop_alert()
    (runbook,) = restart_runbook(match_runbooks(load_runbooks(REPO / "runbooks"), alert, "checkout"))
    plan = plan_for(runbook, alert, incident_id="incident-checkout", service="checkout")
    activities = RemediationActivities(
        cluster=None,
        metrics=None,
        runbooks=lambda: [runbook],
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by snapshot
        guardrails=GuardrailSettings,
    )
    caplog.set_level(logging.INFO)
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(activities.snapshot, StepRequest(step=plan.runbook.steps[0]))
    # BENIGN: the SDK logs it at DEBUG, without the traceback of the error and of its cause.
    assert err.value.category is ApplicationErrorCategory.BENIGN and err.value.non_retryable
    assert err.value.__cause__ is None
    (record,) = [r for r in caplog.records if "no cluster configured" in r.getMessage()]
    assert record.exc_info is None and "\n" not in record.getMessage()


@pytest.mark.parametrize(
    ("argv0", "shown"),
    [
        (".venv/bin/medic", ".venv/bin/medic"),
        ("/opt/my medic/bin/medic", "'/opt/my medic/bin/medic'"),
        ("medic", "medic"),
    ],
)
def test_the_banner_names_the_command_as_invoked(argv0: str, shown: str) -> None:
    assert medic_command(argv0) == shown


def test_started_another_way_the_banner_names_a_medic_that_exists() -> None:
    command = medic_command(sys.argv[0])
    assert command == "medic" or Path(command.strip("'")).exists()


def test_the_banner_links_the_temporal_ui_as_an_incident_list() -> None:
    settings = Settings(_env_file=None)
    banner = _banner(settings, show_token=False)
    url = incident_list_url(settings)
    assert url in banner and f"{medic_command()} fire" in banner
    query = parse_qs(urlsplit(url).query)["query"]
    assert query == ["WorkflowType='IncidentWorkflow' AND MedicStatus!='resolved'"]
