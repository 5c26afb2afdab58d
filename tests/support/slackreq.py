"""Requests built the way Slack builds them: form-encoded bodies signed with the app's signing
secret (``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``), for the Slack routes' tests."""

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

__all__ = ["SIGNING_SECRET", "command_body", "interaction_body", "signed_headers"]

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(text: str, *, user_id: str, response_url: str, user_name: str = "") -> bytes:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0MEDIC",
            "team_domain": "medic-test",
            "channel_id": "C0INCIDENTS",
            "channel_name": "incidents",
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": "/medic",
            "text": text,
            "api_app_id": "A0MEDICAPP",
            "response_url": response_url,
            "trigger_id": f"{time.time_ns()}.1.abc",
        }
    ).encode()


def interaction_body(action_id: str, value: str, *, user_id: str, response_url: str) -> bytes:
    """A ``block_actions`` payload, shaped like Slack's (see ../shared/reference/slack/)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T0MEDIC"},
        "api_app_id": "A0MEDICAPP",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0INCIDENTS"},
        "trigger_id": f"{time.time_ns()}.1.abc",
        "team": {"id": "T0MEDIC", "domain": "medic-test"},
        "channel": {"id": "C0INCIDENTS", "name": "incidents"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"medic:{value}",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
