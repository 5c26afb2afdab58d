"""Alertmanager over its v2 API (httpx): silences (create one, read its state, expire it), and the
alerts it holds for Medic's receiver but may not have delivered yet (``GET /api/v2/alerts``).

``POST /api/v2/silences`` answers ``{"silenceID": ...}``; ``GET /api/v2/silence/{id}`` answers the
silence with ``status.state`` (``active``, ``pending`` or ``expired``). Alertmanager rejects bad
matchers with 400 and a text body, which becomes a :class:`PermanentError` carrying that text."""

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from activities.adapters.http import Access, base_and_params, classify, json_answer, redirected
from medic.feedback import Matcher
from medic.ports import PermanentError, TransientError

__all__ = ["AlertmanagerAlerts", "AlertmanagerSilences", "SilenceState"]


class SilenceState:
    def __init__(self, body: dict[str, Any]) -> None:
        self.id = str(body.get("id", ""))
        self.state = str((body.get("status") or {}).get("state", "unknown"))
        self.ends_at = str(body.get("endsAt", ""))
        self.created_by = str(body.get("createdBy", ""))


_FILTER_MAX = 2000  # characters of alert names in one filter; more and the URL may be refused
_PLAIN_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # a Prometheus metric (and alert) name: no regex in it
_SILENCE_CALLS = {"POST": "create a silence", "GET": "read silences", "DELETE": "expire a silence"}


def _access(access: Access | None) -> Access:
    return access or Access("Alertmanager", "MEDIC_ALERTMANAGER")


class AlertmanagerSilences:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        access: Access | None = None,
        link_template: str | None = None,
    ) -> None:
        """``link_template``: where people open a silence, ``{id}`` standing for its id (Grafana's pages
        for Mimir's Alertmanager); else this Alertmanager's own UI."""
        self.base_url, fixed = base_and_params(base_url)
        self._template = link_template
        self._access = _access(access)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            params=fixed,
            timeout=timeout,
            trust_env=False,
            verify=self._access.verify(),
        )
        # Links go to people (Slack, the timeline): never with the URL's credentials (user:pass@).
        self._ui = str(httpx.URL(self.base_url).copy_with(userinfo=b"")).rstrip("/")

    def link(self, silence_id: str) -> str:
        """The silence where people open it: the configured page, else Alertmanager's own UI without
        the credentials the API URL may carry."""
        if self._template:
            return self._template.replace("{id}", quote(silence_id, safe=""))
        return f"{self._ui}/#/silences/{silence_id}"

    async def create(
        self,
        matchers: list[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        body = {
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in matchers
            ],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment or "created from Slack with /medic silence",
        }
        answer = await self._call("POST", "/api/v2/silences", json=body)
        silence_id = answer.get("silenceID")
        if not silence_id:
            raise PermanentError(f"Alertmanager answered without a silence id: {str(answer)[:200]}")
        return str(silence_id)

    async def get(self, silence_id: str) -> SilenceState:
        return SilenceState(await self._call("GET", f"/api/v2/silence/{silence_id}"))

    async def expire(self, silence_id: str) -> None:
        await self._call("DELETE", f"/api/v2/silence/{silence_id}")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def count(self) -> int:
        """How many silences it holds (``GET /api/v2/silences``): what reading them needs, tried."""
        return len(await self._call("GET", "/api/v2/silences", expect=list))

    async def _call(self, method: str, path: str, *, expect: type = dict, **kwargs: Any) -> Any:
        """The answer's JSON (of type ``expect``; None for a delete), each failure in words."""
        try:
            response = await self._client.request(method, path, headers=self._access.headers(), **kwargs)
        except httpx.HTTPError as err:
            raise TransientError(f"Alertmanager unreachable: {str(err) or type(err).__name__}") from err
        self._access.refuse_without_tenant(response, _SILENCE_CALLS.get(method, "answer"))
        if response.status_code == 404:
            raise PermanentError(
                f"Alertmanager has no such silence ({path})"
                if path.startswith("/api/v2/silence/")
                else f"Alertmanager refused to read silences (404 at {path}): check the URL's path"
            )
        if 400 <= response.status_code < 500:
            raise PermanentError(f"Alertmanager refused: {response.text.strip()[:300]}")
        if response.status_code >= 500:
            raise TransientError(f"Alertmanager answered {response.status_code}")
        if response.status_code != 200:  # a redirect to a login page, or no answer it documents
            said = redirected(response) or response.text.strip()[:200]
            raise PermanentError(f"Alertmanager refused ({response.status_code}): {said}")
        if method == "DELETE":  # (a delete answers 200 with no body)
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, expect):
            raise PermanentError(
                f"Alertmanager answered no JSON {expect.__name__}: {response.text.strip()[:200]}"
            )
        return body


