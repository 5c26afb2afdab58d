"""Every word of Medic's vocabularies is answered by every table asked of it (in the style of httpx's
test_httpcore_all_exceptions_mapped): adding a word without deciding what it means fails here. And each
vocabulary is spelled out once: no timeline kind is written as a string anywhere else in the code."""

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from activities.adapters.teams import _PRIORITY_COLOR
from medic.impact import priority_for_score
from medic.incident import IncidentState
from medic.notify_plan import JIRA_PRIORITIES
from medic.notify_state import FOLLOW_UP_KINDS, NOTE_KINDS, THREADED_KINDS
from medic.runbook import RestartStep
from medic.timeline import TimelineEntry
from medic.vocab import (
    ACTED,
    OUTCOME_ORDER,
    OUTCOME_TEXT,
    RUNNING,
    Priority,
    RemediationOutcome,
    Risk,
    TimelineKind,
    parse_outcome,
)
from remediations.guardrails import GuardrailSettings, may_approve
from service.approval_metrics import APPROVAL_OUTCOMES
from workflows.notifier import _PD_SEVERITY


def test_every_outcome_has_a_text_and_a_rank() -> None:
    assert set(OUTCOME_TEXT) == set(RemediationOutcome)
    assert sorted(OUTCOME_ORDER) == sorted(RemediationOutcome)  # each exactly once


def test_running_and_acted_are_outcomes_and_do_not_overlap_wrongly() -> None:
    assert set(RemediationOutcome) >= RUNNING and set(RemediationOutcome) >= ACTED
    assert {RemediationOutcome.EXECUTED} == RUNNING & ACTED  # acting, not verified yet: both


def test_the_words_are_the_ones_in_stored_histories() -> None:
    """The values cross Temporal as strings: renaming one breaks every history that holds it."""
    assert [o.value for o in RemediationOutcome] == [
        "planned",
        "started",
        "executed",
        "verified",
        "rolled-back",
        "failed",
        "blocked",
        "dry-run",
        "denied",
        "timed-out",
        "cancelled",
        "lost",
        "changed-meanwhile",
    ]
    assert parse_outcome("rolled-back") is RemediationOutcome.ROLLED_BACK
    assert parse_outcome("exploded") is None


# ---- timeline kinds ------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
# Where Medic's code lives (tests spell kinds out on purpose: they check the stored strings).
CODE = ("medic", "remediations", "activities", "workflows", "service", "bench")
# Dotted words that look like kinds and are not (besides file names): runbook bindings, and PagerDuty's
# own webhook event types (its vocabulary, translated in service/pagerduty.py).
NOT_KINDS = {
    ("medic/runbook.py", "incident.id"),
    ("medic/runbook.py", "incident.service"),
    ("remediations/plan.py", "incident.id"),
    ("remediations/plan.py", "incident.service"),
    ("service/pagerduty.py", "incident.acknowledged"),
    ("service/pagerduty.py", "incident.resolved"),
    ("service/pagerduty.py", "incident.reassigned"),
    ("service/pagerduty.py", "incident.escalated"),
    ("service/pagerduty.py", "incident.delegated"),
}
_FAMILIES = sorted({kind.value.split(".")[0] for kind in TimelineKind})
_KIND_SHAPE = re.compile(rf"({'|'.join(_FAMILIES)})\.[a-z_]+")
_KIND_PREFIX = re.compile(rf"({'|'.join(_FAMILIES)})\.")
_FILE_NAME = re.compile(r".+\.(yaml|yml|json|jsonl|md|svg|html|log)")


