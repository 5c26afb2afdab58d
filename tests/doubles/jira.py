"""A local double of the JIRA REST API, as Jira Data Center (``deployment_type="Server"``, the default)
or Jira Cloud (``"Cloud"``) answers today, good enough for an unmodified ``jira.JIRA`` client.

``JIRA(server=double.url, basic_auth=(DEFAULT_USER, DEFAULT_API_TOKEN))`` works with the default
constructor: it calls ``GET /rest/api/2/serverInfo`` (answered anonymously too, as JIRA does) and reads
``versionNumbers`` and ``deploymentType``. Where the deployments differ (:mod:`tests.doubles.jira_cloud`
cites the sources):

* Data Center: REST v2 only (``/rest/api/3/...`` is a 404), search through ``/rest/api/2/search``
  (``startAt`` paging; ``search/jql`` is a 404); basic auth, or a personal access token as
  ``Authorization: Bearer`` (``pats={token: user}``).
* Cloud: ``/rest/api/{2,3}/search`` answer ``410 Gone`` with Atlassian's body (CHANGE-2046);
  ``/rest/api/{2,3}/search/jql`` with ``nextPageToken`` paging; every route also under ``/rest/api/3``,
  where ``description`` and comment bodies are ADF documents (validated; a string is a 400) and are
  answered as ADF; basic auth only (bearer PATs are a 401).

Covered (under ``/rest/api/2``, and ``/rest/api/3`` on Cloud; every route but ``serverInfo`` needs
valid auth, else 401 ``{"errorMessages": [...], "errors": {}}`` with ``X-Seraph-LoginReason`` for
wrong credentials):

* ``serverInfo``, ``myself``, ``field``, ``project``, ``project/{idOrKey}`` (with ``issueTypes`` and
  ``components``), ``project/{idOrKey}/components``, ``issuetype``, ``priority``.
* ``POST issue``: ``project`` (``{"key"}``/``{"id"}``; the client turns a bare key into an id through
  ``GET project/{key}``), ``summary`` (required, < 255 characters), ``description`` (a string: v2 has
  no ADF), ``issuetype`` (``{"name"}``/``{"id"}``; a bare name makes the client read the project's
  ``issueTypes``), ``priority``, ``labels`` (no spaces, as JIRA), ``components``, ``environment``,
  ``duedate``, ``assignee``, and the project's ``custom_fields`` (``{"OPS": {"customfield_10042":
  ("Severity", True)}}``: a required one missing is ``{"errors": {"customfield_10042": "Severity is
  required."}}``). Anything else is refused like a field not on the create screen.
  201 ``{"id", "key": "OPS-1", "self"}``; 400 with JIRA's ``errors`` per field (unknown project:
  ``{"errors": {"project": "valid project is required"}}``).
* ``GET``/``PUT issue/{idOrKey}`` (``PUT``: ``fields`` to set and ``update`` ``labels``
  add/remove/set, ``comment`` add; 204). 404 with JIRA's message for an unknown issue.
* ``GET``/``POST issue/{idOrKey}/comment`` (201 with the comment).
* ``GET``/``POST issue/{idOrKey}/transitions`` (``expand=transitions.fields``), by the project's
  workflow (:mod:`tests.doubles.jira_workflows`): Jira Cloud's simplified one unless said, any status
  to any other: To Do (``11``), In Progress (``21``), Done (``31``), no screens; or Jira's classic
  one (``workflows={"OPS": CLASSIC}``: Resolve Issue, Close Issue with a required Resolution, Reopen
  Issue). The id may be a string or a number (the client sends a number); a field not on the
  transition's screen is a 400, a required one missing too; ``update.comment`` is kept only where the
  screen has Comment (elsewhere dropped, 204, as Jira does); 204. An unavailable id: 400
  ``Transition id 'N' is not valid for this issue.`` No transition at all is listed in the projects
  of ``cannot_transition`` (no Transition Issues permission).
* ``POST issue/{idOrKey}/attachments`` (multipart ``file`` parts, ``X-Atlassian-Token: no-check`` or
  403); an issue's ``attachment`` field lists them (``double.issue(key).attachments``).
* ``GET``/``POST search`` (Data Center) and ``search/jql`` (Cloud): a JQL subset, clauses joined by ``AND``:
  ``field = v``, ``!=``, ``in (...)``, ``not in (...)``, ``is [not] EMPTY`` on ``project``, ``key``,
  ``labels``, ``status``, ``statusCategory``, ``issuetype``/``type``, ``priority``, ``resolution``
  (``Unresolved``), ``component``; ``summary``/``description``/``text ~ "words"``; ``ORDER BY``
  ``created``, ``updated``, ``key``, ``priority``, ``status`` (default ``created DESC``). As in JIRA,
  ``!=`` and ``not in`` do not match an empty field, and an unknown project is a 400. Anything else
  (``OR``, parentheses, functions, dates) is a 400 naming what is unsupported, never a silent wrong
  answer.
* State per issue (``double.issue("OPS-1")``): fields, status, resolution, comments, transition
  history. Faults via ``double.faults`` (``jira`` retries 429 and 503 only).

* ``GET issueLinkType``, ``POST issueLink`` and an issue's ``issuelinks`` (:mod:`tests.doubles.jira_links`
  cites the sources); ``double.links`` lists the links made.

* Outgoing webhooks (:mod:`tests.doubles.jira_webhooks`): ``double.act_in_app(key, "Done", user=...)``
  is a person moving an issue in Jira (it moves, and the *Issue updated* payload is returned for the
  test to deliver); ``double.posted_back(key)`` is what the webhook would post for each transition
  made through the API (Medic's own moves, by Medic's user).

* ``GET mypermissions`` (``projectKey``, ``permissions``; required on Cloud): ``havePermission`` per key
  asked, Create Issues false in the projects of ``cannot_create``, Transition Issues in those of
  ``cannot_transition``.

Not covered: ADF beyond the nodes Medic sends, createmeta, editmeta, changelog, watchers, remote links,
sub-tasks, sprints/agile, custom fields beyond values kept as sent, permission schemes and security
levels, users beyond the configured ones, notifications, OAuth/cookie auth, websudo,
``expand``/``properties`` (ignored).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.doubles._base import HttpDouble
from tests.doubles.jira_cloud import (
    REMOVED_SEARCH_BODY,
    adf_problem,
    adf_text,
    multipart_files,
    text_adf,
)
from tests.doubles.jira_links import LINK_TYPES, JiraLink, link_type_json, unknown_link_type
from tests.doubles.jira_webhooks import status_event
from tests.doubles.jira_workflows import (
    CLASSIC,
    CLASSIC_RESOLUTIONS,
    SIMPLIFIED,
    STATUSES,
    JiraStatus,
    Transition,
    Workflow,
)

__all__ = [
    "CLASSIC",
    "CLASSIC_RESOLUTIONS",
    "DEFAULT_API_TOKEN",
    "DEFAULT_PROJECTS",
    "DEFAULT_USER",
    "SIMPLIFIED",
    "STATUSES",
    "TRANSITIONS",
    "JiraComment",
    "JiraDouble",
    "JiraIssue",
    "JiraStatus",
    "JiraTransition",
    "JqlError",
    "Workflow",
]

DEFAULT_USER = "medic-bot@example.com"
DEFAULT_API_TOKEN = "jira-api-token-for-medic"
DEFAULT_PROJECTS: Mapping[str, str] = {"OPS": "Operations", "CHK": "Checkout"}
ISSUE_TYPES = ("Incident", "Bug", "Task")
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
MAX_SUMMARY = 255
API = "/rest/api/2"
API3 = "/rest/api/3"
_NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
_SETTABLE = frozenset(
    {
        "summary",
        "description",
        "issuetype",
        "priority",
        "labels",
        "components",
        "environment",
        "duedate",
        "assignee",
    }
)


TRANSITIONS: Mapping[str, str] = {t.id: t.to for t in SIMPLIFIED.transitions}
"""The simplified workflow's transition id -> target status (and the transition's name)."""
RESOLUTIONS = ("Done", "Won't Do", "Duplicate")
"""A new Jira Cloud site's resolutions (a Data Center site with the classic workflow:
:data:`CLASSIC_RESOLUTIONS`)."""


class JqlError(ValueError):
    """A query this double cannot (or JIRA would not) answer; the message is JIRA's or says why."""


