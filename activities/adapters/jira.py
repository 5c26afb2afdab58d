"""JIRA over the `jira` package, for Jira Cloud and Jira Data Center (Server) alike.

The deployment is detected once per adapter (``GET /rest/api/2/serverInfo``, ``deploymentType``) and
cached with the client; ``deployment="cloud"|"datacenter"`` skips the probe. The two differ where it
matters to Medic:

* **Search.** Atlassian removed ``/rest/api/{2,3}/search`` on Jira Cloud (CHANGE-2046: 410 Gone); Cloud
  is searched with ``/rest/api/3/search/jql`` (``nextPageToken`` paging, ``enhanced_search_issues``),
  Data Center with ``/rest/api/2/search``, the only search it has.
* **Markup.** Cloud's v3 API takes descriptions and comments as ADF documents: Medic's plain text goes
  into ``text`` nodes, where nothing is markup. Data Center's v2 API renders wiki markup, so
  :func:`wiki_text` escapes plain text there, in one place: ``[text|javascript:...]`` links,
  ``!image!`` embeds, ``{html}`` macros, ``[~user]`` mentions, tables and formatting from outside show
  as the characters they are. A backslash escapes a markup character; a backslash itself becomes the
  entity ``&#92;`` (``\\\\`` would be a line break).
* **Auth.** Cloud: e-mail and API token (basic). Data Center: a personal access token (bearer), or
  user and password/token (basic).

Links between issues (a merged incident's issue and its cause's) go through ``POST issueLink`` on both
deployments (the client reads ``issueLinkType`` first), unless the issue already has that link (a retry
after a lost answer); a link type the site does not have is a 404, a PermanentError.

Issue creation is idempotent: the incident's id is a label, and an issue carrying it is reused instead
of created again (an activity retry after a lost response must not open a second issue). Postmortems
are attached as Markdown files (neither ADF nor wiki markup renders Markdown), skipped when a file of
the same name and size is already there.

Closing and reopening follow the project's workflow, whatever its names: the transition is chosen by
the status category of where it leads (``done`` to close; anything else to reopen), a Resolution is
set where the transition's screen asks for one (``expand=transitions.fields``: Jira's classic workflow,
Data Center's default, refuses *Resolve Issue* without it), and the word that goes with it is a comment
of its own: Jira drops a comment sent with a transition whose screen has no Comment field (most
simplified workflows' Done) and still answers 204. A comment equal to the issue's last one is not
added again (a retried activity).

A site's own priority scheme and screens differ from project to project: a priority name the site does
not have, or a field (priority, components, the policy's ``jira_fields``) that a project's create or
edit screen lacks, is refused with a 400 naming the field in ``errors``; Medic then files the issue
without the fields refused (once), rather than no issue at all, and logs which. The summary and the
description still say the incident's priority.
"""

import io
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

import requests
from jira import JIRA, JIRAError

from activities.adapters.http import classify
from medic.ports import IssueLink, IssueRequest, IssueUpdate, PermanentError

__all__ = ["Deployment", "JiraTracker", "adf_document", "wiki_text"]

log = logging.getLogger(__name__)

Deployment = Literal["auto", "cloud", "datacenter"]

# The preferred transitions to done and back, by words in their names (and their target status's).
_CLOSE_WORDS = ("resolve", "done", "fix", "complete", "close")
_REOPEN_WORDS = ("reopen", "re-open")
# A transition to done that says the work was not done: taken only when nothing else leads there.
_NOT_A_FIX = re.compile(r"cancel|won.?t|reject|declin|duplicate|invalid|abandon|obsolete", re.IGNORECASE)
_RESOLUTIONS = ("done", "fixed", "resolved", "complete", "completed")
# Markup characters, escaped. Not "-" and "_": they only strike through or emphasise around words, and
# escaping them makes ids and names unreadable and unsearchable ("incident\\-orders\\-db").
_WIKI = re.compile(r"[\\\[\]{}!|*^~+?#]")
_ADF_MAX_TEXT = 32_000  # Jira Cloud refuses fields over 32,767 characters; leave room for the structure