def spelled_out_kinds(source: str, path: str) -> list[str]:
    """Kinds written as strings in ``source``: a kind's value, a word shaped like one (a kind missing
    from the enum), or an f-string that builds one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if (
                isinstance(head, ast.Constant)
                and isinstance(head.value, str)
                and _KIND_PREFIX.fullmatch(head.value)
            ):
                found.append(f"{path}:{node.lineno}: a kind built as f'{head.value}...'")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _KIND_SHAPE.fullmatch(node.value)
            and not _FILE_NAME.fullmatch(node.value)
            and (path, node.value) not in NOT_KINDS
        ):
            found.append(f"{path}:{node.lineno}: {node.value!r}")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def test_no_kind_is_spelled_out_in_code() -> None:
    """Every kind Medic writes or compares is a TimelineKind member, so the enum lists them all: a new
    kind written as a string (in the enum or not) fails here."""
    files = sorted(f for package in CODE for f in (REPO / package).rglob("*.py"))
    files.remove(REPO / "medic" / "vocab.py")  # where they are defined
    assert len(files) > 100
    found = [
        hit
        for f in files
        for hit in spelled_out_kinds(f.read_text(encoding="utf-8"), f.relative_to(REPO).as_posix())
    ]
    assert found == [], "use medic.vocab.TimelineKind (add the kind there and to docs/postmortems.md)"


def test_the_scan_finds_what_it_is_for() -> None:
    """The check above is only as good as what it recognises."""
    source = (
        's.record(at, "incident.merged", "m")\n'
        'if e.kind == "remediation.exploded": pass\n'
        'kind = f"alert.{status}"\n'
        'ok = ("remediation.", "anomaly.yaml", "remediate.apply", TimelineKind.INCIDENT_MERGED)\n'
    )
    assert spelled_out_kinds(source, "x.py") == [
        "x.py:1: 'incident.merged'",
        "x.py:2: 'remediation.exploded'",
        "x.py:3: a kind built as f'alert....'",
    ]


def test_the_docs_list_every_kind_once() -> None:
    text = (REPO / "docs" / "postmortems.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(TimelineKind)


def test_an_entry_stores_a_kind_as_its_plain_string() -> None:
    """Workflow histories hold the string: an entry built from a member serialises exactly as one built
    from the string did, and an entry of another version, with a kind unknown here, still loads."""
    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    member = TimelineEntry(at=at, kind=TimelineKind.INCIDENT_MERGED, actor="medic", message="m")
    plain = TimelineEntry(at=at, kind="incident.merged", actor="medic", message="m")
    assert type(member.kind) is str
    assert member.model_dump_json() == plain.model_dump_json()
    assert '"kind":"incident.merged"' in member.model_dump_json()
    assert member.model_dump() == plain.model_dump()
    future = TimelineEntry.model_validate_json(
        '{"at": "2026-12-04T12:00:00Z", "kind": "incident.from_the_future", "actor": "medic", "message": "m"}'
    )
    assert future.kind == "incident.from_the_future"
    state = IncidentState(id="incident-x", opened_at=at)
    state.record(at, TimelineKind.INCIDENT_OPENED, "Incident opened.")
    state.relay(at, "command.from_an_older_api", "noted", actor="U1")
    again = IncidentState.model_validate_json(state.model_dump_json())
    assert [e.kind for e in again.timeline] == ["incident.opened", "command.from_an_older_api"]


def test_the_kind_tables_hold_kinds() -> None:
    tables = [THREADED_KINDS, FOLLOW_UP_KINDS, NOTE_KINDS, set(APPROVAL_OUTCOMES)]
    assert all(table and set(table) <= set(TimelineKind) for table in tables)


# ---- priorities and risks ------------------------------------------------------------------------


def test_priorities_are_the_stored_words_and_every_table_answers_for_each() -> None:
    assert [p.value for p in Priority] == ["P1", "P2", "P3", "P4", "P5"]
    assert sorted(Priority, key=str) == list(Priority)  # listings sort by the string: P1 first
    for table in (_PD_SEVERITY, JIRA_PRIORITIES, _PRIORITY_COLOR):
        assert set(table) == set(Priority)
    assert {priority_for_score(s) for s in range(101)} == set(Priority)
    state = IncidentState(id="incident-x", opened_at=datetime(2026, 12, 4, tzinfo=UTC))
    assert state.priority is Priority.P5
    assert json.loads(state.model_dump_json())["priority"] == "P5"
    assert IncidentState.model_validate_json(state.model_dump_json()).priority is Priority.P5


def test_one_risk_for_runbooks_guardrails_and_approvers() -> None:
    assert [r.value for r in Risk] == ["low", "medium", "high"]
    step = RestartStep.model_validate(
        {"action": "restart", "target": {"namespace": "shop", "name": "checkout"}, "risk": "medium"}
    )
    assert step.risk is Risk.MEDIUM
    assert json.loads(step.model_dump_json())["risk"] == "medium"
    assert RestartStep.model_validate_json(step.model_dump_json()) == step
    settings = GuardrailSettings(mode="auto")
    assert settings.approval_risk is Risk.HIGH
    # Ordered low < medium < high wherever it is asked: approving a level allows every lower one.
    high_only = settings.model_copy(update={"approvers": {"high": ["U0CTO"]}, "approval_risk": Risk.MEDIUM})
    assert [may_approve(high_only, risk=r, actor="U0CTO") for r in Risk] == [True, True, True]
    low_only = settings.model_copy(update={"approvers": {"low": ["U0ONC"]}})
    assert [may_approve(low_only, risk=r, actor="U0ONC") for r in Risk] == [True, False, False]
