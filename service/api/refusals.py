"""Webhook deliveries Medic refused, said in the API's log.

Alertmanager retries a 5xx only: a delivery refused with a 4xx (401 a token that is not Medic's, 413 over
a limit, 422 a body Medic cannot read) is an alert lost for good, and an Alertmanager holding a stale
token after a rotation gets 401 on every one. PagerDuty's, Opsgenie's and Jira's webhooks carry people's
acknowledgements: refused (a signing secret changed on one side), Medic goes on escalating over them.
Each refusal is counted in ``medic_webhook_requests_total{route,code}`` (alert MedicWebhookRefused, on
every route but Slack's, whose refusals the person typing sees at once); this says it in the log too, at
WARNING, at most once a minute per route and code with the number refused since, so that a storm of
deliveries cannot flood the log. What the caller presented is described by its scheme only, never the
token itself."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RefusalLog"]

log = logging.getLogger(__name__)

_WHY = {
    401: "missing or wrong credentials: the token Alertmanager (or Grafana) sends is not MEDIC_WEBHOOK_TOKEN "
    "(nor MEDIC_WEBHOOK_TOKEN_PREVIOUS during a rotation; docs/deployment.md, 'Rotating the webhook token')",
    413: "over a size limit (MEDIC_MAX_BODY_BYTES, MEDIC_MAX_ALERTS_PER_DELIVERY, "
    "MEDIC_MAX_INCIDENTS_PER_DELIVERY)",
    415: "a body sent as a form or text/plain, not Content-Type application/json",
    422: "a body Medic cannot read",
}
_LOST = "Alertmanager does not retry a 4xx: the alerts it carried are lost"
_PEOPLE = "an acknowledgement or resolution made there does not reach Medic, which goes on escalating"
# What a refusal means on the routes people's tools call, where it is not Alertmanager's.
_ROUTES: dict[str, tuple[dict[int, str], str]] = {
    "pagerduty": (
        {401: "not signed with MEDIC_PAGERDUTY_WEBHOOK_SECRET (the subscription's differs, or it is unset)"},
        f"The event was not taken: {_PEOPLE}",
    ),
    "opsgenie": (
        {401: "the webhook integration's credential is not MEDIC_OPSGENIE_WEBHOOK_SECRET (or it is unset)"},
        f"The action was not taken: {_PEOPLE}",
    ),
    "jira": (
        {401: "not signed nor authorised with MEDIC_JIRA_WEBHOOK_SECRET (the webhook's differs, or unset)"},
        f"The move was not taken: {_PEOPLE}",
    ),
    "slack": (
        {401: "not signed with MEDIC_SLACK_SIGNING_SECRET (or Slack is not configured here)"},
        "The person's command or button was refused",
    ),
}


@dataclass
class _Seen:
    logged_at: float
    since: int = 0


@dataclass
class RefusalLog:
    """Says refused deliveries at most once per ``every`` seconds per (route, code)."""

    every: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[tuple[str, int], _Seen] = field(default_factory=dict)

    def _due(self, key: tuple[str, int]) -> str | None:
        """None while this key was said less than ``every`` ago (counted), else what was held since."""
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.logged_at < self.every:
            seen.since += 1
            return None
        self._seen[key] = _Seen(logged_at=now)
        return f"{seen.since} more since the last such line" if seen is not None and seen.since else ""

    def refused(self, route: str, code: int, *, detail: str = "", presented: str = "") -> None:
        more = self._due((route, code))
        if more is None:
            return
        reasons, lost = _ROUTES.get(route, (_WHY, _LOST))
        why = reasons.get(code, "refused")
        said = f" ({detail})" if detail and detail not in why else ""
        by = f"; the request carried {presented}" if presented else ""
        log.warning(
            "webhook %s refused a delivery with %d, %s%s%s%s. %s",
            route,
            code,
            why,
            said,
            by,
            f"; {more}" if more else "",
            lost,
        )

    def previous_token(self, route: str) -> None:
        """A delivery authenticated with MEDIC_WEBHOOK_TOKEN_PREVIOUS: a sender not yet on the new token."""
        more = self._due((route, 0))
        if more is None:
            return
        log.warning(
            "webhook %s: a delivery used MEDIC_WEBHOOK_TOKEN_PREVIOUS%s; move its sender to "
            "MEDIC_WEBHOOK_TOKEN, then unset the previous one",
            route,
            f" ({more})" if more else "",
        )
