"""Closing and reopening a Jira issue by the project's own workflow (a Jira walk-through, 2026-12-07).

Medic chose the transition by its name (``done``, ``resolve(d)``, ``close(d)``) and sent its word with
it. On Jira's classic workflow, Data Center's default, the transitions are *Resolve Issue* and *Close
Issue*: no name matched, and the issue of every incident stayed open ("no transition to done"); and
their screen requires a Resolution, which Medic did not send ("Field Resolution is required."). On a
transition without a screen (Jira Cloud's simplified Done), Jira drops a comment sent with it and
answers 204: "Resolved." and "Merged into ..." never reached the issue."""

from collections.abc import Iterator

import pytest

from activities.adapters.jira import JiraTracker
from medic.ports import IssueRequest, PermanentError
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble
from tests.doubles.jira_workflows import CLASSIC, CLASSIC_RESOLUTIONS, Transition, Workflow


def request() -> IssueRequest:
    return IssueRequest(
        project="OPS",
        summary="[P2] checkout down",
        description="Impact: 66",
        priority="High",
        labels=["medic"],
        dedup_label="incident-checkout-20261207T120000Z",
    )


@pytest.fixture(params=["Server", "Cloud"])
def classic(request: pytest.FixtureRequest) -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble(
        deployment_type=request.param,
        workflows={"OPS": CLASSIC},
        resolutions=CLASSIC_RESOLUTIONS,
        cannot_transition=("CHK",),
    )
    with double.serve() as url:
        yield double, JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)


@pytest.fixture(params=["Server", "Cloud"])
def simplified(request: pytest.FixtureRequest) -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble(deployment_type=request.param)
    with double.serve() as url:
        yield double, JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)


def test_the_classic_workflow_is_resolved_with_a_resolution(classic: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = classic
    key = tracker.ensure_issue(request())
    tracker.close(key, "Resolved.")
    issue = double.issue(key)
    assert (issue.status, issue.resolution) == ("Resolved", "Fixed")  # Resolve Issue, not Close Issue
    assert [c.body for c in issue.comments] == ["Resolved."]
    tracker.close(key, "Resolved.")  # a retried activity: nothing moved, nothing said twice
    assert len(double.issue(key).transitions) == 1 and len(double.issue(key).comments) == 1


def test_a_closing_word_reaches_an_issue_whose_done_has_no_screen(
    simplified: tuple[JiraDouble, JiraTracker],
) -> None:
    double, tracker = simplified
    key = tracker.ensure_issue(request())
    tracker.close(key, "Merged into incident-orders-db.")
    issue = double.issue(key)
    assert (issue.status, issue.resolution) == ("Done", "Done")
    assert [c.body for c in issue.comments] == ["Merged into incident-orders-db."]


def test_an_issue_closed_by_hand_is_told_and_not_moved(simplified: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = simplified
    key = tracker.ensure_issue(request())
    tracker.close(key, "Merged into incident-orders-db.")
    tracker.close(key, "Resolved.")
    issue = double.issue(key)
    assert [c.body for c in issue.comments] == ["Merged into incident-orders-db.", "Resolved."]
    assert len(issue.transitions) == 1


def test_a_cancel_is_not_a_resolution() -> None:
    """A workflow whose first way to done is "Cancel" (to Won't Do): Medic takes Done."""
    workflow = Workflow(
        "service desk",
        "To Do",
        (
            Transition("41", "Cancel", "Done", screen=("resolution",), required=("resolution",)),
            Transition("21", "In Progress", "In Progress"),
            Transition("31", "Mark as done", "Done"),
        ),
    )
    double = JiraDouble(workflows={"OPS": workflow})
    with double.serve() as url:
        tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
        key = tracker.ensure_issue(request())
        tracker.close(key, "Resolved.")
        assert [t.transition_id for t in double.issue(key).transitions] == ["31"]


def test_a_project_where_medic_may_not_transition_says_so(classic: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = classic
    key = tracker.ensure_issue(request().model_copy(update={"project": "CHK"}))
    with pytest.raises(PermanentError, match="Transition Issues permission"):
        tracker.close(key, "Resolved.")
    issue = double.issue(key)
    assert issue.status == "To Do" and [c.body for c in issue.comments] == ["Resolved."]  # told anyway


def test_reopen_moves_a_done_issue_back(classic: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = classic
    key = tracker.ensure_issue(request())
    tracker.reopen(key, "Firing again.")  # not done: only told
    assert double.issue(key).status == "Open"
    tracker.close(key, "Resolved.")
    tracker.reopen(key, "Firing again.")
    tracker.reopen(key, "Firing again.")  # retried: moved once, told once more at most
    issue = double.issue(key)
    assert (issue.status, issue.resolution) == ("Reopened", None)
    assert [t.to_status for t in issue.transitions] == ["Resolved", "Reopened"]
    assert [c.body for c in issue.comments] == ["Firing again.", "Resolved.", "Firing again."]
