"""The OpenAPI document tells the truth: every route lists every status it can answer, and what it
answers matches the schema it declares for that status (checked by probing the real app and
validating each answer against the document, with a small JSON Schema checker below)."""

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.incidents import IncidentFilter, IncidentSummary
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink, RecordingControls, anomaly

OPERATOR = "operator-s3cret"

# Every route, and every status it can answer (besides an unexpected 500).
EXPECTED: dict[tuple[str, str], set[int]] = {
    ("post", "/webhooks/alertmanager"): {200, 401, 413, 415, 422, 503},
    ("post", "/webhooks/anomaly"): {200, 401, 413, 415, 422, 503},
    ("get", "/incidents"): {200, 401, 422, 503},
    ("get", "/incidents/{incident_id}"): {200, 401, 404, 422, 503},
    ("get", "/incidents/{incident_id}/postmortem"): {200, 401, 404, 409, 422, 503},
    ("get", "/incidents/{incident_id}/timeline.svg"): {200, 401, 404, 409, 422, 503},
    ("get", "/incidents/{incident_id}/runs/{run_id}/postmortem"): {200, 401, 404, 409, 422, 503},
    ("get", "/incidents/{incident_id}/runs/{run_id}/timeline.svg"): {200, 401, 404, 409, 422, 503},
    ("get", "/anomalies/scans"): {200, 401, 500, 503},
    ("get", "/heartbeats"): {200, 401, 503},
    ("delete", "/heartbeats/{heartbeat_id}"): {200, 401, 403, 404, 422, 503},
    ("get", "/insights"): {200, 401, 422, 503},
    ("post", "/explain"): {200, 401, 413, 415, 422, 500},
    ("get", "/control/kill-switch"): {200, 401, 503},
    ("put", "/control/kill-switch"): {200, 401, 403, 422, 503},
    ("get", "/feedback"): {200, 401, 503},
    ("post", "/remediations/{remediation_id}/decision"): {200, 401, 403, 404, 409, 422, 503},
    ("post", "/webhooks/pagerduty"): {202, 400, 401, 413, 503},
    ("post", "/webhooks/opsgenie"): {202, 400, 401, 413, 503},
    ("post", "/webhooks/jira"): {202, 400, 401, 413, 503},
    ("post", "/slack/commands"): {200, 400, 401, 413},
    ("post", "/slack/interactions"): {200, 400, 401, 413},
    ("get", "/healthz"): {200},
    ("get", "/readyz"): {200, 503},
    ("get", "/metrics"): {200},
}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class ListingReader(FakeReader):
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        return [
            IncidentSummary(
                id="incident-checkout-0a1b",
                title="CheckoutDown",
                status="open",
                priority="P1",
                impact=87.5,
                services=["checkout"],
                opened_at=NOW,
                alert_count=3,
            ),
            IncidentSummary(
                id="incident-cart-0a1c",
                title="Cart",
                status="resolved",
                priority="P4",
                impact=0,
                services=[],
                opened_at=None,
                acknowledged_at=NOW,
                resolved_at=NOW,
                alert_count=0,
            ),
        ]


def _app(ready: bool = True, reader: FakeReader | None = None) -> Any:
    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr(TOKEN),
        operator_token=SecretStr(OPERATOR),
        max_body_bytes=4096,
    )

    async def is_ready() -> bool:
        return ready

    return create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=reader or ListingReader(),
        ready=is_ready,
        controls=RecordingControls(),
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as client:
        yield client