def wiki_text(text: str) -> str:
    """Plain text as JIRA wiki markup that shows exactly that text."""
    return _WIKI.sub(lambda m: "&#92;" if m.group() == "\\" else "\\" + m.group(), text)


def _wiki_link(link: IssueLink) -> str:
    # A wiki link ends at "|" or "]": percent-encode them (and spaces) in the URL, escape the text.
    url = link.url.replace(" ", "%20").replace("|", "%7C").replace("]", "%5D").replace("[", "%5B")
    return f"[{wiki_text(link.text).replace('|', '&#124;')}|{url}]"


def _wiki(text: str, links: list[IssueLink]) -> str:
    body = wiki_text(text)
    return body + "".join(f"\n{_wiki_link(link)}" for link in links)


def adf_document(text: str, links: Sequence[IssueLink] = ()) -> dict[str, Any]:
    """Plain text (one paragraph per line) and links as an Atlassian Document Format document."""
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text[:_ADF_MAX_TEXT].splitlines()
        if line.strip()
    ]
    for link in links:
        node = {"type": "text", "text": link.text, "marks": [{"type": "link", "attrs": {"href": link.url}}]}
        content.append({"type": "paragraph", "content": [node]})
    if not content:  # an empty document is valid, an empty text node is not
        content = [{"type": "paragraph", "content": []}]
    return {"type": "doc", "version": 1, "content": content}


def _translate(err: Exception, what: str) -> Exception:
    if isinstance(err, JIRAError):
        status = err.status_code or None
        headers = dict(err.response.headers) if err.response is not None else None
        return classify(status, service="JIRA", what=what, headers=headers, detail=str(err.text or ""))
    if isinstance(err, requests.RequestException | OSError):
        return classify(None, service="JIRA", what=what, detail=str(err))
    return PermanentError(f"JIRA failed to {what}: {type(err).__name__}: {err}")