class _JiraError(Exception):
    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = {"errorMessages": list(messages), "errors": dict(errors or {})}
        self.headers = dict(headers or {})


@dataclass
class JiraComment:
    id: str
    body: str
    author: str
    created: str
    updated: str
    visibility: dict[str, Any] | None = None
    doc: dict[str, Any] | None = None
    """The ADF document, when the comment came through Jira Cloud's v3 API (``body`` is its text)."""


@dataclass
class JiraAttachment:
    id: str
    filename: str
    data: bytes
    author: str
    created: str


@dataclass
class JiraTransition:
    """One transition performed on an issue."""

    transition_id: str
    from_status: str
    to_status: str
    author: str
    at: str


@dataclass
class JiraIssue:
    id: str
    key: str
    project: str
    summary: str
    issuetype: str
    reporter: str
    created: str
    updated: str
    description: str | None = None
    priority: str = "Medium"
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    status: str = "To Do"
    resolution: str | None = None
    resolutiondate: str | None = None
    assignee: str | None = None
    environment: str | None = None
    duedate: str | None = None
    comments: list[JiraComment] = field(default_factory=list)
    transitions: list[JiraTransition] = field(default_factory=list)
    description_doc: dict[str, Any] | None = None
    """The ADF description, when set through v3 (``description`` is then its text)."""
    attachments: list[JiraAttachment] = field(default_factory=list)
    created_with: dict[str, Any] = field(default_factory=dict)
    """The ``fields`` of the create request, as sent."""
    custom: dict[str, Any] = field(default_factory=dict)
    """Custom field id -> its value, as set."""

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass(frozen=True)
class _Clause:
    field: str
    op: Literal["=", "!=", "~", "in", "not in", "is", "is not"]
    values: tuple[str, ...]


