"""Secrets never reach the timeline: configured ones and the usual credential shapes are redacted
as an entry is built, in its message and its (nested) data."""

from datetime import UTC, datetime

import pytest

import medic.redact
from medic.incident import IncidentState
from medic.redact import REDACTED, redact, redact_data, register_secrets
from medic.timeline import TimelineEntry

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
    state.record(
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
