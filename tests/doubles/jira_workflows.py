"""Workflows, for :mod:`tests.doubles.jira`: the statuses an issue moves through, the transitions a
project's workflow offers, and what a transition's screen takes, as Jira answers them.

* ``GET issue/{key}/transitions`` lists the transitions available from the issue's status to the user
  (none at all without the *Transition Issues* permission, Atlassian's reference for "Get
  transitions"); ``expand=transitions.fields`` adds each transition's screen fields (``required``,
  ``allowedValues``...). The Comment field is never listed, even on a screen that has it
  (ankitpokhrel/jira-cli#1024, measured on Jira Cloud).
* ``POST issue/{key}/transitions``: a field in ``fields`` that is not on the transition's screen is a
  400, ``Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown.``
  (mozilla/jira-bugzilla-integration#294); a required field left out is a 400,
  ``Field Resolution is required.`` (checkmarx-ts/checkmarx-cxflow-github-action#46,
  mozilla/jira-bugzilla-integration#1055). ``update.comment`` is applied only where the screen has the
  Comment field; elsewhere Jira performs the transition, answers 204 and **drops the comment**
  (jira-cli#1024, sooperset/mcp-atlassian#1623, go-jira/jira#45).

Two workflows (a project's is chosen with ``JiraDouble(workflows={"OPS": CLASSIC})``):

* :data:`SIMPLIFIED`: Jira Cloud's simplified (team-managed and new company-managed) workflow: To Do, In
  Progress, Done, each reachable from any other by a global transition named after its status, with no
  screen; moving to Done sets the resolution Done, leaving it clears it.
* :data:`CLASSIC`: Jira's default workflow (``jira``; Data Center's default, and Cloud's for classic
  projects): Open, In Progress, Resolved, Closed, Reopened; *Resolve Issue* and *Close Issue* show the
  Resolve Issue Screen, whose Resolution is required; *Reopen Issue* clears it. Its site's resolutions
  are Fixed, Won't Fix, Duplicate, Incomplete, Cannot Reproduce (:data:`CLASSIC_RESOLUTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CLASSIC",
    "CLASSIC_RESOLUTIONS",
    "SIMPLIFIED",
    "STATUSES",
    "JiraStatus",
    "Transition",
    "Workflow",
]


@dataclass(frozen=True)
class JiraStatus:
    id: str
    name: str
    category_id: int
    category_key: str
    category_name: str
    color: str


_NEW = (2, "new", "To Do", "blue-gray")
_DOING = (4, "indeterminate", "In Progress", "yellow")
_DONE = (3, "done", "Done", "green")
STATUSES: Mapping[str, JiraStatus] = {
    "To Do": JiraStatus("10000", "To Do", *_NEW),
    "In Progress": JiraStatus("3", "In Progress", *_DOING),
    "Done": JiraStatus("10001", "Done", *_DONE),
    "Open": JiraStatus("1", "Open", *_NEW),
    "Reopened": JiraStatus("4", "Reopened", *_NEW),
    "Resolved": JiraStatus("5", "Resolved", *_DONE),
    "Closed": JiraStatus("6", "Closed", *_DONE),
}


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str
    sources: tuple[str, ...] | None = None
    """The statuses it leaves from; ``None``: a global transition, from any other status."""
    screen: tuple[str, ...] = ()
    """The fields on its screen (none: no screen)."""
    required: tuple[str, ...] = ()

    def available_from(self, status: str) -> bool:
        return status != self.to if self.sources is None else status in self.sources


@dataclass(frozen=True)
class Workflow:
    name: str
    initial: str
    transitions: tuple[Transition, ...]

    def available(self, status: str) -> list[Transition]:
        return [t for t in self.transitions if t.available_from(status)]


SIMPLIFIED = Workflow(
    "simplified",
    "To Do",
    (
        Transition("11", "To Do", "To Do"),
        Transition("21", "In Progress", "In Progress"),
        Transition("31", "Done", "Done"),
    ),
)
_RESOLVE_SCREEN = ("resolution", "fixVersions", "assignee", "comment")
CLASSIC = Workflow(
    "jira",
    "Open",
    (
        Transition("4", "Start Progress", "In Progress", sources=("Open", "Reopened")),
        Transition("301", "Stop Progress", "Open", sources=("In Progress",)),
        Transition(
            "5",
            "Resolve Issue",
            "Resolved",
            sources=("Open", "In Progress", "Reopened"),
            screen=_RESOLVE_SCREEN,
            required=("resolution",),
        ),
        Transition(
            "2",
            "Close Issue",
            "Closed",
            sources=("Open", "In Progress", "Reopened", "Resolved"),
            screen=_RESOLVE_SCREEN,
            required=("resolution",),
        ),
        Transition(
            "3",
            "Reopen Issue",
            "Reopened",
            sources=("Resolved", "Closed"),
            screen=("assignee", "fixVersions", "comment"),
        ),
    ),
)
CLASSIC_RESOLUTIONS = ("Fixed", "Won't Fix", "Duplicate", "Incomplete", "Cannot Reproduce")
