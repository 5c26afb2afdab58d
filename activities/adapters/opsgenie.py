"""Opsgenie as a pager, over its Alert API v2 (https://docs.opsgenie.com/docs/alert-api), behind our
Pager port, next to or instead of PagerDuty.

* The alias is the page's ``alias`` (the incident id for the first routing key an incident paged,
  ``<incident id>:<routing-key name>`` for the others (not ``/``: an encoded slash in a path is refused or
  decoded into a separator by many servers), as the workflow recorded it), else its dedup key:
  Opsgenie de-duplicates open alerts by alias, so trigger, acknowledge and close of one routing key's
  page address one alert, repeating one is harmless, and an escalation to another integration (another
  API key) opens an alert of its own instead of being folded into the first one's count.
* ``POST /v2/alerts`` is asynchronous: 202 ``{"result": "Request will be processed", "requestId": ...}``;
  whether the alert was opened is asked of ``GET /v2/alerts/requests/{requestId}`` (a create Opsgenie
  failed is a failed page, not a page sent); acknowledge, close and notes go to
  ``/v2/alerts/{alias}/...?identifierType=alias`` (one that fails later, e.g. "Alert does not exist" for an
  alert closed in the app, changes nothing: not asked).
* Auth: ``Authorization: GenieKey <api key>``, one key per integration (team), looked up by the routing
  key's name like PagerDuty's, so only names enter workflow history.
* Priority: Medic's P1-P5 map one to one onto Opsgenie's P1-P5 (nothing is lost); pages without one fall
  back on the PagerDuty severity.
* A page or note whose ``told_by`` names routing keys is sent by nothing: those keys' pages took it to the
  same alert (an incident paged before ``pager-alias-per-key``, one alias for every key).
* A close because the incident merged into its cause's carries a ``note`` saying so (the close request's
  optional field), so the alert does not look resolved while the outage goes on.
* Acknowledge, close and notes carry ``user`` :data:`MEDIC_USER` and ``source`` :data:`MEDIC_SOURCE`, so
  that Opsgenie's Webhook integration, posting them back to ``POST /webhooks/opsgenie``, names Medic as
  who did it, and Medic ignores its own actions (no loop).
* Opsgenie shows ``message``, ``description`` and notes as plain text: control characters are dropped
  and every field is cut to Opsgenie's limits (message 130, description 15,000, note 25,000 characters).

Failures go through :func:`activities.adapters.http.classify`; a 429's wait is its
``X-RateLimit-Period-In-Sec`` (Opsgenie sends no Retry-After). Atlassian has announced the end of
Opsgenie as a stand-alone product (alerting moves to Jira Service Management / Compass); the same Alert
API is served there."""

import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from activities.adapters.http import classify
from medic.ports import Change, Page, PermanentError
from medic.vocab import Priority

__all__ = ["CONFIRM_WAITS", "MEDIC_SOURCE", "MEDIC_USER", "OpsgeniePager", "opsgenie_priority", "plain"]

log = logging.getLogger(__name__)

# How long to wait before each ask whether Opsgenie opened an alert (it processes creates asynchronously,
# usually within a second): about 4 s in all, well within a notification's 30 s start-to-close timeout.
CONFIRM_WAITS = (0.2, 0.3, 0.5, 1.0, 2.0)
# ... and the asks with them, however slowly Opsgenie answers: each ask's timeout is what is left of it.
# Five asks at the client's 10 s timeout, after a create of up to 10 s, outlasted that 30 s: the activity
# timed out after its create had opened the alert, and was retried (the create sent again).
CONFIRM_WITHIN = 8.0

# Who Medic's acknowledge, close and notes say they come from (the API's ``user``: "display name of the
# request owner", and ``source``). Opsgenie's Webhook integration posts these actions back as an alert's
# ``username`` and ``source.name``: POST /webhooks/opsgenie knows them by these, and ignores them.
MEDIC_USER = "Medic"
MEDIC_SOURCE = "medic"

