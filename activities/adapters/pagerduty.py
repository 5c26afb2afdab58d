"""PagerDuty Events API v2 over `pagerduty` (the maintained successor of pdpyras, with the same session
API), behind our Pager port: alert events (``/v2/enqueue``) and Change Events
(``/v2/change/enqueue``, for the remediations Medic runs). Routing keys are looked up by name here, so
only names ever appear in workflow history. The dedup key is the incident id: trigger, acknowledge and
resolve of one incident always address the same PagerDuty alert, and repeating one is harmless.

Failures go through :func:`activities.adapters.http.classify`: no answer, 429 and 5xx are transient
(Retry-After honoured by Temporal's retry), other 4xx permanent. The SDK's own retries are kept to
one: left alone it retries a 429 without limit."""

import threading
from typing import Any

import pagerduty

from activities.adapters.http import classify
from medic.ports import Change, Page, PermanentError

__all__ = ["PagerDutyEvents"]

_ENQUEUE = "/v2/enqueue"


class PagerDutyEvents:
    label = "PagerDuty"

    def __init__(
        self, keys: dict[str, str], *, default_key: str | None, events_url: str, timeout: float = 10.0
    ) -> None:
        self._keys = keys
        self._default = default_key
        self._base = events_url.removesuffix(_ENQUEUE).rstrip("/")
        self._timeout = timeout
        self._clients: dict[str, pagerduty.EventsApiV2Client] = {}
        self._lock = threading.Lock()

    def _client(self, routing_key: str) -> pagerduty.EventsApiV2Client:
        with self._lock:
            client = self._clients.get(routing_key)
            if client is None:
                client = pagerduty.EventsApiV2Client(routing_key)
                if self._base.startswith("https://"):
                    client.url = self._base
                else:
                    # `pagerduty` refuses plain-HTTP base URLs in its setter; local doubles (and
                    # plain-HTTP egress proxies) speak HTTP. MEDIC_PAGERDUTY_EVENTS_URL decides.
                    client._url = self._base
                client.timeout = self._timeout  # type: ignore[assignment]  # httpx takes float seconds
                # Temporal retries the activity with back-off (honouring Retry-After); one quick SDK
                # retry at most (0 would make the SDK retry a 429 forever).
                client.retry = {429: 1, 500: 1, 502: 1, 503: 1, 504: 1}
                client.max_http_attempts = 2
                client.max_network_attempts = 1
                client.sleep_timer = 0.25
                self._clients[routing_key] = client
            return client

    def _key(self, name: str) -> str:
        key = self._keys.get(name) or self._default
        if not key:
            raise PermanentError(f"no PagerDuty routing key named {name!r} (MEDIC_PAGERDUTY_ROUTING_KEYS)")
        return key

    def send(self, page: Page) -> str:
        properties: dict[str, Any] = {}
        if page.action == "trigger":
            payload: dict[str, Any] = {
                "summary": page.summary,
                "source": page.source,
                "severity": page.severity,
                "custom_details": page.custom_details,
            }
            if page.component:
                payload["component"] = page.component
            if page.group:
                payload["group"] = page.group
            properties["payload"] = payload
            if page.links:
                properties["links"] = page.links
        client = self._client(self._key(page.routing_key_name))
        try:
            dedup: str = client.send_event(page.action, dedup_key=page.dedup_key, **properties)
        except pagerduty.Error as err:
            raise _translate(err, f"{page.action} {page.dedup_key}") from err
        return dedup

    def change(self, change: Change) -> None:
        payload: dict[str, Any] = {"summary": change.summary, "source": change.source}
        if change.timestamp:
            payload["timestamp"] = change.timestamp
        if change.custom_details:
            payload["custom_details"] = change.custom_details
        client = self._client(self._key(change.routing_key_name))
        try:
            client.send_change_event(payload=payload, links=change.links or None)
        except pagerduty.Error as err:
            raise _translate(err, "record a change") from err


def _translate(err: pagerduty.Error, what: str) -> Exception:
    response = err.response
    if response is None:
        return classify(None, service="PagerDuty", what=what, detail=str(err))
    return classify(
        response.status_code,
        service="PagerDuty",
        what=what,
        headers=dict(response.headers),
        detail=response.text[:500],
    )
