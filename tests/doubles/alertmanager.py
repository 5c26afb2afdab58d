"""A local double of Alertmanager's API v2, the routes ``activities.adapters.alertmanager`` calls:
``POST /api/v2/silences``, ``GET /api/v2/silence/{silenceID}``, ``DELETE /api/v2/silence/{silenceID}``
and ``GET /api/v2/alerts``.

Covered, per Alertmanager's ``api/v2/openapi.yaml`` (github.com/prometheus/alertmanager): a
postable silence needs ``matchers`` (at least one, each with ``name``, ``value`` and ``isRegex``;
``isEqual`` defaults to true), ``startsAt``, ``endsAt`` (not before ``startsAt``), ``createdBy`` and
``comment``; the answer is 200 ``{"silenceID": ...}``; a bad one is 400 with a plain-text reason; an
unknown id is 404. ``GET`` answers the silence with ``status.state`` (``active`` once created;
``expired`` after ``DELETE``). Not covered: regex syntax checks (RE2), pending silences (a
``startsAt`` in the future), updating a silence by posting its id, the other v2 routes.

``GET /api/v2/status`` answers ``config.original`` (the YAML in :attr:`config`) with the other required
fields of ``alertmanagerStatus``. ``GET /api/v2/alerts`` answers the ``gettableAlert`` objects set with
:meth:`hold`, filtered as
Alertmanager's ``getAlertsHandler`` filters (api/v2/api.go): ``active``, ``silenced``, ``inhibited``
(booleans, default true) by ``status.state``, ``silencedBy`` and ``inhibitedBy``; ``receiver`` a regex
Alertmanager anchors (``^(?:...)$``), matched against each alert's ``receivers``; an invalid regex is
400 with a plain-text reason. Alerts whose ``endsAt`` has passed are never listed. Not covered: the
``filter`` matchers, routing (each alert carries its receivers as set), the alert groups route.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tests.doubles._base import HttpDouble

__all__ = ["AlertmanagerDouble"]


class AlertmanagerDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__(title="Alertmanager API v2 double (silences)")
        self._silences: dict[str, dict[str, Any]] = {}
        self.app.add_api_route("/api/v2/silences", self._create, methods=["POST"])
        self.app.add_api_route("/api/v2/silence/{silence_id}", self._get, methods=["GET"])
        self.app.add_api_route("/api/v2/silence/{silence_id}", self._expire, methods=["DELETE"])
        self._alerts: dict[str, dict[str, Any]] = {}  # fingerprint -> gettableAlert
        self.app.add_api_route("/api/v2/alerts", self._alerts_held, methods=["GET"])
        self.app.add_api_route("/api/v2/status", self._status, methods=["GET"])
        # Its configuration as ``GET /api/v2/status`` shows it (``config.original``, YAML).
        self.config = "route:\n  receiver: medic\nreceivers:\n  - name: medic\n"
        self.alert_reads = 0

    def hold(self, key: str, alerts: list[dict[str, Any]]) -> None:
        """Set (or, with an empty list, drop) the ``gettableAlert`` objects held under ``key``."""
        with self._lock:
            for fingerprint in [f for f, a in self._alerts.items() if a.get("_key") == key]:
                del self._alerts[fingerprint]
            for alert in alerts:
                self._alerts[str(alert["fingerprint"])] = alert | {"_key": key}

    async def _status(self) -> Response:
        """``alertmanagerStatus``: what the adapter reads (the configuration), with the other required
        fields as a single non-clustered Alertmanager answers them."""
        version = {k: "" for k in ("revision", "branch", "buildUser", "buildDate", "goVersion")}
        return JSONResponse(
            {
                "cluster": {"status": "disabled", "peers": []},
                "versionInfo": {"version": "0.25.0", **version},
                "config": {"original": self.config},
                "uptime": datetime.now(UTC).isoformat(),
            }
        )

    async def _alerts_held(self, request: Request) -> Response:
        params = request.query_params
        wanted = {
            name: params.get(name, "true").lower() != "false" for name in ("active", "silenced", "inhibited")
        }
        receiver = None
        if "receiver" in params:
            try:
                receiver = re.compile(f"^(?:{params['receiver']})$")
            except re.error as err:
                return PlainTextResponse(f"failed to parse receiver param: {err}", status_code=400)
        now = datetime.now(UTC)
        with self._lock:
            self.alert_reads += 1
            held = [dict(a) for a in self._alerts.values()]
        out = []
        for alert in held:
            alert.pop("_key", None)
            status = alert["status"]
            if datetime.fromisoformat(str(alert["endsAt"]).replace("Z", "+00:00")) < now:
                continue
            if (
                (not wanted["active"] and status["state"] == "active")
                or (not wanted["silenced"] and status["silencedBy"])
                or (not wanted["inhibited"] and status["inhibitedBy"])
            ):
                continue
            if receiver is not None and not any(receiver.match(r["name"]) for r in alert["receivers"]):
                continue
            out.append(alert)
        return JSONResponse(out)

    def silences(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(s)) for s in self._silences.values()]

    async def _create(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return PlainTextResponse("failed to parse the silence", status_code=400)
        problem = _invalid(body)
        if problem:
            return PlainTextResponse(problem, status_code=400)
        silence_id = str(uuid.uuid4())
        with self._lock:
            self._silences[silence_id] = body | {"id": silence_id, "status": {"state": "active"}}
        return JSONResponse({"silenceID": silence_id})

    async def _get(self, silence_id: str) -> Response:
        with self._lock:
            silence = self._silences.get(silence_id)
        if silence is None:
            return PlainTextResponse(f"silence {silence_id} not found", status_code=404)
        return JSONResponse(silence)

    async def _expire(self, silence_id: str) -> Response:
        with self._lock:
            silence = self._silences.get(silence_id)
            if silence is None:
                return PlainTextResponse(f"silence {silence_id} not found", status_code=404)
            silence["status"] = {"state": "expired"}
        return Response(status_code=200)


def _invalid(body: Any) -> str:
    if not isinstance(body, dict):
        return "silence must be an object"
    matchers = body.get("matchers")
    if not isinstance(matchers, list) or not matchers:
        return "at least one matcher required"
    for m in matchers:
        if not isinstance(m, dict) or not m.get("name") or "value" not in m or "isRegex" not in m:
            return "invalid label matcher"
    for field in ("startsAt", "endsAt", "createdBy", "comment"):
        if not body.get(field):
            return f"{field} missing"
    try:
        starts, ends = datetime.fromisoformat(body["startsAt"]), datetime.fromisoformat(body["endsAt"])
    except (TypeError, ValueError):
        return "invalid time"
    if ends < starts:
        return "end time can't be before start time"
    return ""
