"""The JIRA adapter against Jira Cloud and Jira Data Center as each answers today (issue 15): the
search each supports, ADF on Cloud and escaped wiki markup on Data Center, personal access tokens,
postmortems attached as files, links back to Medic."""

from collections.abc import Iterator
from typing import Any

import jira as jira_sdk
import pytest

from activities.adapters.jira import JiraTracker
from medic.ports import IssueLink, IssueRequest, PermanentError
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble

EVIL = "[click|javascript:alert(1)] !https://evil.example/i.png! {html}<b>x</b>{html} [~admin] C:\\*x*"
PAT = "NjM4OTk3MzQ2NTc2OkVK6nD+medic+pat"
LINK = IssueLink(text="Incident in Medic", url="https://medic.example/incidents/incident-checkout")


def request(**update: object) -> IssueRequest:
    base = IssueRequest(
        project="CHK",
        summary="[P2] checkout down",
        description=f"Services: {EVIL}\nAlerts: 3",
        priority="High",
        labels=["medic"],
        dedup_label="incident-checkout",
        links=[LINK],
    )
    return base.model_copy(update=update)


@pytest.fixture
def cloud() -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble(deployment_type="Cloud")
    with double.serve() as url:
        yield double, JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)


@pytest.fixture
def datacenter() -> Iterator[tuple[JiraDouble, JiraTracker]]:
    double = JiraDouble(deployment_type="Server", pats={PAT: JIRA_USER})
    with double.serve() as url:
        yield double, JiraTracker(url, pat=PAT)


def texts(doc: dict[str, object]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                found.append(str(node["text"]))
            for child in node.get("content", []) or []:
                walk(child)

    walk(doc)
    return found


def test_cloud_searches_search_jql_and_writes_adf(cloud: tuple[JiraDouble, JiraTracker]) -> None:
    double, tracker = cloud
    key = tracker.ensure_issue(request())
    assert tracker.ensure_issue(request()) == key  # found again through /rest/api/3/search/jql
    assert tracker.is_cloud
    assert double.count("GET /rest/api/3/search/jql") == 2
    assert double.count("GET /rest/api/2/search") == 0 and double.count("GET /rest/api/3/search") == 0
    assert double.count("GET /rest/api/2/serverInfo") == 1  # detected once, then kept
    stored = double.issue(key)
    assert stored.description_doc is not None
    # Text nodes: nothing is markup, so hostile text is kept exactly, unescaped.
    assert texts(stored.description_doc) == [f"Services: {EVIL}", "Alerts: 3", LINK.text]
    link = stored.description_doc["content"][-1]["content"][0]
    assert link["marks"] == [{"type": "link", "attrs": {"href": LINK.url}}]
    tracker.comment(key, EVIL)
    tracker.close(key, "Resolved.")
    done = double.issue(key)
    assert [c.body for c in done.comments] == [EVIL, "Resolved."]
    assert all(c.doc is not None for c in done.comments)
    assert done.status == "Done"


def test_data_center_with_a_personal_access_token_writes_escaped_wiki_markup(
    datacenter: tuple[JiraDouble, JiraTracker],
) -> None:
    double, tracker = datacenter
    key = tracker.ensure_issue(request())
    assert tracker.ensure_issue(request()) == key
    assert not tracker.is_cloud
    assert double.count("GET /rest/api/2/search") == 2
    assert double.count("GET /rest/api/2/search/jql") == 0
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in double.requests())
    stored = double.issue(key)
    assert stored.description is not None and stored.description_doc is None
    assert "\\[click\\|javascript:alert(1)\\]" in stored.description
    assert stored.description.endswith(f"[Incident in Medic|{LINK.url}]")
    tracker.comment(key, EVIL)
    assert double.issue(key).comments[0].body.startswith("\\[click")


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_postmortem_is_attached_once_as_a_markdown_file(deployment: str) -> None:
    double = JiraDouble(deployment_type=deployment)  # type: ignore[arg-type]
    with double.serve() as url:
        tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
        key = tracker.ensure_issue(request())
        text = "# Postmortem\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        tracker.attach(key, filename="incident-checkout-postmortem.md", content=text)
        tracker.attach(key, filename="incident-checkout-postmortem.md", content=text)  # a retry
        attachments = double.issue(key).attachments
        assert [(a.filename, a.data.decode()) for a in attachments] == [
            ("incident-checkout-postmortem.md", text)
        ]
        assert double.issue(key).comments == []  # not pasted as a comment


