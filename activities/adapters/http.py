"""One HTTP failure classifier and one Retry-After parser for every adapter.

Every adapter, whatever SDK it sits on, reduces a failed call to ``(status, headers)`` (``status``
``None`` when no answer came: a timeout or a connection error) and asks :func:`classify`:

    no answer, 408, 425, 429, 5xx   -> TransientError (retry_after from Retry-After, seconds or HTTP-date;
                                       else from the service's own header, ``hint``)
    any other 4xx (and 3xx)         -> PermanentError

``tests/adapters/test_http_classes.py`` holds every adapter to this table.
"""

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from medic.ports import PermanentError, TransientError

__all__ = [
    "TRANSIENT_STATUSES",
    "Access",
    "base_and_params",
    "classify",
    "json_answer",
    "redirected",
    "retry_after",
]

TRANSIENT_STATUSES = frozenset({408, 425, 429})
_MAX_WAIT = 3600.0  # a Retry-After further out than an hour is treated as an hour
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token


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
    hint: str | None = None,
) -> TransientError | PermanentError:
    """The port error for a failed call to ``service`` while trying to ``what``. ``hint`` names a header
    of the service's own that says how long to wait (in seconds) where it sends no Retry-After
    (Opsgenie's ``X-RateLimit-Period-In-Sec``)."""
    suffix = f": {detail}" if detail else ""
    if status is None:
        return TransientError(f"{service} unreachable while trying to {what}{suffix}")
    if status in TRANSIENT_STATUSES or status >= 500:
        wait = retry_after(_header(headers, "Retry-After"))
        if wait is None and hint is not None:
            wait = retry_after(_header(headers, hint))
        return TransientError(f"{service} unavailable while trying to {what} ({status})", retry_after=wait)
    return PermanentError(f"{service} refused to {what} ({status}){suffix}")


def json_answer(response: httpx.Response, *, service: str, what: str) -> Any:
    """The JSON body of an httpx answer with status 200; any other status as :func:`classify` says (the
    body's start as detail), a body that is not JSON a :class:`TransientError`."""
    if response.status_code != 200:
        detail = redirected(response) or response.text.strip()[:300]
        raise classify(
            response.status_code,
            service=service,
            what=what,
            headers=response.headers,
            detail=detail,
        )
    try:
        return response.json()
    except ValueError as err:
        raise TransientError(f"{service} answered with no JSON while trying to {what}") from err


