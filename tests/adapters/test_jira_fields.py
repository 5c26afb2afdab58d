"""A Jira site's own priority scheme and required custom fields (a Jira walk-through, 2026-12-07).

Medic named Jira's default priorities (Highest .. Lowest): on a site whose scheme is another (Data
Center's older Blocker, Critical, Major, Minor, Trivial; a scheme named P1-P5) every issue was refused
(``Priority name 'Highest' is not valid``), and so was every issue of a project with a required custom
field (``Severity is required.``): the team whose incidents live in Jira got none. The routing policy
now names the site's priorities (``jira_priorities``) and more fields (``jira_fields``); a field a
project's screen refuses is left out rather than the issue."""

from collections.abc import Iterator

import pytest

from activities.adapters.jira import JiraTracker
from medic.ports import IssueRequest, IssueUpdate, PermanentError
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble

OLD_SCHEME = ("Blocker", "Critical", "Major", "Minor", "Trivial")
SEVERITY = {"customfield_10042": {"value": "Production"}}


def request(**update: object) -> IssueRequest:
    base = IssueRequest(
        project="OPS",
        summary="[P1] PostgresDown on orders-db",
        description="Impact: 88",
        priority="Highest",
        labels=["medic", "medic-p1"],
        dedup_label="incident-orders-db-20261207T120000Z",
    )
    return base.model_copy(update=update)


@pytest.fixture(params=["Server", "Cloud"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble(
        deployment_type=request.param,
        priorities=OLD_SCHEME,
        custom_fields={"OPS": {"customfield_10042": ("Severity", True)}},
    )
    with double.serve() as url:
        yield double, JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)


def test_a_required_custom_field_is_filed_from_the_policy(site: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = site
    with pytest.raises(PermanentError, match="Severity is required"):
        tracker.ensure_issue(request(priority="Blocker"))
    key = tracker.ensure_issue(request(priority="Blocker", fields=SEVERITY))
    issue = double.issue(key)
    assert (issue.priority, issue.custom) == ("Blocker", SEVERITY)


def test_a_priority_the_site_does_not_have_files_the_issue_without_it(
    site: tuple[JiraDouble, JiraTracker],
) -> None:
    double, tracker = site
    key = tracker.ensure_issue(request(fields=SEVERITY))  # "Highest": not in the site's scheme
    issue = double.issue(key)
    assert issue.priority == "Major"  # the scheme's default, rather than no issue at all
    assert issue.summary.startswith("[P1]") and issue.custom == SEVERITY


def test_a_field_another_project_lacks_is_left_out_there(site: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = site
    key = tracker.ensure_issue(request(project="CHK", priority="Blocker", fields=SEVERITY))
    assert double.issue(key).priority == "Blocker" and double.issue(key).custom == {}


def test_an_issue_follows_the_incidents_priority(site: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = site
    key = tracker.ensure_issue(
        request(
            summary="[P2] PostgresSlow", priority="Critical", labels=["medic", "medic-p2"], fields=SEVERITY
        )
    )
    update = IssueUpdate(
        key=key,
        summary="[P1] PostgresDown on orders-db",
        priority="Blocker",
        labels_add=["medic-p1"],
        labels_remove=["medic-p2"],
        comment="Priority raised from P2 to P1.",
    )
    tracker.update_issue(update)
    tracker.update_issue(update)  # retried: said once
    issue = double.issue(key)
    assert (issue.summary, issue.priority) == ("[P1] PostgresDown on orders-db", "Blocker")
    assert issue.labels == ["medic", "incident-orders-db-20261207T120000Z", "medic-p1"]
    assert [c.body for c in issue.comments] == ["Priority raised from P2 to P1."]
    # A name the site does not have: the summary and label still follow.
    tracker.update_issue(update.model_copy(update={"priority": "Highest", "summary": "[P1] again"}))
    assert (double.issue(key).summary, double.issue(key).priority) == ("[P1] again", "Blocker")