# Opsgenie's 429 carries X-RateLimit-State (THROTTLED), X-RateLimit-Reason (the domain throttled) and
# X-RateLimit-Period-In-Sec (the bucket's period: 60, 1), and no Retry-After
# (https://docs.opsgenie.com/docs/api-rate-limiting): the period is the wait.
RATE_LIMIT_PERIOD = "X-RateLimit-Period-In-Sec"
_LIMITS = {"message": 130, "alias": 512, "description": 15_000, "note": 25_000, "entity": 512, "source": 100}
_SEVERITY_PRIORITY = {
    "critical": Priority.P1,
    "error": Priority.P2,
    "warning": Priority.P3,
    "info": Priority.P5,
}
_PRIORITY_IN_SUMMARY = re.compile(rf"^\[({'|'.join(Priority)})\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(text: str, limit: int) -> str:
    """Text for an Opsgenie field: no control characters (newlines and tabs kept), within ``limit``."""
    return _CONTROL.sub("", text)[:limit]


def opsgenie_priority(page: Page) -> str:
    if page.priority:
        return page.priority
    found = _PRIORITY_IN_SUMMARY.match(page.summary)
    return found.group(1) if found else _SEVERITY_PRIORITY.get(page.severity, Priority.P3)


class OpsgeniePager:
    label = "Opsgenie"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        keys: dict[str, str] | None = None,
        base_url: str = "https://api.opsgenie.com",
        timeout: float = 10.0,
        confirm_waits: Sequence[float] = CONFIRM_WAITS,
        confirm_within: float = CONFIRM_WITHIN,
    ) -> None:
        self._keys, self._default = dict(keys or {}), api_key
        self._confirm_waits, self._confirm_within = tuple(confirm_waits), confirm_within
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self._base, timeout=self._timeout)
            return self._client

    def _key(self, name: str) -> str:
        key = self._keys.get(name) or self._default
        if not key:
            raise PermanentError(f"no Opsgenie API key named {name!r} (MEDIC_OPSGENIE_API_KEYS)")
        return key

    def _post(self, key: str, path: str, body: dict[str, Any], what: str, **params: str) -> str:
        try:
            response = self._http().post(
                path, json=body, params=params or None, headers={"Authorization": f"GenieKey {key}"}
            )
        except httpx.HTTPError as err:
            raise classify(None, service="Opsgenie", what=what, detail=str(err)) from err
        if response.status_code >= 300:
            raise classify(
                response.status_code,
                service="Opsgenie",
                what=what,
                headers=dict(response.headers),
                detail=response.text[:500],
                hint=RATE_LIMIT_PERIOD,
            )
        answer = response.json() if response.content else {}
        return str(answer.get("requestId") or "")  # ('' none said: nothing to ask about)

    def send(self, page: Page) -> str:
        key = self._key(page.routing_key_name)
        alias = plain(page.alias or page.dedup_key, _LIMITS["alias"])
        if page.action == "trigger":
            details = {k: plain(_said(v), 500) for k, v in page.custom_details.items()}
            # the description whole (15,000 characters), not cut as each detail's value is (500): what to do
            # comes last in a self-healing note; then where to look (a list read "services: ['checkout']")
            whole = "\n".join(
                [f"{k}: {_said(v)}" for k, v in page.custom_details.items()]
                + [f"{link['text']}: {link['href']}" for link in page.links if link.get("href")]
            )
            body: dict[str, Any] = {
                "message": plain(page.summary, _LIMITS["message"]) or alias,
                "alias": alias,
                "description": plain(whole or page.summary, _LIMITS["description"]),
                "priority": opsgenie_priority(page),
                "source": plain(page.source, _LIMITS["source"]),
                "details": details,
                "tags": ["medic"],
            }
            if page.component:
                body["entity"] = plain(page.component, _LIMITS["entity"])
            request_id = self._post(key, "/v2/alerts", body, f"open an alert for {alias}")
            if request_id:
                self._confirm(key, request_id, alias)
            return page.dedup_key
        if page.told_by:
            return page.dedup_key  # another routing key's page acknowledged or closed this alert already
        verb = "acknowledge" if page.action == "acknowledge" else "close"
        path = f"/v2/alerts/{quote(alias, safe='')}/{verb}"
        body = {"source": MEDIC_SOURCE, "user": MEDIC_USER}
        merged_into = page.custom_details.get("merged_into")
        if verb == "close" and merged_into:
            # Closed because the outage goes on in its cause's incident: said with the close (the API's
            # ``note``), or the on-call saw the alert closed with no word while the outage went on.
            body["note"] = plain(
                f"Merged into {merged_into}, which shares its cause: the outage goes on there, and its "
                "alerts page and close.",
                _LIMITS["note"],
            )
        self._post(key, path, body, f"{verb} {alias}", identifierType="alias")
        return page.dedup_key

    def _confirm(self, key: str, request_id: str, alias: str) -> None:
        """Whether Opsgenie opened the alert: its 202 "does not guarantee that the request will be handled
        successfully" (the create is processed later), so its request status is asked (404 while not
        processed yet). One that failed is a :class:`PermanentError` naming Opsgenie's status: recorded
        ``sent`` before, while nobody had been paged. Not processed within the waits, or the status not
        readable: taken as sent, as before (logged)."""
        deadline = time.monotonic() + self._confirm_within
        for wait in self._confirm_waits:
            if time.monotonic() + wait >= deadline:
                break
            time.sleep(wait)
            try:
                response = self._http().get(
                    f"/v2/alerts/requests/{quote(request_id, safe='')}",
                    headers={"Authorization": f"GenieKey {key}"},
                    timeout=max(0.001, min(self._timeout, deadline - time.monotonic())),
                )
            except httpx.HTTPError as err:
                log.warning("Opsgenie request status of %s unreadable: %s", alias, type(err).__name__)
                return
            if response.status_code == 404:
                continue  # not processed yet
            if response.status_code != 200:
                log.warning("Opsgenie request status of %s unreadable (%s)", alias, response.status_code)
                return
            try:
                answer = response.json()
                data = (answer.get("data") or {}) if isinstance(answer, dict) else {}
            except ValueError:  # (a proxy's page): unreadable, not a failed page (it was retried as a bug)
                data = {}
            if not isinstance(data, dict) or "isSuccess" not in data:
                log.warning("Opsgenie request status of %s unreadable (no isSuccess)", alias)
                return
            if data.get("isSuccess") is False:
                status = plain(str(data.get("status") or "no status"), 300)
                raise PermanentError(f"Opsgenie did not open the alert {alias}: {status}")
            return
        log.warning(
            "Opsgenie had not processed the alert %s (request %s) yet: taken as sent", alias, request_id
        )

    def note(self, routing_key_name: str, dedup_key: str, text: str, *, told_by: Sequence[str] = ()) -> None:
        """Add a note to the incident's alert (plain text), unless another routing key noted it."""
        if told_by:
            return
        key = self._key(routing_key_name)
        path = f"/v2/alerts/{quote(dedup_key, safe='')}/notes"
        body = {"source": MEDIC_SOURCE, "user": MEDIC_USER, "note": plain(text, _LIMITS["note"]) or "-"}
        self._post(key, path, body, f"add a note to {dedup_key}", identifierType="alias")

    def change(self, change: Change) -> None:
        """Opsgenie has no change events: nothing to record."""


def _said(value: object) -> str:
    """A detail's value as people read it: a list as ``a, b``, not Python's ``['a', 'b']``."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
