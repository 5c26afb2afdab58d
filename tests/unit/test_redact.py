"""Secrets never reach the timeline: configured ones and the usual credential shapes are redacted
as an entry is built, in its message and its (nested) data."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import medic.redact
from medic.incident import IncidentState
from medic.redact import REDACTED, redact, redact_data, register_secrets
from medic.timeline import TimelineEntry
from tests.support import redact_reference as reference

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIGURED = "R0UTINGKEY0123456789abcdefABCDEF"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("slack said xoxb-1700000000-abcdefghijk", "xoxb-1700000000-abcdefghijk"),
        ("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("retry with password=hunter2hunter2 now", "hunter2hunter2"),
        ('api_key: "s3cr3t value"', "s3cr3t value"),
        ("db at postgres://medic:pa55word@db:5432/x", "pa55word"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "MIIE"),
        ("aws AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
        ("env DB_PASSWORD=hunter22hunter set", "hunter22hunter"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENG", "wJalrXUtnFEMIK7MDENG"),
        ("GITHUB_TOKEN=ghp_abcdefghijklmnop", "ghp_abcdefghijklmnop"),
        ('{"client_secret": "s3cr3tvalue99"}', "s3cr3tvalue99"),
        # by their shape alone, in a label value (a review, 2026-12-06)
        (
            "target https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        ("v ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijkl", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
    ],
)
def test_credential_shapes_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "checkout p99 latency 2.3s on pod checkout-7d9f (fingerprint c0ffee0000000001)",
        'Silenced alertname="CheckoutDown" until 2026-11-23 16:14Z by U0SRE.',
        "Acknowledged by U0ALICE (slack).",
        "PagerDuty trigger sent to routing_key_name=checkout.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_configured_secrets_are_redacted_in_every_entry_by_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(medic.redact, "_known", set())  # this test's secrets stay with this test
    register_secrets([CONFIGURED, None, "short"])
    state = IncidentState(id="incident-x", opened_at=T0)
    state.relay(
        T0, "command.resolve", f"resolved, key {CONFIGURED} rotated", actor="U1", nested={"k": [CONFIGURED]}
    )
    entry = TimelineEntry(at=T0, kind="x.y", actor=f"bot {CONFIGURED}", message="m", data={CONFIGURED: 1})
    dumped = state.model_dump_json() + entry.model_dump_json()
    assert CONFIGURED not in dumped
    assert redact("short words stay") == "short words stay", "secrets under 6 characters are not registered"
    # Redaction survives a round trip through Temporal's JSON (it is idempotent).
    again = IncidentState.model_validate_json(state.model_dump_json())
    assert again.timeline[-1].message == state.timeline[-1].message


def test_a_value_under_a_secret_looking_key_is_redacted() -> None:
    data = redact_data(
        {"password": "hunter22hunter", "routing_key_name": "checkout", "n": {"api_key": "k3y"}}
    )
    assert data == {"password": REDACTED, "routing_key_name": "checkout", "n": {"api_key": REDACTED}}


# ---- linear time, and the same answers as before ---------------------------------------------------

# Pieces the patterns care about (names, separators, quotes, schemes, markers, case-folding oddities:
# the Kelvin sign and the long s match k and s under re.IGNORECASE), so random text hits the edges.
_PIECES = [
    *("token", "password", "passwd", "pwd", "secret", "api_key", "api-key", "apikey", "access_key"),
    *("routing-key", "signing_secret", "authorization", "bearer", "Basic", "xoxb-", "xapp-", "AKIA"),
    *("-", "_", ".", "=", ":", '"', "'", " ", "\n", "\t", ",", ";", "}", "+", "~", "@", "/", "://"),
    *("a", "X", "1", "\u00e9", "\u212a", "\u017f", "http", "abcdefgh", "12345678", "ABCDEFGHIJKLMNOP"),
    *("_name", "_names", "_NAME", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"),
    *("-----BEGIN ", "PRIVATE KEY-----", "-----END "),
    *("eyJ", "ghp_", "github_pat_", "hooks.slack.com/services/", "abcdefghijklmnopqrstuvwxyz0123"),
]
_TEXT = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=30).map("".join)


@contextlib.contextmanager
def _no_configured_secrets() -> Iterator[None]:
    """Only the shapes (configured secrets are a plain replace); other tests in this process may
    have registered some. (Not a fixture: hypothesis runs many examples per test call.)"""
    saved = set(medic.redact._known)
    medic.redact._known.clear()
    try:
        yield
    finally:
        medic.redact._known.update(saved)


@settings(max_examples=1500, deadline=None)
@given(_TEXT)
@example("https://hooks.slack.com/services/T0/B0/secret/")  # once left whole: a trailing slash (found here)
def test_redaction_gives_the_answers_the_backtracking_patterns_gave(text: str) -> None:
    """The old patterns, kept verbatim in tests.support.redact_reference, are the specification: on
    inputs small enough for them to finish, the linear ones agree."""
    with _no_configured_secrets():
        assert redact(text) == reference.redact(text)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(_TEXT, _TEXT | st.integers(), max_size=4))
def test_structures_are_redacted_as_before_keys_included(data: dict[str, Any]) -> None:
    with _no_configured_secrets():
        assert redact_data(data) == reference.redact_data(data)
        for key in data:
            assert medic.redact._secret_key(key) == (reference._SECRET_KEY.search(key) is not None)


N = 100_000  # characters; the old patterns took 44 s for 4,000 of the first one


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token-" * (N // 6), "token-" * (N // 6)),  # an alert name: no separator, nothing to redact
        ("token-" * (N // 6) + "=hunter22", "token-" * (N // 6) + f"={REDACTED}"),
        ("x.token" * (N // 7) + "=1", "x.token" * (N // 7) + f"={REDACTED}"),
        ("password" * (N // 8), "password" * (N // 8)),
        ("a=" * (N // 2) + " token", "a=" * (N // 2) + " token"),
        ("token='x' " * (N // 10), f"token={REDACTED} " * (N // 10)),
        ("token='" + "x" * N, f"token={REDACTED}"),  # never closed: the value runs to the end
        ("xoxb-" + "a1-" * (N // 3), REDACTED),
        ("://" * (N // 3), "://" * (N // 3)),
        ("a." * (N // 2) + "://u:pw@h", "a." * (N // 2) + f"://u:{REDACTED}@h"),
        ("bearer" + " " * N + "x", "bearer" + " " * N + "x"),
        ("-----BEGIN RSA PRIVATE KEY-----\n" * (N // 32), "-----BEGIN RSA PRIVATE KEY-----\n" * (N // 32)),
        ("-----BEGIN RSA PRIVATE KEY-----\n" * (N // 32) + "-----END RSA PRIVATE KEY-----", REDACTED),
        ("eyJ" * (N // 3), "eyJ" * (N // 3)),
        ("eyJa." * (N // 5), "eyJa." * (N // 5)),
        ("ghp_" * (N // 4), "ghp_" * (N // 4)),
        (  # the last segment is the secret, a trailing slash or not (as the backtracking pattern had it)
            "hooks.slack.com/services/" + "a/" * (N // 2),
            "hooks.slack.com/services/" + "a/" * (N // 2 - 1) + "[redacted]/",
        ),
    ],
    ids=lambda v: repr(v[:12]) if isinstance(v, str) else str(v),
)
def test_adversarial_inputs_of_100k_characters_are_redacted_correctly(text: str, expected: str) -> None:
    """Inputs that made the old patterns backtrack for hours. No clock is read (the project's rule):
    were redaction quadratic again these would hang rather than fail; ``python -m bench.redact_linear``
    prints the figures."""
    with _no_configured_secrets():
        assert redact(text) == expected


def test_a_key_of_100k_characters_is_judged_correctly() -> None:
    names = "token_" * (N // 6) + "names"  # every "token" here is part of a name of names
    assert redact_data({names: "v"}) == {names: "v"}
    assert redact_data({"token_" * (N // 6) + "x": "v"}) == {"token_" * (N // 6) + "x": REDACTED}
