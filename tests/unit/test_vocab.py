"""Every remediation outcome is answered by every table asked of it (in the style of httpx's
test_httpcore_all_exceptions_mapped): adding a word without deciding what it means fails here."""

from medic.vocab import ACTED, OUTCOME_ORDER, OUTCOME_TEXT, RUNNING, RemediationOutcome, parse_outcome


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