class JiraDouble(HttpDouble):
    """The JIRA REST v2 double. See the module docstring for what it covers.

    Configure: ``JiraDouble(users={"me@example.com": "token"}, projects={"OPS": "Operations"},
    components={"OPS": ["checkout"]} or None (any component name accepted), deployment_type="Server")``.
    Inspect: ``issue(key)``, ``issues(project=None)``, ``search(jql)`` (the double's own JQL subset,
    without HTTP), plus the request log and counters of :class:`HttpDouble` (routes like
    ``"POST /rest/api/2/issue/{issue_id_or_key}/transitions"``).
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        projects: Mapping[str, str] = DEFAULT_PROJECTS,
        issue_types: Iterable[str] = ISSUE_TYPES,
        priorities: Iterable[str] = PRIORITIES,
        components: Mapping[str, Iterable[str]] | None = None,
        deployment_type: Literal["Server", "Cloud"] = "Server",
        pats: Mapping[str, str] | None = None,
        cannot_create: Iterable[str] = (),
        workflows: Mapping[str, Workflow] | None = None,
        resolutions: Iterable[str] = RESOLUTIONS,
        cannot_transition: Iterable[str] = (),
        custom_fields: Mapping[str, Mapping[str, tuple[str, bool]]] | None = None,
    ) -> None:
        super().__init__(title="JIRA REST API v2 double")
        self.users = dict(users if users is not None else {DEFAULT_USER: DEFAULT_API_TOKEN})
        self.projects = {key.upper(): name for key, name in projects.items()}
        self.project_ids = {key: str(10000 + i) for i, key in enumerate(self.projects)}
        self.issue_types = {name: str(10000 + i) for i, name in enumerate(issue_types)}
        self.priorities = {name: str(i + 1) for i, name in enumerate(priorities)}
        names = list(self.priorities)
        self.default_priority = "Medium" if "Medium" in self.priorities else names[len(names) // 2]
        """What an issue filed without a priority gets (the scheme's default: Medium in Jira's own)."""
        self.fixed_components = (
            None if components is None else {k.upper(): list(v) for k, v in components.items()}
        )
        self._components: dict[str, dict[str, str]] = {key: {} for key in self.projects}
        self._component_ids = itertools.count(10000)
        for key, names in (self.fixed_components or {}).items():
            for name in names:
                self._components.setdefault(key, {})[name] = str(next(self._component_ids))
        self.deployment_type = deployment_type
        self.cannot_create = {key.upper() for key in cannot_create}
        """Projects where the users lack the Create Issues permission (``mypermissions`` says so)."""
        self.workflows = {key.upper(): w for key, w in (workflows or {}).items()}
        """Project -> its workflow (:mod:`tests.doubles.jira_workflows`); :data:`SIMPLIFIED` unless named."""
        self.resolutions = {name: str(10000 + i) for i, name in enumerate(resolutions)}
        self.custom_fields = {k.upper(): dict(v) for k, v in (custom_fields or {}).items()}
        """Project -> custom field id -> (its name, required): on the project's create and edit screens."""
        self.cannot_transition = {key.upper() for key in cannot_transition}
        """Projects where the users lack the Transition Issues permission: no transition is listed."""
        self.pats = dict(pats or {})
        """Data Center personal access tokens: token -> user (``Authorization: Bearer <token>``)."""
        self._events: list[dict[str, Any]] = []  # the webhook payloads of API transitions, in order
        self.base_url = "https://jira.example"  # what payloads name as the site (set when served)
        self._attachment_ids = itertools.count(10000)
        self._issues: dict[str, JiraIssue] = {}
        self._issue_ids = itertools.count(10001)
        self._comment_ids = itertools.count(10000)
        self._numbers: dict[str, int] = {key: 0 for key in self.projects}
        self.link_types = dict(LINK_TYPES)
        self._links: list[JiraLink] = []
        self._link_ids = itertools.count(10000)
        self.app.add_exception_handler(_JiraError, _on_jira_error)
        get, post, put = ["GET"], ["POST"], ["PUT"]
        for path, endpoint, methods in (
            ("/serverInfo", self._server_info, get),
            ("/myself", self._myself, get),
            ("/field", self._fields, get),
            ("/project", self._projects, get),
            ("/project/{project_id_or_key}", self._project, get),
            ("/project/{project_id_or_key}/components", self._project_components, get),
            ("/issuetype", self._issue_types, get),
            ("/priority", self._priorities, get),
            ("/mypermissions", self._my_permissions, get),
            ("/issue", self._create_issue, post),
            ("/issue/{issue_id_or_key}", self._get_issue, get),
            ("/issue/{issue_id_or_key}", self._edit_issue, put),
            ("/issue/{issue_id_or_key}/comment", self._get_comments, get),
            ("/issue/{issue_id_or_key}/comment", self._add_comment, post),
            ("/issue/{issue_id_or_key}/transitions", self._get_transitions, get),
            ("/issue/{issue_id_or_key}/transitions", self._do_transition, post),
            ("/search", self._search_get, get),
            ("/search", self._search_post, post),
            ("/search/jql", self._search_jql_get, get),
            ("/search/jql", self._search_jql_post, post),
            ("/issue/{issue_id_or_key}/attachments", self._add_attachment, post),
            ("/issueLinkType", self._link_types, get),
            ("/issueLink", self._create_link, post),
        ):
            self.app.add_api_route(API + path, endpoint, methods=methods)
            self.app.add_api_route(API3 + path, endpoint, methods=methods)

    # -- inspection ------------------------------------------------------------------------------------

    def issue(self, key: str) -> JiraIssue:
        with self._lock:
            snapshot: JiraIssue = self._snapshot(self._find_issue(key))
            return snapshot

    def issues(self, project: str | None = None) -> list[JiraIssue]:
        with self._lock:
            found = [i for i in self._issues.values() if project is None or i.project == project.upper()]
            snapshot: list[JiraIssue] = self._snapshot(found)
            return snapshot

    @property
    def links(self) -> list[JiraLink]:
        with self._lock:
            return list(self._links)

    def act_in_app(self, key: str, status: str, *, user: str, at_ms: int | None = None) -> dict[str, Any]:
        """``user`` moves issue ``key`` to ``status`` in Jira's UI: it moves there (resolution as its
        workflow would set it), and the webhook's *Issue updated* payload is returned. ``at_ms``: the
        event's ``timestamp`` (now, unless given)."""
        with self._lock:
            issue = self._find_issue(key)
            was = issue.status
            now = _now()
            issue.transitions.append(JiraTransition("app", was, status, user, now))
            issue.status = status
            if STATUSES[status].category_key == "done":
                issue.resolution = issue.resolution or next(iter(self.resolutions))
            else:
                issue.resolution = None
            return self._status_event(issue, user, was, status, at_ms)

    def posted_back(self, key: str) -> list[dict[str, Any]]:
        """What the webhook would post for each transition of ``key`` made through the API."""
        with self._lock:
            wanted = self._find_issue(key).key
            return [e for e in self._events if e["issue"]["key"] == wanted]

    def _status_event(
        self, issue: JiraIssue, user: str, was: str, now: str, at_ms: int | None
    ) -> dict[str, Any]:
        return status_event(
            base=self.base_url,
            cloud=self.cloud,
            issue_id=issue.id,
            key=issue.key,
            labels=issue.labels,
            user=user,
            was=was,
            now=now,
            timestamp_ms=int(time.time() * 1000) if at_ms is None else at_ms,
        )

    def search(self, jql: str) -> list[JiraIssue]:
        """The issues ``jql`` selects, in order (raises :class:`JqlError` like the HTTP search's 400)."""
        with self._lock:
            snapshot: list[JiraIssue] = self._snapshot(self._run_jql(jql))
            return snapshot

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        if status >= 500:
            return {"errorMessages": ["Internal server error"], "errors": {}}
        return {"errorMessages": ["The request was invalid."], "errors": {}}

    # -- auth ------------------------------------------------------------------------------------------

    @property
    def cloud(self) -> bool:
        return self.deployment_type == "Cloud"

    def _v3(self, request: Request) -> bool:
        return request.url.path.startswith(API3 + "/")

    def _user(self, request: Request, *, anonymous: bool = False) -> str | None:
        if self._v3(request) and not self.cloud:
            # Data Center has REST v2 only; Jersey's answer for a path it does not know.
            raise _JiraError(404, [f"null for uri: {request.url}"])
        header = request.headers.get("authorization")
        if header is not None and header.partition(" ")[0].lower() == "bearer":
            user = None if self.cloud else self.pats.get(header.partition(" ")[2].strip())
            if user is None:  # Jira Cloud takes bearer tokens from OAuth 2.0 apps only, not PATs
                raise _JiraError(
                    401,
                    ["Client must be authenticated to access this resource."],
                    headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
                )
            return user
        if header is None:
            if anonymous:
                return None
            raise _JiraError(
                401,
                ["You are not authenticated. Authentication required to perform this operation."],
                headers={"WWW-Authenticate": 'Basic realm="protected-area"'},
            )
        scheme, _, encoded = header.partition(" ")
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username, password = "", ""
        if scheme.lower() != "basic" or self.users.get(username) != password or not username:
            raise _JiraError(
                401,
                ["Client must be authenticated to access this resource."],
                headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
            )
        return username

    # -- JSON renderings ---------------------------------------------------------------------------------

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _user_json(self, base: str, username: str | None) -> dict[str, Any] | None:
        if username is None:
            return None
        display = username.split("@", 1)[0].replace(".", " ").replace("-", " ").title()
        return {
            "self": f"{base}{API}/user?username={username}",
            "name": username,
            "key": username,
            "emailAddress": username if "@" in username else f"{username}@example.com",
            "avatarUrls": {"48x48": f"{base}/secure/useravatar?size=large"},
            "displayName": display,
            "active": True,
            "timeZone": "Etc/UTC",
        }

    def _project_json(self, base: str, key: str) -> dict[str, Any]:
        pid = self.project_ids[key]
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{base}{API}/project/{pid}",
            "id": pid,
            "key": key,
            "name": self.projects[key],
            "description": "",
            "lead": self._user_json(base, next(iter(self.users), None)),
            "components": [self._component_json(base, key, name) for name in self._components[key]],
            "issueTypes": [self._issue_type_json(base, name) for name in self.issue_types],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "roles": {},
            "avatarUrls": {"48x48": f"{base}/secure/projectavatar?pid={pid}"},
            "projectTypeKey": "software",
            "archived": False,
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
        }

    def _project_ref(self, base: str, key: str) -> dict[str, Any]:
        pid = self.project_ids[key]
        return {"self": f"{base}{API}/project/{pid}", "id": pid, "key": key, "name": self.projects[key]}

    def _issue_type_json(self, base: str, name: str) -> dict[str, Any]:
        tid = self.issue_types[name]
        return {
            "self": f"{base}{API}/issuetype/{tid}",
            "id": tid,
            "description": f"{name} issue type",
            "iconUrl": f"{base}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def _priority_json(self, base: str, name: str) -> dict[str, Any]:
        pid = self.priorities[name]
        return {
            "self": f"{base}{API}/priority/{pid}",
            "iconUrl": f"{base}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def _component_json(self, base: str, project: str, name: str) -> dict[str, Any]:
        cid = self._components[project][name]
        return {"self": f"{base}{API}/component/{cid}", "id": cid, "name": name}

    @staticmethod
    def _status_json(base: str, name: str) -> dict[str, Any]:
        status = STATUSES[name]
        return {
            "self": f"{base}{API}/status/{status.id}",
            "description": "",
            "iconUrl": f"{base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {
                "self": f"{base}{API}/statuscategory/{status.category_id}",
                "id": status.category_id,
                "key": status.category_key,
                "colorName": status.color,
                "name": status.category_name,
            },
        }

    def _comment_json(
        self, base: str, issue: JiraIssue, comment: JiraComment, *, adf: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{base}{API3 if adf else API}/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": self._user_json(base, comment.author),
            "body": (comment.doc or text_adf(comment.body)) if adf else comment.body,
            "updateAuthor": self._user_json(base, comment.author),
            "created": comment.created,
            "updated": comment.updated,
        }
        if comment.visibility is not None:
            body["visibility"] = comment.visibility
        return body

    def _attachment_json(self, base: str, attachment: JiraAttachment) -> dict[str, Any]:
        return {
            "self": f"{base}{API}/attachment/{attachment.id}",
            "id": attachment.id,
            "filename": attachment.filename,
            "author": self._user_json(base, attachment.author),
            "created": attachment.created,
            "size": len(attachment.data),
            "mimeType": "text/markdown"
            if attachment.filename.endswith(".md")
            else "application/octet-stream",
            "content": f"{base}/secure/attachment/{attachment.id}/{attachment.filename}",
        }

    def _issue_json(
        self, base: str, issue: JiraIssue, wanted: set[str] | None = None, *, adf: bool = False
    ) -> dict[str, Any]:
        comments = [self._comment_json(base, issue, c, adf=adf) for c in issue.comments]
        description: Any = issue.description
        if adf and description is not None:
            description = issue.description_doc or text_adf(description)
        resolution = None
        if issue.resolution is not None:
            rid = self.resolutions[issue.resolution]
            resolution = {
                "self": f"{base}{API}/resolution/{rid}",
                "id": rid,
                "description": "",
                "name": issue.resolution,
            }
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": description,
            "attachment": [self._attachment_json(base, a) for a in issue.attachments],
            "issuetype": self._issue_type_json(base, issue.issuetype),
            "project": self._project_ref(base, issue.project),
            "priority": self._priority_json(base, issue.priority),
            "labels": list(issue.labels),
            "components": [self._component_json(base, issue.project, c) for c in issue.components],
            "status": self._status_json(base, issue.status),
            "resolution": resolution,
            "resolutiondate": issue.resolutiondate,
            "created": issue.created,
            "updated": issue.updated,
            "reporter": self._user_json(base, issue.reporter),
            "creator": self._user_json(base, issue.reporter),
            "assignee": self._user_json(base, issue.assignee),
            "environment": issue.environment,
            "duedate": issue.duedate,
            "fixVersions": [],
            "versions": [],
            "issuelinks": self._issue_links_json(base, issue),
            **issue.custom,
            "subtasks": [],
            "comment": {
                "comments": comments,
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            },
        }
        if wanted is not None:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "self": f"{base}{API}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }

    # -- lookups ---------------------------------------------------------------------------------------

    def _find_issue(self, id_or_key: str) -> JiraIssue:
        wanted = id_or_key.upper()
        for issue in self._issues.values():
            if wanted in (issue.id, issue.key):
                return issue
        raise _JiraError(404, ["Issue does not exist or you do not have permission to see it."])

    def _project_key(self, id_or_key: str) -> str | None:
        wanted = str(id_or_key).upper()
        if wanted in self.projects:
            return wanted
        return next((k for k, pid in self.project_ids.items() if pid == wanted), None)

    # -- endpoints: metadata ---------------------------------------------------------------------------

    async def _server_info(self, request: Request) -> JSONResponse:
        self._user(request, anonymous=True)
        cloud = self.deployment_type == "Cloud"
        numbers = [1001, 0, 0] if cloud else [9, 12, 15]
        return JSONResponse(
            {
                "baseUrl": self._base(request),
                "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
                "versionNumbers": numbers,
                "deploymentType": self.deployment_type,
                "buildNumber": 100_000 if cloud else 9_120_015,
                "buildDate": "2024-10-01T00:00:00.000+0000",
                "serverTime": _now(),
                "scmInfo": "0000000000000000000000000000000000000000",
                "serverTitle": "Medic JIRA double",
            }
        )

    async def _my_permissions(self, request: Request) -> JSONResponse:
        """``GET mypermissions?projectKey=K&permissions=CREATE_ISSUES`` (Jira's REST reference, "Get my
        permissions"; ``permissions`` required on Cloud): each key asked, with ``havePermission``;
        Create Issues is false in ``cannot_create``'s projects, Transition Issues in
        ``cannot_transition``'s, every other permission true."""
        self._user(request)
        asked = [k for k in request.query_params.get("permissions", "").split(",") if k]
        if not asked and self.cloud:
            raise _JiraError(400, ["The 'permissions' query parameter is required."])
        project = (request.query_params.get("projectKey") or "").upper()
        with self._lock:
            if project and project not in self.projects:
                raise _JiraError(404, [f"No project could be found with key '{project}'."])
        names = {
            "CREATE_ISSUES": ("11", "Create Issues", "Ability to create issues."),
            "TRANSITION_ISSUES": ("46", "Transition Issues", "Ability to transition issues."),
        }
        lacking = {"CREATE_ISSUES": self.cannot_create, "TRANSITION_ISSUES": self.cannot_transition}
        out = {}
        for key in asked or list(names):
            pid, name, description = names.get(key, ("0", key.replace("_", " ").title(), ""))
            have = project not in lacking.get(key, set())
            out[key] = {
                "id": pid,
                "key": key,
                "name": name,
                "type": "PROJECT",
                "description": description,
                "havePermission": have,
            }
        return JSONResponse({"permissions": out})

    async def _myself(self, request: Request) -> JSONResponse:
        user = self._user(request)
        return JSONResponse({**(self._user_json(self._base(request), user) or {}), "locale": "en_US"})

    async def _fields(self, request: Request) -> JSONResponse:
        self._user(request)
        system = {
            "summary": ("Summary", "string"),
            "description": ("Description", "string"),
            "issuetype": ("Issue Type", "issuetype"),
            "project": ("Project", "project"),
            "priority": ("Priority", "priority"),
            "labels": ("Labels", "array"),
            "components": ("Component/s", "array"),
            "status": ("Status", "status"),
            "resolution": ("Resolution", "resolution"),
            "created": ("Created", "datetime"),
            "updated": ("Updated", "datetime"),
            "reporter": ("Reporter", "user"),
            "assignee": ("Assignee", "user"),
            "environment": ("Environment", "string"),
            "duedate": ("Due date", "date"),
            "comment": ("Comment", "comments-page"),
        }
        clause_names = {"issuetype": ["issuetype", "type"], "components": ["component"]}
        return JSONResponse(
            [
                {
                    "id": fid,
                    "key": fid,
                    "name": name,
                    "custom": False,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": clause_names.get(fid, [fid]),
                    "schema": {"type": kind, "system": fid},
                }
                for fid, (name, kind) in system.items()
            ]
        )

    async def _projects(self, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        with self._lock:
            return JSONResponse([self._project_json(base, key) for key in self.projects])

    async def _project(self, project_id_or_key: str, request: Request) -> JSONResponse:
        self._user(request)
        with self._lock:
            key = self._project_key(project_id_or_key)
            if key is None:
                raise _JiraError(404, [f"No project could be found with key '{project_id_or_key}'."])
            return JSONResponse(self._project_json(self._base(request), key))

    async def _project_components(self, project_id_or_key: str, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        with self._lock:
            key = self._project_key(project_id_or_key)
            if key is None:
                raise _JiraError(404, [f"No project could be found with key '{project_id_or_key}'."])
            return JSONResponse(
                [
                    {
                        **self._component_json(base, key, name),
                        "isAssigneeTypeValid": False,
                        "assigneeType": "PROJECT_DEFAULT",
                        "realAssigneeType": "PROJECT_DEFAULT",
                        "project": key,
                        "projectId": int(self.project_ids[key]),
                    }
                    for name in self._components[key]
                ]
            )

    async def _issue_types(self, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        return JSONResponse([self._issue_type_json(base, name) for name in self.issue_types])

    async def _priorities(self, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        return JSONResponse([self._priority_json(base, name) for name in self.priorities])

    # -- endpoints: issues -----------------------------------------------------------------------------

    async def _create_issue(self, request: Request) -> JSONResponse:
        user = self._user(request)
        assert user is not None
        body = await _json_object(request)
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise _JiraError(400, ["Issue must have fields"])
        with self._lock:
            errors: dict[str, str] = {}
            project = self._create_project(fields.get("project"), errors)
            issuetype = self._named(fields.get("issuetype"), self.issue_types, "issuetype", errors)
            if "issuetype" not in fields:
                errors["issuetype"] = "issue type is required"
            if not fields.get("summary"):
                errors["summary"] = "You must specify a summary of the issue."
            values = self._field_values(fields, project, errors, creating=True, adf=self._v3(request))
            for fid, (fname, required) in self.custom_fields.get(project or "", {}).items():
                if required and fields.get(fid) in (None, "", [], {}):
                    errors[fid] = f"{fname} is required."
            if errors:
                raise _JiraError(400, [], errors)
            assert project is not None and issuetype is not None
            self._numbers[project] += 1
            now = _now()
            issue = JiraIssue(
                id=str(next(self._issue_ids)),
                key=f"{project}-{self._numbers[project]}",
                project=project,
                summary=str(values.pop("summary")),
                issuetype=issuetype,
                reporter=user,
                created=now,
                updated=now,
                status=self.workflow(project).initial,
                priority=self.default_priority,
                created_with=json.loads(json.dumps(fields)),
            )
            _assign(issue, values)
            self._issues[issue.id] = issue
            base = self._base(request)
            return JSONResponse(
                {"id": issue.id, "key": issue.key, "self": f"{base}{API}/issue/{issue.id}"}, status_code=201
            )

    def _create_project(self, value: Any, errors: dict[str, str]) -> str | None:
        if value is None:
            errors["project"] = "project is required"
            return None
        ref = value.get("key") or value.get("id") if isinstance(value, dict) else value
        key = self._project_key(str(ref)) if ref else None
        if key is None:
            errors["project"] = "valid project is required"
        return key

    def _named(self, value: Any, known: Mapping[str, str], name: str, errors: dict[str, str]) -> str | None:
        """A ``{"name": ...}`` or ``{"id": ...}`` reference to a known name."""
        if value is None:
            return None
        if isinstance(value, dict):
            if "name" in value and value["name"] in known:
                return str(value["name"])
            if "id" in value:
                found = next((n for n, i in known.items() if i == str(value["id"])), None)
                if found is not None:
                    return found
        given = value.get("name", value.get("id")) if isinstance(value, dict) else value
        messages = {
            "issuetype": "valid issue type is required",
            "priority": f"Priority name '{given}' is not valid",
        }
        errors[name] = messages.get(name, f"Field '{name}' is invalid")
        return None

    def _field_values(
        self,
        fields: Mapping[str, Any],
        project: str | None,
        errors: dict[str, str],
        *,
        creating: bool,
        adf: bool = False,
    ) -> dict[str, Any]:
        """Validated values for the settable fields present in ``fields`` (``adf``: through v3, where
        ``description`` and ``environment`` are ADF documents)."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "project" and creating:
                continue
            if name in self.custom_fields.get(project or "", {}):
                values.setdefault("custom", {})[name] = json.loads(json.dumps(value))
            elif name not in _SETTABLE or (name == "issuetype" and not creating):
                errors[name] = _NOT_ON_SCREEN.format(name)
            elif adf and name in ("description", "environment") and value is not None:
                problem = adf_problem(value)
                if problem:
                    errors[name] = problem
                else:
                    values[name] = adf_text(value)
                    if name == "description":
                        values["description_doc"] = json.loads(json.dumps(value))
            elif name in ("summary", "description", "environment", "duedate"):
                if value is not None and not isinstance(value, str):
                    errors[name] = "Operation value must be a string"
                elif name == "summary" and isinstance(value, str) and len(value) >= MAX_SUMMARY:
                    errors[name] = "Summary must be less than 255 characters."
                elif name == "summary" and not value:
                    errors[name] = "You must specify a summary of the issue."
                else:
                    values[name] = value
            elif name == "priority":
                priority = self._named(value, self.priorities, "priority", errors)
                if priority is not None:
                    values[name] = priority
            elif name == "labels":
                labels = _labels(value, errors)
                if labels is not None:
                    values[name] = labels
            elif name == "components":
                components = self._component_names(value, project, errors)
                if components is not None:
                    values[name] = components
            elif name == "assignee":
                user = (value.get("name") or value.get("accountId")) if isinstance(value, dict) else None
                if value is not None and user not in self.users:
                    errors[name] = f"User '{user}' does not exist."
                else:
                    values[name] = user
        return values

    def _component_names(self, value: Any, project: str | None, errors: dict[str, str]) -> list[str] | None:
        if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
            errors["components"] = "data was not an array"
            return None
        if project is None:
            return None
        known = self._components.setdefault(project, {})
        names: list[str] = []
        for ref in value:
            name = ref.get("name")
            if name is None and "id" in ref:
                name = next((n for n, i in known.items() if i == str(ref["id"])), None)
            if not name:
                errors["components"] = f"Component id '{ref.get('id')}' is not valid"
                return None
            if name not in known:
                if self.fixed_components is not None:
                    errors["components"] = f"Component name '{name}' is not valid"
                    return None
                known[name] = str(next(self._component_ids))
            names.append(str(name))
        return names

    async def _get_issue(self, issue_id_or_key: str, request: Request) -> JSONResponse:
        self._user(request)
        wanted = _wanted_fields(request.query_params.getlist("fields"))
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            return JSONResponse(self._issue_json(self._base(request), issue, wanted, adf=self._v3(request)))

    async def _edit_issue(self, issue_id_or_key: str, request: Request) -> Response:
        user = self._user(request)
        assert user is not None
        body = await _json_object(request)
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            errors: dict[str, str] = {}
            fields = body.get("fields") or {}
            update = body.get("update") or {}
            if not isinstance(fields, dict) or not isinstance(update, dict):
                raise _JiraError(400, ["Can not deserialize the request body"])
            values = self._field_values(fields, issue.project, errors, creating=False, adf=self._v3(request))
            labels = list(values.get("labels", issue.labels))
            comments: list[tuple[str, dict[str, Any] | None]] = []
            for name, operations in update.items():
                if name in fields:
                    errors[name] = f"Field '{name}' cannot be set in both 'fields' and 'update'."
                elif name == "labels" and isinstance(operations, list):
                    labels = _label_operations(labels, operations, errors)
                elif name == "comment" and isinstance(operations, list):
                    comments.extend(_comment_adds(operations, errors, adf=self._v3(request)))
                else:
                    errors[name] = _NOT_ON_SCREEN.format(name)
            if errors:
                raise _JiraError(400, [], errors)
            values["labels"] = labels
            _assign(issue, values)
            for text, doc in comments:
                self._append_comment(issue, user, text, None, doc)
            issue.updated = _now()
        return Response(status_code=204)

    # -- endpoints: comments ---------------------------------------------------------------------------

    async def _get_comments(self, issue_id_or_key: str, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            comments = [self._comment_json(base, issue, c, adf=self._v3(request)) for c in issue.comments]
        return JSONResponse(
            {"startAt": 0, "maxResults": len(comments), "total": len(comments), "comments": comments}
        )

    async def _add_comment(self, issue_id_or_key: str, request: Request) -> JSONResponse:
        user = self._user(request)
        assert user is not None
        body = await _json_object(request)
        adf = self._v3(request)
        errors: dict[str, str] = {}
        added = _comment_adds([{"add": {"body": body.get("body")}}], errors, adf=adf)
        if errors or not added:
            raise _JiraError(400, [], errors)
        ((text, doc),) = added
        visibility = body.get("visibility")
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            comment = self._append_comment(
                issue, user, text, visibility if isinstance(visibility, dict) else None, doc
            )
            return JSONResponse(
                self._comment_json(self._base(request), issue, comment, adf=adf), status_code=201
            )

    def _append_comment(
        self,
        issue: JiraIssue,
        user: str,
        text: str,
        visibility: dict[str, Any] | None,
        doc: dict[str, Any] | None = None,
    ) -> JiraComment:
        now = _now()
        comment = JiraComment(str(next(self._comment_ids)), text, user, now, now, visibility, doc)
        issue.comments.append(comment)
        issue.updated = now
        return comment

    # -- endpoints: links ------------------------------------------------------------------------------

    def _issue_links_json(self, base: str, issue: JiraIssue) -> list[dict[str, Any]]:
        found = []
        for link in self._links:
            if issue.key not in (link.inward, link.outward):
                continue
            side, other = (
                ("inwardIssue", link.inward) if link.outward == issue.key else ("outwardIssue", link.outward)
            )
            ref = self._find_issue(other)
            found.append(
                {
                    "id": link.id,
                    "self": f"{base}{API}/issueLink/{link.id}",
                    "type": link_type_json(base, API, link.type, self.link_types),
                    side: {"id": ref.id, "key": ref.key, "self": f"{base}{API}/issue/{ref.id}"},
                }
            )
        return found

    async def _link_types(self, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        types = [link_type_json(base, API, name, self.link_types) for name in self.link_types]
        return JSONResponse({"issueLinkTypes": types})

    async def _create_link(self, request: Request) -> Response:
        self._user(request)
        body = await _json_object(request)
        kind, inward, outward = (
            (body.get(name) or {}).get(attr) if isinstance(body.get(name), dict) else None
            for name, attr in (("type", "name"), ("inwardIssue", "key"), ("outwardIssue", "key"))
        )
        if not isinstance(kind, str) or not isinstance(inward, str) or not isinstance(outward, str):
            raise _JiraError(400, ["Issue link type and both issues are required."])
        with self._lock:
            if kind not in self.link_types:
                raise _JiraError(404, [unknown_link_type(kind)])
            inward_key, outward_key = self._find_issue(inward).key, self._find_issue(outward).key
            link = JiraLink(str(next(self._link_ids)), kind, inward_key, outward_key)
            if not any((x.type, x.inward, x.outward) == (kind, inward_key, outward_key) for x in self._links):
                self._links.append(link)
        return Response(status_code=201)

    # -- endpoints: attachments ------------------------------------------------------------------------

    async def _add_attachment(self, issue_id_or_key: str, request: Request) -> JSONResponse:
        user = self._user(request)
        assert user is not None
        if request.headers.get("x-atlassian-token", "").lower() != "no-check":
            raise _JiraError(403, ["XSRF check failed"])
        files = multipart_files(await request.body(), request.headers.get("content-type", ""))
        if not files:
            raise _JiraError(400, ["No file found in the request (a multipart part named 'file')."])
        base = self._base(request)
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            added = [
                JiraAttachment(str(next(self._attachment_ids)), name, data, user, _now())
                for name, data in files
            ]
            issue.attachments.extend(added)
            return JSONResponse([self._attachment_json(base, a) for a in added])

    # -- endpoints: transitions ------------------------------------------------------------------------

    def workflow(self, project: str) -> Workflow:
        return self.workflows.get(project.upper(), SIMPLIFIED)

    def _available(self, issue: JiraIssue) -> list[Transition]:
        if issue.project in self.cannot_transition:
            return []  # Atlassian's reference: without Transition Issues, no transition is listed
        return self.workflow(issue.project).available(issue.status)

    def _screen_json(self, base: str, transition: Transition) -> dict[str, Any]:
        """A transition's screen fields, as ``expand=transitions.fields`` lists them (never Comment)."""
        fields: dict[str, Any] = {}
        for name in transition.screen:
            if name == "resolution":
                fields[name] = {
                    "required": name in transition.required,
                    "schema": {"type": "resolution", "system": "resolution"},
                    "name": "Resolution",
                    "key": "resolution",
                    "hasDefaultValue": False,
                    "operations": ["set"],
                    "allowedValues": [
                        {"self": f"{base}{API}/resolution/{rid}", "id": rid, "name": rname, "description": ""}
                        for rname, rid in self.resolutions.items()
                    ],
                }
            elif name == "assignee":
                fields[name] = {
                    "required": name in transition.required,
                    "schema": {"type": "user", "system": "assignee"},
                    "name": "Assignee",
                    "key": "assignee",
                    "autoCompleteUrl": f"{base}{API}/user/assignable/search?username=",
                    "hasDefaultValue": False,
                    "operations": ["set"],
                }
            elif name == "fixVersions":
                fields[name] = {
                    "required": name in transition.required,
                    "schema": {"type": "array", "items": "version", "system": "fixVersions"},
                    "name": "Fix Version/s",
                    "key": "fixVersions",
                    "hasDefaultValue": False,
                    "operations": ["set", "add", "remove"],
                    "allowedValues": [],
                }
        return fields

    async def _get_transitions(self, issue_id_or_key: str, request: Request) -> JSONResponse:
        self._user(request)
        base = self._base(request)
        only = request.query_params.get("transitionId")
        expand = "transitions.fields" in request.query_params.get("expand", "")
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            transitions = []
            for t in self._available(issue):
                if only is not None and only != t.id:
                    continue
                item: dict[str, Any] = {
                    "id": t.id,
                    "name": t.name,
                    "to": self._status_json(base, t.to),
                    "hasScreen": bool(t.screen),
                    "isGlobal": t.sources is None,
                    "isInitial": False,
                    "isAvailable": True,
                    "isConditional": False,
                    "isLooped": False,
                }
                if expand:
                    item["fields"] = self._screen_json(base, t)
                transitions.append(item)
        return JSONResponse({"expand": "transitions", "transitions": transitions})

    async def _do_transition(self, issue_id_or_key: str, request: Request) -> Response:
        user = self._user(request)
        assert user is not None
        body = await _json_object(request)
        transition = body.get("transition")
        tid = transition.get("id") if isinstance(transition, dict) else None
        if tid is None:
            raise _JiraError(400, ["Missing 'transition' identifier"])
        tid = str(tid)
        with self._lock:
            issue = self._find_issue(issue_id_or_key)
            chosen = next((t for t in self._available(issue) if t.id == tid), None)
            if chosen is None:
                raise _JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])
            target = chosen.to
            errors: dict[str, str] = {}
            fields = body.get("fields") or {}
            resolution: str | None = None
            for name, value in fields.items() if isinstance(fields, dict) else ():
                if name not in chosen.screen:
                    errors[name] = _NOT_ON_SCREEN.format(name)
                elif name == "resolution":
                    ref = value if isinstance(value, dict) else {}
                    resolution = next(
                        (
                            n
                            for n, i in self.resolutions.items()
                            if ref.get("name") == n or ref.get("id") == i
                        ),
                        None,
                    )
                    if resolution is None:
                        errors[name] = f"Could not find valid 'id' or 'name' in resolution object: {value}"
                elif name == "assignee":
                    who = (value.get("name") or value.get("accountId")) if isinstance(value, dict) else None
                    if value is not None and who not in self.users:
                        errors[name] = f"User '{who}' does not exist."
            update = body.get("update") or {}
            comments = (
                _comment_adds(update.get("comment", []), errors, adf=self._v3(request))
                if isinstance(update, dict) and "comment" in update
                else []
            )
            if errors:
                raise _JiraError(400, [], errors)
            if "resolution" in chosen.required and resolution is None:
                raise _JiraError(400, ["Field Resolution is required."])
            if "comment" not in chosen.screen:
                comments = []  # no Comment on its screen: Jira drops it and answers 204 all the same
            now = _now()
            self._events.append(self._status_event(issue, user, issue.status, target, None))
            issue.transitions.append(JiraTransition(tid, issue.status, target, user, now))
            issue.status = target
            if STATUSES[target].category_key != "done":
                issue.resolution, issue.resolutiondate = None, None
            elif resolution is not None:
                issue.resolution, issue.resolutiondate = resolution, now
            elif not chosen.screen:  # the simplified workflow sets it by itself
                issue.resolution = "Done" if "Done" in self.resolutions else next(iter(self.resolutions))
                issue.resolutiondate = now
            for text, doc in comments:
                self._append_comment(issue, user, text, None, doc)
            issue.updated = now
        return Response(status_code=204)

    # -- endpoints: search -----------------------------------------------------------------------------

    def _search_removed(self, request: Request) -> None:
        self._user(request)
        if self.cloud:
            raise _JiraError(410, REMOVED_SEARCH_BODY["errorMessages"])

    def _search_jql_present(self, request: Request) -> None:
        self._user(request)
        if not self.cloud:  # Data Center has only /search
            raise _JiraError(404, [f"null for uri: {request.url}"])

    async def _search_get(self, request: Request) -> JSONResponse:
        self._search_removed(request)
        q = request.query_params
        return self._search_page(
            request, q.get("jql", ""), q.get("startAt", "0"), q.get("maxResults", "50"), q.getlist("fields")
        )

    async def _search_post(self, request: Request) -> JSONResponse:
        self._search_removed(request)
        body = await _json_object(request)
        return self._search_page(
            request,
            str(body.get("jql") or ""),
            body.get("startAt", 0),
            body.get("maxResults", 50),
            _as_list(body.get("fields")),
        )

    async def _search_jql_get(self, request: Request) -> JSONResponse:
        self._search_jql_present(request)
        q = request.query_params
        return self._search_token_page(
            request, q.get("jql", ""), q.get("nextPageToken"), q.get("maxResults", "50"), q.getlist("fields")
        )

    async def _search_jql_post(self, request: Request) -> JSONResponse:
        self._search_jql_present(request)
        body = await _json_object(request)
        return self._search_token_page(
            request,
            str(body.get("jql") or ""),
            body.get("nextPageToken"),
            body.get("maxResults", 50),
            _as_list(body.get("fields")),
        )

    def _select(self, jql: str) -> list[JiraIssue]:
        try:
            return self._run_jql(jql)
        except JqlError as err:
            raise _JiraError(400, [str(err)]) from err

    def _search_page(
        self, request: Request, jql: str, start_at: Any, max_results: Any, fields: list[str]
    ) -> JSONResponse:
        start, size = _int(start_at, "startAt"), _int(max_results, "maxResults")
        base = self._base(request)
        wanted = _wanted_fields(fields)
        with self._lock:
            found = self._select(jql)
            page = [
                self._issue_json(base, i, wanted, adf=self._v3(request)) for i in found[start : start + size]
            ]
        return JSONResponse(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(found),
                "issues": page,
            }
        )

    def _search_token_page(
        self, request: Request, jql: str, token: Any, max_results: Any, fields: list[str]
    ) -> JSONResponse:
        start, size = _int(token or 0, "nextPageToken"), _int(max_results, "maxResults")
        base = self._base(request)
        wanted = _wanted_fields(fields)
        with self._lock:
            found = self._select(jql)
            page = [
                self._issue_json(base, i, wanted, adf=self._v3(request)) for i in found[start : start + size]
            ]
        body: dict[str, Any] = {"issues": page, "isLast": start + size >= len(found)}
        if not body["isLast"]:
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    # -- JQL -------------------------------------------------------------------------------------------

    def _run_jql(self, jql: str) -> list[JiraIssue]:
        clauses, order = _parse_jql(jql)
        for clause in clauses:
            if clause.field == "project":
                for value in clause.values:
                    if self._project_key(value) is None:
                        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
        found = [i for i in self._issues.values() if all(_matches(self, i, c) for c in clauses)]
        for name, descending in reversed(order or [("created", True)]):
            found.sort(key=functools.partial(_sort_key, self, name=name), reverse=descending)
        return found

    def _field_of(self, issue: JiraIssue, name: str) -> list[str]:
        """The values of a JQL field on an issue, each in every spelling JQL accepts (case-folded)."""
        if name == "project":
            return [issue.project, self.project_ids[issue.project], self.projects[issue.project]]
        if name in ("key", "issuekey", "id"):
            return [issue.key, issue.id]
        if name == "labels":
            return list(issue.labels)
        if name == "status":
            return [issue.status, STATUSES[issue.status].id]
        if name == "statuscategory":
            status = STATUSES[issue.status]
            return [status.category_name, status.category_key, str(status.category_id)]
        if name in ("issuetype", "type"):
            return [issue.issuetype, self.issue_types[issue.issuetype]]
        if name == "priority":
            return [issue.priority, self.priorities[issue.priority]]
        if name == "resolution":
            return [] if issue.resolution is None else [issue.resolution, self.resolutions[issue.resolution]]
        if name in ("component", "components"):
            return list(issue.components)
        if name == "summary":
            return [issue.summary]
        if name == "description":
            return [] if issue.description is None else [issue.description]
        if name == "text":
            return [issue.summary, issue.description or "", *(c.body for c in issue.comments)]
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")


# -- helpers ---------------------------------------------------------------------------------------------


async def _on_jira_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _JiraError)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _JiraError(400, ["Unexpected character in the request body: not JSON"]) from err
    if not isinstance(body, dict):
        raise _JiraError(400, ["Can not deserialize the request body"])
    return body


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise _JiraError(400, [f"'{name}' must be a number"]) from err
    if number < 0:
        raise _JiraError(400, [f"'{name}' must not be negative"])
    return number


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def _wanted_fields(values: list[str]) -> set[str] | None:
    """The fields a ``fields`` parameter asks for, ``None`` for all (``*all``, ``*navigable`` or none)."""
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    if not names or names & {"*all", "*navigable"}:
        return None
    return {n for n in names if not n.startswith("-")}


