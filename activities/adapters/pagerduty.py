"""PagerDuty Events API v2 over pdpyras (the deprecated predecessor of `pagerduty`; both sit
behind our Pager port). Routing keys are looked up by name here, so only names ever appear in
workflow history. The dedup key is the incident id: trigger, acknowledge and resolve of one
incident always address the same PagerDuty alert, and repeating one is harmless."""

import threading
from typing import Any

import pdpyras

from medic.ports import Page, PermanentError, TransientError

__all__ = ["PagerDutyEvents"]

_ENQUEUE = "/v2/enqueue"


class PagerDutyEvents:
    def __init__(
        self, keys: dict[str, str], *, default_key: str | None, events_url: str, timeout: float = 10.0
    ) -> None:
        self._keys = keys
        self._default = default_key
        self._base = events_url.removesuffix(_ENQUEUE).rstrip("/")
        self._timeout = timeout
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _session(self, routing_key: str) -> Any:
        with self._lock:
            session = self._sessions.get(routing_key)
            if session is None:
                session = pdpyras.EventsAPISession(routing_key)
                session.url = self._base
                session.timeout = self._timeout
                # Temporal retries the activity with back-off (honouring Retry-After); keep the SDK's
                # own retries short. Left alone, pdpyras retries a 429 without limit.
                session.retry.update({429: 1, 500: 1, 502: 1, 503: 1, 504: 1})
                session.max_http_attempts = 2
                session.max_network_attempts = 2
                self._sessions[routing_key] = session
            return session

    def send(self, page: Page) -> str:
        key = self._keys.get(page.routing_key_name) or self._default
        if not key:
            raise PermanentError(
                f"no PagerDuty routing key named {page.routing_key_name!r} (MEDIC_PAGERDUTY_ROUTING_KEYS)"
            )
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
        try:
            dedup: str = self._session(key).send_event(page.action, dedup_key=page.dedup_key, **properties)
        except pdpyras.PDClientError as err:
            response = getattr(err, "response", None)
            status = getattr(response, "status_code", None)
            if status is None or status == 429 or status >= 500:
                header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
                retry_after = float(header) if header and header.isdigit() else None
                raise TransientError(
                    f"PagerDuty unavailable ({status or err})", retry_after=retry_after
                ) from err
            raise PermanentError(
                f"PagerDuty refused the event ({status}): {getattr(response, 'text', err)}"
            ) from err
        return dedup
