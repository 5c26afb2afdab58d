"""Slack's request signing: HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the app's signing secret,
checked by slack-sdk's :class:`SignatureVerifier` (which also refuses timestamps more than 300 s off).

On top of that a signature is accepted once: a captured request replayed within those 300 s is
refused too. The memory of seen signatures is per process and bounded by the 300 s window."""

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from slack_sdk.signature import Clock, SignatureVerifier

__all__ = ["MAX_AGE_SECONDS", "SlackRequestRejected", "SlackVerifier"]

MAX_AGE_SECONDS = 300
_MAX_REMEMBERED = 100_000


class SlackRequestRejected(Exception):
    """Why a request claiming to come from Slack is refused (answered 401)."""


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackVerifier:
    def __init__(self, signing_secret: str, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(now))
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, body: bytes, headers: Mapping[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            raise SlackRequestRejected("missing X-Slack-Request-Timestamp or X-Slack-Signature")
        if not timestamp.isdigit():
            raise SlackRequestRejected("malformed X-Slack-Request-Timestamp")
        if abs(self._now() - int(timestamp)) > MAX_AGE_SECONDS:
            raise SlackRequestRejected("stale request: its timestamp is more than 300 s away")
        if not self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            raise SlackRequestRejected("bad signature")
        self._forget_old()
        if signature in self._seen:
            raise SlackRequestRejected("replayed request: this signature was already used")
        self._seen[signature] = int(timestamp)

    def _forget_old(self) -> None:
        horizon = self._now() - 2 * MAX_AGE_SECONDS
        while self._seen and (next(iter(self._seen.values())) < horizon or len(self._seen) > _MAX_REMEMBERED):
            self._seen.popitem(last=False)