class AlertmanagerAlerts:
    """The alerts Alertmanager holds now that it routes to Medic's receiver and would notify: active,
    neither silenced nor inhibited (``GET /api/v2/alerts?active=true&silenced=false&inhibited=false
    &unprocessed=false&receiver=...``, per Alertmanager's ``api/v2/openapi.yaml``). Alertmanager anchors
    the ``receiver`` regex (``^(?:...)$``). An alert there may wait for its group's ``group_wait`` or
    ``group_interval`` before the webhook delivers it; its ``fingerprint`` is the one the webhook will
    carry, so a later delivery of the same alert is the same alert to its incident."""

    def __init__(
        self, base_url: str, *, receiver: str, timeout: float = 3.0, access: Access | None = None
    ) -> None:
        self._access = _access(access)
        base, fixed = base_and_params(base_url)
        self._client = httpx.AsyncClient(
            base_url=base, params=fixed, timeout=timeout, trust_env=False, verify=self._access.verify()
        )
        self._receiver = receiver

    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Alertmanager's ``gettableAlert`` objects, as it answers them: those it would notify (state
        ``active``); ``muted``: those silenced or inhibited too (state ``suppressed``), still firing.
        ``names``: only alerts of these alert names (a ``filter=alertname=~"..."`` matcher, which
        Alertmanager anchors), when each is a plain Prometheus name; otherwise all of them.

        This route applies silences and inhibitions but not the routes' time intervals
        (``mute_time_intervals``, ``active_time_intervals``: only its alert groups know of them). So
        unless ``muted``, a configuration that uses them is a :class:`PermanentError`: Medic cannot
        tell an alert muted out of hours from one about to be sent, and takes none."""
        if not muted:
            await self._refuse_time_intervals()
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", "true"),
            ("silenced", str(muted).lower()),
            ("inhibited", str(muted).lower()),
            ("unprocessed", "false"),
            ("receiver", self._receiver),
        ]
        wanted = "|".join(sorted(set(names)))
        if names and len(wanted) <= _FILTER_MAX and all(_PLAIN_NAME.fullmatch(n) for n in names):
            params.append(("filter", f'alertname=~"{wanted}"'))  # (longer: every alert, as a URL fits)
        body = await self._get(
            "/api/v2/alerts", httpx.QueryParams(params), "read the alerts it holds for Medic"
        )
        if not isinstance(body, list):
            raise TransientError("Alertmanager answered with no list of alerts")
        states = ("active", "suppressed") if muted else ("active",)
        return [
            item
            for item in body
            if isinstance(item, dict)
            and isinstance(item.get("labels"), dict)
            and (item.get("status") or {}).get("state") in states
        ]

    async def firing(self, labels: dict[str, str]) -> list[dict[str, str]]:
        """The label sets of the alerts Alertmanager holds now with these labels, silenced or not
        (``GET /api/v2/alerts?filter=name="value"&active=true``)."""
        filters = [("filter", f'{k}="{v}"') for k, v in labels.items()]
        params = httpx.QueryParams([("active", "true"), *filters])
        body = await self._get("/api/v2/alerts", params, "read the alerts it holds")
        if not isinstance(body, list):
            raise TransientError("Alertmanager answered with no list of alerts")
        return [
            {str(k): str(v) for k, v in item["labels"].items()}
            for item in body
            if isinstance(item, dict) and isinstance(item.get("labels"), dict)
        ]

    async def status(self) -> dict[str, Any]:
        """``GET /api/v2/status``: its version, cluster and configuration (``config.original``)."""
        body = await self._get("/api/v2/status", {}, "read its status")
        if not isinstance(body, dict):
            raise TransientError("Alertmanager answered its status with no JSON object")
        return body

    def routes_to_receiver(self, status: dict[str, Any]) -> bool:
        """Whether a route of the configuration in ``status`` (as :meth:`status` answers it) sends to
        Medic's receiver; a TransientError when the status holds no configuration that parses."""
        ours = self._ours()
        if ours is None:
            return True  # a regex only Go's RE2 takes: Medic cannot tell; not said to be wrong
        return _routes_to(_configuration(status).get("route"), ours)

    def configuration(self, status: dict[str, Any]) -> dict[str, Any]:
        """The configuration in ``status`` (as :meth:`status` answers it), parsed; a TransientError
        when it holds none that parses."""
        return _configuration(status)

    def is_medic(self, config: dict[str, Any], receiver: str) -> bool:
        """Whether ``receiver`` of ``config`` is Medic's: its name matches MEDIC_ALERTMANAGER_RECEIVER,
        or one of its webhooks posts to a Medic webhook route."""
        ours = self._ours()
        if ours is not None and self._receiver and ours.fullmatch(receiver):
            return True
        for entry in config.get("receivers") or []:
            if isinstance(entry, dict) and entry.get("name") == receiver:
                hooks = entry.get("webhook_configs") or []
                return any(isinstance(h, dict) and "/webhooks/" in str(h.get("url") or "") for h in hooks)
        return False

    def _ours(self) -> "re.Pattern[str] | None":
        """Medic's receiver regex, None where only Go's RE2 takes it."""
        try:
            return re.compile(self._receiver)
        except re.error:
            return None

    async def _refuse_time_intervals(self) -> None:
        config = _configuration(await self._get("/api/v2/status", {}, "read its configuration"))
        # (with a regex only RE2 takes, any route muted by time counts)
        if _muted_by_time(config.get("route"), self._ours()):
            raise PermanentError(
                "Alertmanager's routes to Medic's receiver mute by time (mute_time_intervals or "
                "active_time_intervals), which its alerts API does not apply: Medic takes no held alerts "
                "and waits for the webhook"
            )

    async def _get(self, path: str, params: "dict[str, str] | httpx.QueryParams", what: str) -> Any:
        try:
            response = await self._client.get(path, params=params, headers=self._access.headers())
        except httpx.HTTPError as err:
            raise classify(
                None, service="Alertmanager", what=what, detail=str(err) or type(err).__name__
            ) from err
        self._access.refuse_without_tenant(response, what)
        return json_answer(response, service="Alertmanager", what=what)

    async def aclose(self) -> None:
        await self._client.aclose()