# ---- a small JSON Schema checker (the subset FastAPI and pydantic emit) ----------------------------

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(instance: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(instance, int) and not isinstance(instance, bool)
    if kind == "number":
        return isinstance(instance, int | float) and not isinstance(instance, bool)
    return isinstance(instance, _TYPES[kind])


def violations(instance: Any, schema: dict[str, Any], doc: dict[str, Any], where: str = "$") -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return violations(instance, doc["components"]["schemas"][name], doc, where)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema["oneOf"]
        if all(violations(instance, option, doc, where) for option in options):
            return [f"{where}: {instance!r:.80} matches none of {len(options)} options"]
    out = [
        f"{where}: not in {schema['enum']}"
        for _ in [0]
        if "enum" in schema and instance not in schema["enum"]
    ]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(instance, kind) for kind in kinds):
            return [*out, f"{where}: {type(instance).__name__} is not {kinds}"]
    if isinstance(instance, dict):
        out += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in instance]
        for key, value in instance.items():
            if key in schema.get("properties", {}):
                out += violations(value, schema["properties"][key], doc, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += violations(value, schema["additionalProperties"], doc, f"{where}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            out += violations(item, schema["items"], doc, f"{where}[{i}]")
    if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"], instance):
        out.append(f"{where}: {instance!r:.80} does not match {schema['pattern']}")
    return out


def test_the_checker_can_fail() -> None:
    doc = {"components": {"schemas": {"E": {"type": "object", "required": ["detail"], "properties": {}}}}}
    assert violations({"detail": [1]}, {"$ref": "#/components/schemas/E"}, doc) == []
    assert violations({}, {"$ref": "#/components/schemas/E"}, doc) == ["$: missing detail"]
    assert violations([1], {"type": "array", "items": {"type": "string"}}, doc)
    assert violations(None, {"anyOf": [{"type": "string"}, {"type": "integer"}]}, doc)


# ---- the document ----------------------------------------------------------------------------------


def _documented(doc: dict[str, Any]) -> dict[tuple[str, str], set[int]]:
    return {
        (method, path): {int(code) for code in operation["responses"]}
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
    }


async def test_every_route_lists_every_status_it_can_answer(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/openapi.json")).json()
    assert _documented(doc) == EXPECTED
    for (method, path), codes in _documented(doc).items():
        operation = doc["paths"][path][method]
        for code in {c for c in codes if c >= 400}:
            content = operation["responses"][str(code)].get("content", {})
            assert "application/json" in content, (method, path, code)
            schema = content["application/json"]["schema"]
            # Every error carries Medic's error body; /readyz says why it is not ready.
            assert schema["$ref"].endswith("/Readiness" if path == "/readyz" else "/ErrorBody"), (path, code)


def _sample(path: str) -> str:
    return path.replace("{remediation_id}", "remediate-x-1").replace("{incident_id}", "incident-x")


async def _check(
    http: httpx.AsyncClient, doc: dict[str, Any], method: str, path: str, answer: httpx.Response
) -> None:
    """The answer's status is listed for the route, and its body matches what is declared for it."""
    responses = doc["paths"][path][method]["responses"]
    assert str(answer.status_code) in responses, (method, path, answer.status_code, answer.text[:300])
    declared = responses[str(answer.status_code)].get("content", {})
    if answer.headers.get("content-type", "").startswith("application/json"):
        assert "application/json" in declared, (method, path, answer.status_code)
        problems = violations(answer.json(), declared["application/json"]["schema"], doc)
        assert problems == [], (method, path, answer.status_code, problems)


async def test_every_answer_matches_its_declared_schema(http: httpx.AsyncClient) -> None:
    """Probes each route with no, wrong, webhook and operator credentials and good, empty, garbage
    and oversized bodies; every answer is listed and conforms."""
    doc = (await http.get("/openapi.json")).json()
    headers_tried: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer guess"},
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"Bearer {OPERATOR}"},
    ]
    bodies: list[bytes | None] = [
        None,
        b"{}",
        b"\xff\xfe",
        b"[1,",
        b'{"on": true, "approve": false}',
        b"x" * 8192,
        json.dumps(anomaly()).encode(),
    ]
    seen: dict[tuple[str, str], set[int]] = {}
    for method, path in EXPECTED:
        for headers in headers_tried:
            for body in bodies if method != "get" else [None]:
                answer = await http.request(
                    method,
                    _sample(path),
                    content=body,
                    headers={**headers, "Content-Type": "application/json"},
                )
                await _check(http, doc, method, path, answer)
                seen.setdefault((method, path), set()).add(answer.status_code)
    assert {401, 413, 422, 200} <= seen[("post", "/webhooks/anomaly")]
    assert {401, 403, 422} <= seen[("post", "/remediations/{remediation_id}/decision")]
    assert seen[("post", "/slack/commands")] == {401}  # Slack is not configured in this app


@pytest.mark.parametrize(
    "query",
    [{}, {"status": "bogus"}, {"priority": "P9"}, {"limit": "abc"}, {"limit": "0"}, {"service": "x' OR 1=1"}],
)
async def test_get_incidents_matches_its_schema(http: httpx.AsyncClient, query: dict[str, str]) -> None:
    """Reported to violate its own schema: its 422 body was not the declared HTTPValidationError."""
    doc = (await http.get("/openapi.json")).json()
    answer = await http.get("/incidents", params=query, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == (200 if not query else 422), answer.text
    await _check(http, doc, "get", "/incidents", answer)
    if query:
        assert answer.json()["detail"]["error"].startswith(next(iter(query))), answer.json()


async def test_unavailable_answers_match_their_schema() -> None:
    class Down(FakeReader):
        async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
            raise RuntimeError("Failed client connect: transport error")

    transport = httpx.ASGITransport(app=_app(ready=False, reader=Down()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as http:
        doc = (await http.get("/openapi.json")).json()
        for path in ("/incidents", "/readyz"):
            answer = await http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 503
            await _check(http, doc, "get", path, answer)
