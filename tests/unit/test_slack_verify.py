"""Slack request verification against Slack's own documented vector: valid once, and tampered,
stale, replayed or unsigned requests refused."""

import json
from pathlib import Path

import pytest

from service.chat.verify import SlackRequestRejected, SlackVerifier
from tests.support.slackreq import signed_headers

VECTOR = json.loads(
    (
        Path(__file__).parents[2]
        / ".."
        / "shared"
        / "reference"
        / "slack"
        / "slash_command_and_signature_vector.json"
    )
    .resolve()
    .read_text()
)
BODY = VECTOR["raw_body"].encode()
HEADERS = VECTOR["headers"]
WHEN = int(HEADERS["X-Slack-Request-Timestamp"])


def verifier(now: float = WHEN) -> SlackVerifier:
    return SlackVerifier(VECTOR["signing_secret"], now=lambda: now)


def test_slacks_vector_is_accepted_once() -> None:
    v = verifier()
    v.check(BODY, HEADERS)
    with pytest.raises(SlackRequestRejected, match="replayed"):
        v.check(BODY, HEADERS)


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_stale_or_future_timestamps_are_refused(offset: int) -> None:
    with pytest.raises(SlackRequestRejected, match="stale"):
        verifier(WHEN + offset).check(BODY, HEADERS)


def test_within_five_minutes_is_accepted() -> None:
    verifier(WHEN + 299).check(BODY, HEADERS)


def test_tampered_body_or_signature_is_refused() -> None:
    with pytest.raises(SlackRequestRejected, match="bad signature"):
        verifier().check(BODY.replace(b"text=", b"text=ack+incident-x"), HEADERS)
    forged = {**HEADERS, "X-Slack-Signature": HEADERS["X-Slack-Signature"][:-1] + "0"}
    with pytest.raises(SlackRequestRejected, match="bad signature"):
        verifier().check(BODY, forged)
    other_secret = signed_headers(BODY, secret="not-the-secret", timestamp=WHEN)
    with pytest.raises(SlackRequestRejected, match="bad signature"):
        verifier().check(BODY, other_secret)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"X-Slack-Signature": HEADERS["X-Slack-Signature"]}, "missing"),
        ({**HEADERS, "X-Slack-Request-Timestamp": "15314206l8"}, "malformed"),
    ],
)
def test_missing_or_malformed_headers_are_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SlackRequestRejected, match=reason):
        verifier().check(BODY, headers)


def test_our_test_signer_matches_slacks_algorithm() -> None:
    assert (
        signed_headers(BODY, secret=VECTOR["signing_secret"], timestamp=WHEN)["X-Slack-Signature"]
        == (HEADERS["X-Slack-Signature"])
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "²³",  # Unicode digits: str.isdigit() is True and int() takes them
        "\uff11\uff15\uff13\uff11",  # fullwidth digits
        "٣٤٥",  # Arabic-Indic digits
        "1" * 400,  # overflows float arithmetic
        "-1531420618",
        "+1531420618",
        " 1531420618",
        "1531420618\n",
        "1_531_420_618",
        "0x5b4",
        "",
    ],
)
def test_any_malformed_timestamp_is_a_rejection_never_an_error(timestamp: str) -> None:
    with pytest.raises(SlackRequestRejected):
        verifier().check(BODY, {**HEADERS, "X-Slack-Request-Timestamp": timestamp})


@pytest.mark.parametrize(
    "signature",
    ["v0=é" + "0" * 63, "v0=" + "g" * 64, "v1=" + "0" * 64, "v0=" + "0" * 65, "v0=", "é", "v0=" + "A" * 64],
)
def test_any_malformed_signature_is_a_rejection_never_an_error(signature: str) -> None:
    with pytest.raises(SlackRequestRejected):
        verifier().check(BODY, {**HEADERS, "X-Slack-Signature": signature})


def test_a_body_that_is_not_utf8_is_checked_as_bytes() -> None:
    """Slack signs bytes: an unsigned non-UTF-8 body is refused (not a decoding error), a signed one
    passes verification (the endpoint then answers 400)."""
    body = b"text=\xff\xfe&user_id=U1"
    with pytest.raises(SlackRequestRejected, match="bad signature"):
        verifier().check(body, HEADERS)
    verifier().check(body, signed_headers(body, secret=VECTOR["signing_secret"], timestamp=WHEN))