def _routes(route: Any, receiver: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
    """Each route of a routing tree with the receiver it sends to (its own, or the one it inherits
    from its parent: dispatch/route.go)."""
    if not isinstance(route, dict):
        return
    receiver = str(route.get("receiver") or receiver or "")
    yield route, receiver
    for child in route.get("routes") or []:
        yield from _routes(child, receiver)


def _muted_by_time(route: Any, ours: "re.Pattern[str] | None") -> bool:
    """Whether a route sending to Medic's receiver (its own or the one it inherits), or any route below,
    mutes or limits itself by time (time intervals are per route, not inherited: dispatch/route.go)."""
    return any(
        (r.get("mute_time_intervals") or r.get("active_time_intervals"))
        and (ours is None or ours.fullmatch(to))
        for r, to in _routes(route)
    )


def _routes_to(route: Any, ours: "re.Pattern[str]") -> bool:
    """Whether ``route`` or a route below it sends to a receiver ``ours`` matches."""
    return any(ours.fullmatch(to) for _, to in _routes(route))


def _configuration(status: Any) -> dict[str, Any]:
    """The parsed ``config.original`` of ``GET /api/v2/status``; a TransientError when it is missing or
    does not parse."""
    original = ((status or {}).get("config") or {}).get("original") if isinstance(status, dict) else None
    try:
        config = yaml.safe_load(original) if isinstance(original, str) else None
    except yaml.YAMLError as err:
        raise TransientError(f"Alertmanager's configuration did not parse: {err}") from err
    if not isinstance(config, dict):
        raise TransientError("Alertmanager answered its status without its configuration")
    return config