class JiraTracker:
    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        token: str | None = None,
        pat: str | None = None,
        deployment: Deployment = "auto",
        timeout: float = 15.0,
    ) -> None:
        if pat is None and (user is None or token is None):
            raise ValueError("JIRA needs a user and API token, or a personal access token")
        self._url, self._timeout, self._deployment = url, timeout, deployment
        self._auth: dict[str, Any] = {"token_auth": pat} if pat else {"basic_auth": (user, token)}
        self._client: JIRA | None = None
        self._cloud = False
        self._lock = threading.Lock()

    def _connect(self, *, version: str, server_info: bool) -> JIRA:
        return JIRA(
            server=self._url,
            options={"rest_api_version": version},
            max_retries=0,
            timeout=self._timeout,
            get_server_info=server_info,
            **self._auth,
        )

    def _jira(self) -> tuple[JIRA, bool]:
        """The client and whether it talks to Jira Cloud, detected on first use and kept."""
        with self._lock:
            if self._client is None:
                if self._deployment == "auto":
                    probe = self._connect(version="2", server_info=True)
                    cloud = probe.deploymentType == "Cloud"
                else:
                    cloud = self._deployment == "cloud"
                    probe = None
                client = probe if probe is not None and not cloud else None
                if client is None:
                    client = self._connect(version="3" if cloud else "2", server_info=False)
                    client.deploymentType = "Cloud" if cloud else "Server"
                self._client, self._cloud = client, cloud
            return self._client, self._cloud

    def whoami(self) -> str:
        """Who Medic is in Jira (``myself``), and which Jira, in a few words."""
        try:
            jira, cloud = self._jira()
            me = jira.myself()
        except Exception as err:
            raise _translate(err, "tell who Medic is") from err
        who = me.get("displayName") or me.get("name") or me.get("accountId") or "?"
        return f"Jira {'Cloud' if cloud else 'Data Center'}, as {who}"

    def check_project(self, key: str, issue_type: str) -> tuple[bool, str]:
        """Whether Medic can file ``issue_type`` into project ``key``: the project (``GET project/{key}``,
        its issue types) and Medic's Create Issues permission there (``GET mypermissions``). A
        PermanentError says what is missing; else whether that is sure (the project listed its issue
        types, and Medic may transition its issues to close them), and a sentence."""
        try:
            jira, _ = self._jira()
            found = jira.project(key)
            allowed = jira.my_permissions(projectKey=found.key, permissions="CREATE_ISSUES,TRANSITION_ISSUES")
        except Exception as err:
            raise _translate(err, f"read project {key}") from err
        create = (allowed.get("permissions") or {}).get("CREATE_ISSUES") or {}
        if create and not create.get("havePermission"):
            raise PermanentError(
                f"Medic's Jira user may not create issues in project {found.key} ({found.name}): grant it "
                "the Create Issues permission there, or route the service's issues elsewhere"
            )
        move = (allowed.get("permissions") or {}).get("TRANSITION_ISSUES") or {}
        if move and not move.get("havePermission"):
            return (
                False,
                f"Medic's Jira user may create issues in project {found.key} ({found.name}) but not "
                "transition them: its issues stay open when incidents resolve (grant it Transition Issues)",
            )
        types = [str(getattr(t, "name", "")) for t in getattr(found, "issueTypes", None) or []]
        if not types:
            return (
                False,
                f"project {found.key} ({found.name}) did not list its issue types: {issue_type!r} "
                "not checked",
            )
        if issue_type not in types:
            raise PermanentError(
                f"project {found.key} ({found.name}) has no issue type {issue_type!r} (it has "
                f"{', '.join(types[:10])}): every issue Medic files there is refused; set jira_issue_type "
                "in the routing policy to one of them"
            )
        return True, f"project {found.key} ({found.name}) takes issues of type {issue_type!r} from Medic"

    @property
    def is_cloud(self) -> bool:
        return self._jira()[1]

    def _body(self, text: str, links: list[IssueLink] | None = None) -> Any:
        return adf_document(text, links or []) if self._cloud else _wiki(text, links or [])

    def _find(self, jira: JIRA, cloud: bool, jql: str) -> str | None:
        found: Any
        if cloud:
            found = jira.enhanced_search_issues(jql, maxResults=1, fields="key")
        else:
            found = jira.search_issues(jql, maxResults=1, fields="key")
        return str(found[0].key) if found else None

    def ensure_issue(self, request: IssueRequest) -> str:
        try:
            jira, cloud = self._jira()
            jql = f'project = "{request.project}" AND labels = "{request.dedup_label}"'
            existing = self._find(jira, cloud, jql)
            if existing:
                return existing
            fields: dict[str, Any] = {
                **request.fields,
                "project": {"key": request.project},
                "summary": request.summary,
                "description": self._body(request.description, request.links),
                "issuetype": {"name": request.issue_type},
                "labels": [*request.labels, request.dedup_label],
                "priority": {"name": request.priority},
            }
            if request.components:
                known = {c.name for c in jira.project_components(request.project)}
                fields["components"] = [{"name": c} for c in request.components if c in known]
            issue = _without_refused(
                lambda f: jira.create_issue(fields=f), fields, keep=_NEEDED, what=request.project
            )
            return str(issue.key)
        except Exception as err:
            raise _translate(err, f"open an issue in {request.project}") from err

    def update_issue(self, update: IssueUpdate) -> None:
        key = update.key
        try:
            jira, _ = self._jira()
            issue = jira.issue(key, fields="summary,comment")
            said = not update.comment or self._said_last(issue, update.comment)
            labels = [{"remove": label} for label in update.labels_remove]
            labels += [{"add": label} for label in update.labels_add]
            fields: dict[str, Any] = {"summary": update.summary, "priority": {"name": update.priority}}
            if labels:
                fields["labels"] = labels  # sent under "update" (operations), not "fields"

            def edit(chosen: dict[str, Any]) -> None:
                values = {k: v for k, v in chosen.items() if k != "labels"}
                operations = {"labels": chosen["labels"]} if "labels" in chosen else {}
                issue.update(fields=values, update=operations or None)

            _without_refused(edit, fields, keep=frozenset(), what=key)
            if not said:
                jira.add_comment(key, self._body(update.comment))
        except Exception as err:
            raise _translate(err, f"update {key}") from err

    def comment(self, key: str, text: str) -> None:
        try:
            jira, _ = self._jira()
            jira.add_comment(key, self._body(text))
        except Exception as err:
            raise _translate(err, f"comment on {key}") from err

    def attach(self, key: str, *, filename: str, content: str) -> None:
        data = content.encode()
        try:
            jira, _ = self._jira()
            issue = jira.issue(key, fields="attachment")
            present = getattr(issue.fields, "attachment", None) or []
            if any(a.filename == filename and int(a.size) == len(data) for a in present):
                return
            jira.add_attachment(key, io.BytesIO(data), filename=filename)
        except Exception as err:
            raise _translate(err, f"attach {filename} to {key}") from err

    def close(self, key: str, comment: str) -> None:
        """Say ``comment`` on the issue, then move it to done by the transition its workflow offers
        (nothing to move when it is done already: someone closed it)."""
        self._move(key, comment, done=True)

    def reopen(self, key: str, comment: str) -> None:
        """Say ``comment`` on the issue, and move it out of done (to its workflow's Reopen, else to a
        to-do or in-progress status) when it is there; an issue not done is only commented on."""
        self._move(key, comment, done=False)

    def _move(self, key: str, comment: str, *, done: bool) -> None:
        what = f"{'close' if done else 'reopen'} {key}"
        try:
            jira, _ = self._jira()
            issue = jira.issue(key, fields="status,comment")
            self._say_once(jira, key, issue, comment)
            if (_category(issue.fields.status) == "done") == done:
                return
            transitions = jira.transitions(key, expand="transitions.fields")
            target = _pick(transitions, done=done)
            if target is None:
                raise PermanentError(_no_transition(key, issue, transitions, done=done))
            jira.transition_issue(key, target["id"], fields=_screen_values(target) if done else {})
        except PermanentError:
            raise
        except Exception as err:
            raise _translate(err, what) from err

    def _say_once(self, jira: JIRA, key: str, issue: Any, text: str) -> None:
        """Comment ``text`` unless it is the issue's last comment already (the same call, retried)."""
        if not self._said_last(issue, text):
            jira.add_comment(key, self._body(text))

    def _said_last(self, issue: Any, text: str) -> bool:
        """Whether ``text`` is the last comment of ``issue`` (read with its ``comment`` field)."""
        page = getattr(issue.fields, "comment", None)
        comments = list(getattr(page, "comments", None) or [])
        complete = int(getattr(page, "total", len(comments)) or 0) <= len(comments)
        last = (getattr(comments[-1], "raw", None) or {}) if comments else {}
        return bool(complete and last and _comment_text(last.get("body")) == _comment_text(self._body(text)))

    def link(self, key: str, other_key: str, kind: str) -> None:
        try:
            jira, _ = self._jira()
            issue = jira.issue(key, fields="issuelinks")
            for link in getattr(issue.fields, "issuelinks", None) or []:
                linked = getattr(link, "inwardIssue", None) or getattr(link, "outwardIssue", None)
                if getattr(link.type, "name", None) == kind and getattr(linked, "key", None) == other_key:
                    return  # a retry after a lost answer
            jira.create_issue_link(kind, inwardIssue=other_key, outwardIssue=key)
        except Exception as err:
            raise _translate(err, f"link {key} to {other_key}") from err