@dataclass(frozen=True)
class Access:
    """How Medic is let into a Prometheus or an Alertmanager beyond its URL (which may carry basic auth
    and a path prefix): a bearer token read from a file at every call (a projected service-account
    token rotates), a tenant sent as ``X-Scope-OrgID`` (Grafana Mimir, Cortex: ``a|b`` federates a
    query where Mimir's tenant federation is on), and the CA bundle that signs its certificate.
    ``setting`` names the settings' prefix, for the words of a refusal (``MEDIC_PROMETHEUS``)."""

    service: str
    setting: str
    bearer_token_file: Path | None = None
    tenant: str | None = None
    ca_file: Path | None = None

    def headers(self) -> dict[str, str]:
        """The headers of one call: the token file is read now (an unreadable one is a
        :class:`PermanentError` naming it)."""
        out: dict[str, str] = {}
        if self.tenant:
            out["X-Scope-OrgID"] = self.tenant
        if self.bearer_token_file is not None:
            try:
                token = self.bearer_token_file.read_text().strip()
            except OSError as err:
                said = f"{self.service} bearer token file {self.bearer_token_file} unreadable: {err.strerror}"
                raise PermanentError(said) from err
            if not _TOKEN.fullmatch(token):
                # never sent, and never quoted: a header the HTTP client refuses would carry it into
                # the error, the scan's last_error and the logs
                raise PermanentError(
                    f"{self.service} bearer token file {self.bearer_token_file} holds no bearer token: "
                    "one line of letters, digits and -._~+/ (RFC 6750), = at its end; it is empty or holds "
                    "other characters (two lines, spaces, a header name)"
                )
            out["Authorization"] = f"Bearer {token}"
        return out

    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify``: the CA bundle's context, else the system's."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True

    def refuse_without_tenant(self, response: httpx.Response, what: str) -> None:
        """Mimir's and Cortex's 401 for a call without a tenant (dskit's ``AuthenticateUser`` answers
        ``no org id`` in plain text), and their refusal of several where tenant federation is off
        (dskit's ``user.ErrTooManyOrgIDs``, ``multiple org IDs present``, a 4xx or a 5xx by component),
        and Mimir's Alertmanager's 404 for a tenant it holds nothing for, as a :class:`PermanentError`
        saying what to set."""
        if response.status_code < 400:
            return
        head = response.text[:300]
        if "multiple org IDs present" in head:
            flag = (
                "-querier.multi-tenant-queries-enabled=true"
                if self.service == "Loki"
                else "-tenant-federation.enabled=true"
            )
            raise PermanentError(
                f"{self.service} refused to {what} ({response.status_code}): multiple org IDs present; "
                f"{self.setting}_TENANT names several tenants ({self.tenant!r}), which it reads together "
                f"only with {flag}: turn it on, or name one tenant"
            )
        if response.status_code == 404 and "the Alertmanager is not configured" in head:
            # Mimir's Alertmanager for a tenant it holds no configuration for (multitenant.go, ServeHTTP)
            raise PermanentError(
                f"{self.service} refused to {what} (404): {response.text.strip()[:200]}: "
                + (
                    f"a Mimir Alertmanager with no configuration for tenant {self.tenant!r}; "
                    f"check {self.setting}_TENANT"
                    if self.tenant
                    else f"a Mimir Alertmanager, which needs the tenant whose alerts it holds: set "
                    f"{self.setting}_TENANT"
                )
            )
        # 401 from dskit's middleware; Loki answers 400 where the missing tenant is found past it
        # (pkg/util/server/error.go maps user.ErrNoOrgID to 400)
        if response.status_code not in (400, 401) or "no org id" not in head:
            return
        if self.tenant:
            hint = f"{self.setting}_TENANT is set: a proxy in between may drop the X-Scope-OrgID header"
        elif self.service == "Loki":
            hint = (
                f"Loki runs with auth_enabled: true (multi-tenant), which needs the tenant to read: set "
                f"{self.setting}_TENANT (sent as X-Scope-OrgID)"
            )
        else:
            hint = (
                f"{self.service} is a Grafana Mimir or a Cortex (or behind its gateway), which needs the "
                f"tenant to read: set {self.setting}_TENANT (sent as X-Scope-OrgID)"
            )
        said = response.text.strip()[:200]
        raise PermanentError(f"{self.service} refused to {what} ({response.status_code}): {said}; {hint}")


def base_and_params(url: str) -> tuple[str, httpx.QueryParams]:
    """A configured URL without its query, and the query's parameters, sent with every call (httpx
    drops a base URL's query: OpenShift's thanos-querier and alertmanager-main take
    ``?namespace=shop`` on their tenancy port, 9092, and it was lost without a word)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None)).rstrip("/"), parsed.params


def redirected(response: httpx.Response) -> str:
    """For a redirect (a proxy sending Medic to a login page: OpenShift's oauth-proxy, an SSO gateway),
    where it sends and what to check, since its page says nothing; else ``""``."""
    if not 300 <= response.status_code < 400:
        return ""
    try:
        where = httpx.URL(response.headers.get("location", "")).copy_with(
            userinfo=b"", query=None, fragment=None
        )
    except httpx.InvalidURL:
        where = httpx.URL("")
    return (
        f"redirected to {str(where)[:200] or 'nowhere'}: a login page in front (an oauth-proxy, an SSO "
        "gateway) took Medic's credentials for none: check the bearer token file or the URL's basic auth"
    )