def _labels(value: Any, errors: dict[str, str]) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors["labels"] = "data was not an array"
        return None
    for label in value:
        if not label or any(c.isspace() for c in label):
            errors["labels"] = f"The label '{label}' contains spaces which is invalid."
            return None
        if len(label) > 255:
            errors["labels"] = "The label must not exceed 255 characters."
            return None
    return list(dict.fromkeys(value))


def _label_operations(labels: list[str], operations: list[Any], errors: dict[str, str]) -> list[str]:
    result = list(labels)
    for op in operations:
        if not isinstance(op, dict) or len(op) != 1:
            errors["labels"] = "Each operation must be an object with one of: add, remove, set"
            return labels
        ((verb, value),) = op.items()
        if verb == "set":
            checked = _labels(value, errors)
            result = checked if checked is not None else result
        elif verb in ("add", "remove"):
            if _labels([value], errors) is None:
                return labels
            if verb == "add" and value not in result:
                result.append(value)
            if verb == "remove" and value in result:
                result.remove(value)
        else:
            errors["labels"] = f"Operation '{verb}' is not supported for labels"
    return result


def _comment_adds(
    operations: Any, errors: dict[str, str], *, adf: bool = False
) -> list[tuple[str, dict[str, Any] | None]]:
    """The comments to add, as (text, ADF document or ``None``); v3 (``adf``) takes documents only."""
    texts: list[tuple[str, dict[str, Any] | None]] = []
    for op in operations if isinstance(operations, list) else [operations]:
        body = (
            op.get("add", {}).get("body")
            if isinstance(op, dict) and isinstance(op.get("add"), dict)
            else None
        )
        if adf:
            problem = adf_problem(body)
            if problem or not isinstance(body, dict) or not adf_text(body).strip():
                errors["comment"] = problem or "Comment body can not be empty!"
                return []
            texts.append((adf_text(body), json.loads(json.dumps(body))))
            continue
        if isinstance(body, dict):
            errors["comment"] = "Operation value must be a string"
            return []
        if not isinstance(body, str) or not body.strip():
            errors["comment"] = "Comment body can not be empty!"
            return []
        texts.append((body, None))
    return texts


