"""Issue links, for :mod:`tests.doubles.jira`: the two routes Medic's adapter calls (through ``jira``'s
``create_issue_link``) and the ``issuelinks`` field of an issue.

As Atlassian's REST references describe them (Jira Cloud
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/ and
.../api-group-issue-link-types/; Data Center
https://developer.atlassian.com/server/jira/platform/rest/v10005/api-group-issuelink and
.../api-group-issuelinktype), the same on both under ``/rest/api/2`` (and ``/rest/api/3`` on Cloud):

* ``GET issueLinkType``: ``{"issueLinkTypes": [{"id", "name", "inward", "outward", "self"}]}``; a new
  site has ``Blocks``, ``Cloners``, ``Duplicate`` and ``Relates`` (:data:`LINK_TYPES`).
* ``POST issueLink`` ``{"type": {"name"}, "inwardIssue": {"key"}, "outwardIssue": {"key"}, "comment"?}``:
  201 with an empty body. A link that exists already is answered as created and not added again
  ("If the link request duplicates a link, the response indicates that the issue link was created").
  An unknown link type is a 404 ``No issue link type with name '<name>' found.`` (as sites answer,
  andygrunwald/go-jira#660); an unknown issue a 404 too; a missing ``type`` or issue a 400.
* An issue's ``issuelinks`` field lists each link once, naming the *other* issue as ``inwardIssue`` or
  ``outwardIssue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LINK_TYPES", "JiraLink", "link_type_json", "unknown_link_type"]

LINK_TYPES: Mapping[str, tuple[str, str, str]] = {
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Cloners": ("10001", "is cloned by", "clones"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
    "Relates": ("10003", "relates to", "relates to"),
}
"""Link type name -> (id, inward, outward), as on a new site."""


@dataclass(frozen=True)
class JiraLink:
    id: str
    type: str
    inward: str
    """Key of the request's ``inwardIssue``."""
    outward: str
    """Key of the request's ``outwardIssue``."""


def link_type_json(
    base: str, api: str, name: str, types: Mapping[str, tuple[str, str, str]]
) -> dict[str, Any]:
    tid, inward, outward = types[name]
    return {
        "id": tid,
        "name": name,
        "inward": inward,
        "outward": outward,
        "self": f"{base}{api}/issueLinkType/{tid}",
    }


def unknown_link_type(name: str) -> str:
    return f"No issue link type with name '{name}' found."