def test_the_removed_search_fails_as_jira_cloud_answers_today() -> None:
    """What Medic did before issue 15 (v2 search on Cloud): a 410, classified as final."""
    double = JiraDouble(deployment_type="Cloud")
    with double.serve() as url:
        legacy = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN, deployment="datacenter")
        with pytest.raises(PermanentError, match="410") as raised:
            legacy.ensure_issue(request())
        assert "CHANGE-2046" in str(raised.value)
        assert double.issues() == []


def test_cloud_double_refuses_what_jira_cloud_refuses() -> None:
    double = JiraDouble(deployment_type="Cloud", pats={PAT: JIRA_USER})
    with double.serve() as url:
        v3 = jira_sdk.JIRA(
            server=url, basic_auth=(JIRA_USER, JIRA_API_TOKEN), options={"rest_api_version": "3"}
        )
        fields = {"project": {"key": "CHK"}, "summary": "s", "issuetype": {"name": "Task"}}
        with pytest.raises(jira_sdk.JIRAError) as raised:
            v3.create_issue(fields={**fields, "description": "a string is not a document"})
        assert raised.value.status_code == 400
        issue = v3.create_issue(fields=fields)
        with pytest.raises(jira_sdk.JIRAError):
            empty_text: Any = {"type": "doc", "version": 1, "content": [{"type": "text", "text": ""}]}
            v3.add_comment(issue.key, empty_text)
        with pytest.raises(jira_sdk.JIRAError) as raised:
            jira_sdk.JIRA(server=url, token_auth=PAT, get_server_info=False).myself()
        assert raised.value.status_code == 401  # Cloud takes no personal access tokens


def test_data_center_has_no_v3_and_no_search_jql() -> None:
    double = JiraDouble(deployment_type="Server")
    with double.serve() as url:
        client = jira_sdk.JIRA(server=url, basic_auth=(JIRA_USER, JIRA_API_TOKEN))
        with pytest.raises(jira_sdk.JIRAError) as raised:
            client._get_json("search/jql", params={"jql": "project = CHK"})
        assert raised.value.status_code == 404
        v3 = jira_sdk.JIRA(
            server=url,
            basic_auth=(JIRA_USER, JIRA_API_TOKEN),
            options={"rest_api_version": "3"},
            get_server_info=False,
        )
        with pytest.raises(jira_sdk.JIRAError) as raised:
            v3.myself()
        assert raised.value.status_code == 404


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_a_merged_incidents_issue_is_linked_once_to_its_causes(deployment: str) -> None:
    """Issue 12: POST issueLink (v3 on Cloud, v2 on Data Center); a retry adds no second link."""
    double = JiraDouble(deployment_type=deployment, pats={PAT: JIRA_USER})  # type: ignore[arg-type]
    with double.serve() as url:
        tracker = (
            JiraTracker(url, pat=PAT)
            if deployment == "Server"
            else JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
        )
        merged = tracker.ensure_issue(request())
        cause = tracker.ensure_issue(request(dedup_label="incident-orders-db"))
        tracker.link(merged, cause, "Relates")
        tracker.link(merged, cause, "Relates")  # a retry after a lost answer
        assert [(x.type, x.outward, x.inward) for x in double.links] == [("Relates", merged, cause)]
        api = "/rest/api/3" if deployment == "Cloud" else "/rest/api/2"
        assert double.count(f"POST {api}/issueLink") == 1  # the retry saw the link on the issue
        seen = jira_sdk.JIRA(url, basic_auth=(JIRA_USER, JIRA_API_TOKEN)).issue(cause, fields="issuelinks")
        (link,) = seen.fields.issuelinks
        assert (link.type.name, link.outwardIssue.key) == ("Relates", merged)


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_a_link_type_the_site_does_not_have_is_a_permanent_error(deployment: str) -> None:
    double = JiraDouble(deployment_type=deployment)  # type: ignore[arg-type]
    with double.serve() as url:
        tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
        merged = tracker.ensure_issue(request())
        cause = tracker.ensure_issue(request(dedup_label="incident-orders-db"))
        with pytest.raises(PermanentError, match="No issue link type with name 'Causes' found"):
            tracker.link(merged, cause, "Causes")
        assert double.links == []
