"""Slack's request signing: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the app's signing
secret, over the raw body bytes as Slack signs them, and a timestamp at most 300 s away.

Everything is checked before it is used, so a forged request is refused (401) however malformed: the
timestamp must be 1-12 ASCII digits (``int()`` and ``str.isdigit()`` also take ``²³`` and other
Unicode digits, and a 400-digit number overflows a float), the signature ``v0=`` and 64 hex digits,
and the body is compared as bytes (it need not be UTF-8 to be refused; a signed body that is not
UTF-8 is the endpoint's 400, not ours).

On top of that a signature is accepted once: a captured request replayed within those 300 s is
refused too. The memory of seen signatures is per process and bounded by the 300 s window."""

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

__all__ = ["MAX_AGE_SECONDS", "SlackRequestRejected", "SlackVerifier"]

MAX_AGE_SECONDS = 300
_MAX_REMEMBERED = 100_000
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only (re's [0-9], unlike \d, is ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SlackRequestRejected(Exception):
    """Why a request claiming to come from Slack is refused (answered 401)."""


class SlackVerifier:
    def __init__(self, signing_secret: str, *, now: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._now = now
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, body: bytes, headers: Mapping[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            raise SlackRequestRejected("missing X-Slack-Request-Timestamp or X-Slack-Signature")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SlackRequestRejected("malformed X-Slack-Request-Timestamp (expected Unix seconds)")
        if not _SIGNATURE.fullmatch(signature):
            raise SlackRequestRejected("malformed X-Slack-Signature (expected v0= and 64 hex digits)")
        if abs(self._now() - int(timestamp)) > MAX_AGE_SECONDS:
            raise SlackRequestRejected("stale request: its timestamp is more than 300 s away")
        expected = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        if not hmac.compare_digest(f"v0={expected.hexdigest()}", signature):
            raise SlackRequestRejected("bad signature")
        self._forget_old()
        if signature in self._seen:
            raise SlackRequestRejected("replayed request: this signature was already used")
        self._seen[signature] = int(timestamp)

    def _forget_old(self) -> None:
        horizon = self._now() - 2 * MAX_AGE_SECONDS
        while self._seen and (next(iter(self._seen.values())) < horizon or len(self._seen) > _MAX_REMEMBERED):
            self._seen.popitem(last=False)
