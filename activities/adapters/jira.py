"""JIRA over the `jira` package. Issue creation is idempotent: the incident's id is a label,
and an issue carrying it is reused instead of created again (an activity retry after a lost
response must not open a second issue).

Descriptions and comments are rendered as JIRA wiki markup, and Medic writes plain text into them
(titles, labels, timeline messages, people's notes): :func:`wiki_text` escapes it here, in one place, so
``[text|javascript:...]`` links, ``!image!`` embeds, ``{html}`` macros, ``[~user]`` mentions, tables
and formatting from outside show as the characters they are. A backslash escapes a markup character
in wiki markup; a backslash itself becomes the entity ``&#92;`` (``\\`` would be a line break).
"""

import re
import threading
from typing import Any

import requests
from jira import JIRA, JIRAError

from medic.ports import IssueRequest, PermanentError, TransientError

__all__ = ["JiraTracker", "wiki_text"]

_DONE_NAMES = ("done", "resolve", "resolved", "close", "closed")
# Markup characters, escaped. Not "-" and "_": they only strike through or emphasise around words, and
# escaping them makes ids and names unreadable and unsearchable ("incident\\-orders\\-db"). (Jira Cloud's
# v3 API takes text as ADF nodes, where nothing is markup.)
_WIKI = re.compile(r"[\\\[\]{}!|*^~+?#]")


def wiki_text(text: str) -> str:
    """Plain text as JIRA wiki markup that shows exactly that text."""
    return _WIKI.sub(lambda m: "&#92;" if m.group() == "\\" else "\\" + m.group(), text)


def _translate(err: Exception, what: str) -> Exception:
    if isinstance(err, JIRAError):
        status = err.status_code or 0
        if status == 429 or status >= 500 or status == 0:
            return TransientError(f"JIRA unavailable while trying to {what} ({status})")
        return PermanentError(f"JIRA refused to {what} ({status}): {err.text}")
    if isinstance(err, requests.RequestException | OSError):
        return TransientError(f"JIRA unreachable while trying to {what}: {err}")
    return PermanentError(f"JIRA failed to {what}: {type(err).__name__}: {err}")


class JiraTracker:
    def __init__(self, url: str, *, user: str, token: str, timeout: float = 15.0) -> None:
        self._url, self._auth, self._timeout = url, (user, token), timeout
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    def _jira(self) -> JIRA:
        with self._lock:
            if self._client is None:
                self._client = JIRA(
                    server=self._url,
                    basic_auth=self._auth,
                    max_retries=0,
                    timeout=self._timeout,
                    get_server_info=False,
                )
            return self._client

    def ensure_issue(self, request: IssueRequest) -> str:
        try:
            jira = self._jira()
            found: Any = jira.search_issues(
                f'project = "{request.project}" AND labels = "{request.dedup_label}"', maxResults=1
            )
            if found:
                return str(found[0].key)
            fields: dict[str, Any] = {
                "project": {"key": request.project},
                "summary": request.summary,
                "description": wiki_text(request.description),
                "issuetype": {"name": request.issue_type},
                "labels": [*request.labels, request.dedup_label],
                "priority": {"name": request.priority},
            }
            if request.components:
                known = {c.name for c in jira.project_components(request.project)}
                fields["components"] = [{"name": c} for c in request.components if c in known]
            issue = jira.create_issue(fields=fields)
            return str(issue.key)
        except Exception as err:
            raise _translate(err, f"open an issue in {request.project}") from err

    def comment(self, key: str, text: str) -> None:
        try:
            self._jira().add_comment(key, wiki_text(text))
        except Exception as err:
            raise _translate(err, f"comment on {key}") from err

    def close(self, key: str, comment: str) -> None:
        try:
            jira = self._jira()
            issue = jira.issue(key, fields="status")
            category = getattr(getattr(issue.fields.status, "statusCategory", None), "key", "")
            if category == "done":
                return
            transitions = jira.transitions(key)
            target = next((t for t in transitions if str(t["name"]).lower() in _DONE_NAMES), None)
            if target is None:
                names = ", ".join(str(t["name"]) for t in transitions)
                raise PermanentError(f"no transition to done from {key} (available: {names})")
            jira.transition_issue(key, target["id"], comment=wiki_text(comment))
        except PermanentError:
            raise
        except Exception as err:
            raise _translate(err, f"close {key}") from err