# What an issue cannot go without; any other field a project refuses is left out (see the docstring).
_NEEDED = frozenset({"project", "summary", "description", "issuetype", "labels"})


def _without_refused(call: Any, fields: dict[str, Any], *, keep: frozenset[str], what: str) -> Any:
    """``call(fields)``; where Jira refuses it (400) naming fields in ``errors`` that Medic can go
    without, once more without them."""
    try:
        return call(fields)
    except JIRAError as err:
        refused = set(_field_errors(err)) & set(fields)
        if err.status_code != 400 or not refused or refused & keep:
            raise
        log.warning("JIRA refused %s for %s (%s): sent again without them", sorted(refused), what, err.text)
        return call({k: v for k, v in fields.items() if k not in refused})


def _field_errors(err: JIRAError) -> dict[str, Any]:
    try:
        body = err.response.json() if err.response is not None else {}
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, dict) else {}


def _category(status: Any) -> str:
    """A status's category key (``new``, ``indeterminate``, ``done``), from a resource or a dict."""
    category = (
        status.get("statusCategory") if isinstance(status, dict) else getattr(status, "statusCategory", None)
    )
    key = category.get("key") if isinstance(category, dict) else getattr(category, "key", "")
    return str(key or "")


def _words_rank(text: str, words: Sequence[str]) -> int:
    lowered = text.casefold()
    return next((i for i, word in enumerate(words) if word in lowered), len(words))


