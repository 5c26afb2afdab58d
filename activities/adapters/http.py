"""One HTTP failure classifier and one Retry-After parser for every adapter.

Every adapter, whatever SDK it sits on, reduces a failed call to ``(status, headers)`` (``status``
``None`` when no answer came: a timeout or a connection error) and asks :func:`classify`:

    no answer, 408, 425, 429, 5xx   -> TransientError (retry_after from Retry-After, seconds or HTTP-date)
    any other 4xx (and 3xx)         -> PermanentError

``tests/adapters/test_http_classes.py`` holds every adapter to this table.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from medic.ports import PermanentError, TransientError

__all__ = ["TRANSIENT_STATUSES", "classify", "json_answer", "retry_after"]

TRANSIENT_STATUSES = frozenset({408, 425, 429})
_MAX_WAIT = 3600.0  # a Retry-After further out than an hour is treated as an hour


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date);
    ``None`` when absent or unreadable, 0 for a date in the past."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), _MAX_WAIT)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), _MAX_WAIT)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def classify(
    status: int | None,
    *,
    service: str,
    what: str,
    headers: Mapping[str, str] | None = None,
    detail: str = "",
) -> TransientError | PermanentError:
    """The port error for a failed call to ``service`` while trying to ``what``."""
    suffix = f": {detail}" if detail else ""
    if status is None:
        return TransientError(f"{service} unreachable while trying to {what}{suffix}")
    if status in TRANSIENT_STATUSES or status >= 500:
        wait = retry_after(_header(headers, "Retry-After"))
        return TransientError(f"{service} unavailable while trying to {what} ({status})", retry_after=wait)
    return PermanentError(f"{service} refused to {what} ({status}){suffix}")


def json_answer(response: httpx.Response, *, service: str, what: str) -> Any:
    """The JSON body of an httpx answer with status 200; any other status as :func:`classify` says (the
    body's start as detail), a body that is not JSON a :class:`TransientError`."""
    if response.status_code != 200:
        raise classify(
            response.status_code,
            service=service,
            what=what,
            headers=response.headers,
            detail=response.text.strip()[:300],
        )
    try:
        return response.json()
    except ValueError as err:
        raise TransientError(f"{service} answered with no JSON while trying to {what}") from err