def _assign(issue: JiraIssue, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if name == "custom":
            issue.custom.update(value)
        else:
            setattr(issue, name, value)


_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|>=|<=|=|~|>|<)|(?P<punct>[(),])"""
    r"""|(?P<word>[^\s(),=!~<>"']+))"""
)


def _tokens(jql: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(jql):
        if not jql[pos:].strip():
            break
        match = _TOKEN.match(jql, pos)
        if match is None or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}: {jql[pos:]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append((kind, text))
        pos = match.end()
    return tokens


def _parse_jql(jql: str) -> tuple[list[_Clause], list[tuple[str, bool]]]:
    """``clause AND clause ... [ORDER BY field [ASC|DESC], ...]`` -> clauses and (field, descending)."""
    tokens = _tokens(jql)
    clauses: list[_Clause] = []
    order: list[tuple[str, bool]] = []
    i = 0

    def word(at: int) -> str:
        return tokens[at][1].upper() if at < len(tokens) and tokens[at][0] == "word" else ""

    def value(at: int) -> str:
        if at >= len(tokens) or tokens[at][0] not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: expecting a value at token {at + 1}.")
        if tokens[at][0] == "word" and tokens[at][1].upper() in ("AND", "OR", "ORDER", "NOT", "IN"):
            raise JqlError(f"Error in the JQL Query: expecting a value before '{tokens[at][1]}'.")
        return tokens[at][1]

    while i < len(tokens):
        if word(i) == "ORDER":
            if word(i + 1) != "BY":
                raise JqlError("Error in the JQL Query: expecting 'BY' after 'ORDER'.")
            i += 2
            while i < len(tokens):
                name = value(i).lower()
                if name not in ("created", "updated", "key", "priority", "status"):
                    raise JqlError(f"ORDER BY {name} is not supported by the JIRA double")
                descending = word(i + 1) == "DESC"
                i += 2 if word(i + 1) in ("ASC", "DESC") else 1
                order.append((name, descending))
                if i < len(tokens) and tokens[i] == ("punct", ","):
                    i += 1
                elif i < len(tokens):
                    raise JqlError(f"Error in the JQL Query: unexpected '{tokens[i][1]}' in ORDER BY.")
            break
        if tokens[i][0] == "punct" and tokens[i][1] == "(":
            raise JqlError("Parentheses are not supported by the JIRA double (only AND-ed clauses)")
        name = value(i).lower()
        i += 1
        op: Literal["=", "!=", "~", "in", "not in", "is", "is not"]
        values: tuple[str, ...]
        if i < len(tokens) and tokens[i][0] == "op":
            symbol = tokens[i][1]
            if symbol not in ("=", "!=", "~"):
                raise JqlError(f"The operator '{symbol}' is not supported by the JIRA double")
            op = "=" if symbol == "=" else "!=" if symbol == "!=" else "~"
            values = (value(i + 1),)
            i += 2
        elif word(i) in ("IN", "NOT"):
            op = "in" if word(i) == "IN" else "not in"
            i += 1 if op == "in" else 2
            if op == "not in" and word(i - 1) != "IN":
                raise JqlError("Error in the JQL Query: expecting 'IN' after 'NOT'.")
            if i >= len(tokens) or tokens[i] != ("punct", "("):
                raise JqlError("Error in the JQL Query: expecting '(' after IN.")
            items: list[str] = []
            i += 1
            while True:
                items.append(value(i))
                i += 1
                if i < len(tokens) and tokens[i] == ("punct", ","):
                    i += 1
                    continue
                if i < len(tokens) and tokens[i] == ("punct", ")"):
                    i += 1
                    break
                raise JqlError("Error in the JQL Query: expecting ',' or ')' in the list.")
            values = tuple(items)
        elif word(i) == "IS":
            op = "is not" if word(i + 1) == "NOT" else "is"
            i += 2 if op == "is not" else 1
            if word(i) not in ("EMPTY", "NULL"):
                raise JqlError("Error in the JQL Query: expecting EMPTY or NULL after IS.")
            values = ()
            i += 1
        else:
            raise JqlError(f"Error in the JQL Query: expecting an operator after '{name}'.")
        if name in ("summary", "description", "text") and op != "~":
            raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
        if op == "~" and name not in ("summary", "description", "text"):
            raise JqlError(f"The operator '~' is not supported by the '{name}' field.")
        clauses.append(_Clause(name, op, values))
        if i < len(tokens):
            if word(i) == "AND":
                i += 1
                if i >= len(tokens):
                    raise JqlError("Error in the JQL Query: expecting a clause after 'AND'.")
            elif word(i) == "OR":
                raise JqlError("OR is not supported by the JIRA double (only AND-ed clauses)")
            elif word(i) != "ORDER":
                raise JqlError(f"Error in the JQL Query: expecting AND or ORDER BY before '{tokens[i][1]}'.")
    return clauses, order


def _matches(double: JiraDouble, issue: JiraIssue, clause: _Clause) -> bool:
    have = [v.casefold() for v in double._field_of(issue, clause.field)]
    wanted = [v.casefold() for v in clause.values]
    if clause.field == "resolution" and any(w == "unresolved" for w in wanted):
        have = have or ["unresolved"]
    if clause.op in ("=", "in"):
        return any(w in have for w in wanted)
    if clause.op in ("!=", "not in"):
        return bool(have) and not any(w in have for w in wanted)
    if clause.op == "~":
        words = [w for v in wanted for w in re.findall(r"\w+", v)]
        return all(any(w in h for h in have) for w in words)
    return (not have) == (clause.op == "is")


def _sort_key(double: JiraDouble, issue: JiraIssue, name: str) -> Any:
    if name in ("created", "updated"):
        return (getattr(issue, name), int(issue.id))
    if name == "key":
        return (issue.project, issue.number)
    if name == "priority":
        return -int(double.priorities[issue.priority])
    return list(STATUSES).index(issue.status)