def _pick(transitions: Sequence[dict[str, Any]], *, done: bool) -> dict[str, Any] | None:
    """The transition that closes (``done``) or reopens the issue: among those whose target status is
    (not) in the done category, the best named. Closing avoids "Cancel", "Won't Do" and the like while
    another way to done exists."""
    fitting = [t for t in transitions if (_category(t.get("to") or {}) == "done") == done]
    if not fitting:
        return None

    def rank(t: dict[str, Any]) -> tuple[int, int]:
        names = f"{t.get('name', '')} {(t.get('to') or {}).get('name', '')}"
        if done:
            return (bool(_NOT_A_FIX.search(names)), _words_rank(names, _CLOSE_WORDS))
        category = {"new": 0, "indeterminate": 1}.get(_category(t.get("to") or {}), 2)
        return (_words_rank(names, _REOPEN_WORDS), category)

    return min(fitting, key=rank)


def _screen_values(transition: dict[str, Any]) -> dict[str, Any]:
    """What the transition's screen needs from Medic: a Resolution where it has the field (Jira's
    classic Resolve Issue requires one): Done, Fixed or the like, else the first that is no refusal."""
    field = (transition.get("fields") or {}).get("resolution")
    if not isinstance(field, dict):
        return {}
    allowed = [v for v in field.get("allowedValues") or [] if isinstance(v, dict) and v.get("name")]
    if not allowed:
        return {}
    chosen = min(
        allowed,
        key=lambda v: (
            _words_rank(str(v["name"]), _RESOLUTIONS) if str(v["name"]).casefold() in _RESOLUTIONS else 9,
            bool(_NOT_A_FIX.search(str(v["name"]))),
        ),
    )
    return {"resolution": {"id": str(chosen["id"])} if chosen.get("id") else {"name": chosen["name"]}}


def _no_transition(key: str, issue: Any, transitions: Sequence[dict[str, Any]], *, done: bool) -> str:
    status = getattr(issue.fields.status, "name", "?")
    if not transitions:
        return (
            f"Jira offers Medic no transition on {key} (status {status}): its user lacks the Transition "
            "Issues permission in the project, or the workflow's conditions hide them"
        )
    names = ", ".join(f"{t.get('name')} -> {(t.get('to') or {}).get('name')}" for t in transitions)
    where = "a done status" if done else "a status that is not done"
    return f"no transition to {where} from {status} on {key} (available: {names})"


def _comment_text(body: Any) -> str:
    """A comment's words, from wiki text or an ADF document, to compare two comments."""
    if isinstance(body, str):
        return body.strip()
    found: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "text":
            found.append(str(node.get("text", "")))
        for child in node.get("content") or []:
            walk(child)
        if node.get("type") == "paragraph":
            found.append("\n")

    walk(body)
    return "".join(found).strip()
