"""JSON nesting is bounded on every route: deep JSON is a clear refusal naming the limit, never a
RecursionError (a 500)."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic_core
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.json_limits import (
    MAX_JSON_DEPTH,
    PYDANTIC_JSON_DEPTH,
    JSONTooDeep,
    json_depth_exceeds,
    load_json_bounded,
)
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink, RecordingControls

OPERATOR = "operator-s3cret"


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ("[[1]]", 2), ('{"a": [{"b": {}}]}', 4), ('["[[[[", {"x": "]]]"}]', 2)],
)
def test_depth_is_counted_in_containers(text: str, depth: int) -> None:
    data = json.loads(text)
    assert not json_depth_exceeds(data, depth)
    assert json_depth_exceeds(data, depth - 1) == (depth > 0)


def test_the_limit_is_inclusive_and_any_depth_is_safe() -> None:
    assert load_json_bounded(nested(MAX_JSON_DEPTH).encode()) is not None
    assert load_json_bounded(nested(MAX_JSON_DEPTH)) is not None
    for depth in (MAX_JSON_DEPTH + 1, 900, 5_000, 200_000):
        with pytest.raises(JSONTooDeep, match=str(MAX_JSON_DEPTH)):
            load_json_bounded(nested(depth).encode())
    with pytest.raises(json.JSONDecodeError):
        load_json_bounded(b"[1,")


def test_pydantic_parsers_own_bound_is_what_the_docs_say() -> None:
    """The Alertmanager route parses with pydantic-core; if its limit moves, the docs must too."""
    pydantic_core.from_json(nested(PYDANTIC_JSON_DEPTH))
    with pytest.raises(ValueError, match="recursion limit"):
        pydantic_core.from_json(nested(PYDANTIC_JSON_DEPTH + 2, ""))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN), operator_token=SecretStr(OPERATOR))

    async def ready() -> bool:
        return True

    app = create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        controls=RecordingControls(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as client:
        yield client


def _sample_path(path: str) -> str:
    return path.replace("{remediation_id}", "remediate-x-1").replace("{incident_id}", "incident-x")


async def test_every_json_route_refuses_deep_json_naming_the_limit(http: httpx.AsyncClient) -> None:
    """Walks the OpenAPI document: every route taking a JSON body, with the credential it needs."""
    schema: dict[str, Any] = (await http.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(routes) >= 4, routes
    for depth in (MAX_JSON_DEPTH + 1, 1_000, 5_000):
        for method, path in routes:
            token = OPERATOR if path.startswith(("/control", "/remediations")) else TOKEN
            answer = await http.request(
                method,
                _sample_path(path),
                content=nested(depth),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 422, (method, path, depth, answer.text)
            if path in (
                "/webhooks/alertmanager",
                "/explain",
            ):  # parsed by pydantic-core, bounded by its own limit
                if depth > PYDANTIC_JSON_DEPTH:
                    assert str(PYDANTIC_JSON_DEPTH) in answer.json()["detail"]["error"], answer.text
                continue
            assert str(MAX_JSON_DEPTH) in answer.json()["detail"]["error"], (path, answer.text)


async def test_anomaly_depth_inside_a_valid_looking_body(http: httpx.AsyncClient) -> None:
    deep = '{"source": "x", "service": "s", "series": ' + nested(1_000, "{}") + "}"
    answer = await http.post("/webhooks/anomaly", content=deep, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 422 and "64 levels" in answer.json()["detail"]["error"]


# A Grafana alerting body (the anomaly route takes one) whose label is half a surrogate pair: Python's
# parser takes "\ud800", then the label check's .encode() raised UnicodeEncodeError, a 500 (a sender
# retries a 5xx: the same body, for ever). Every route refuses it as the invalid JSON it is.
_LONE = (
    '{"version": "1", "status": "firing", "receiver": "r", "orgId": 1, "alerts": ['
    '{"labels": {"alertname": "Good", "service": "checkout"}, "startsAt": "2026-12-07T10:00:00Z"}, '
    '{"labels": {"alertname": "X\\ud800", "service": "s"}, "startsAt": "2026-12-07T10:00:00Z"}]}'
)


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDBFF", "\\udc00", "\\ud83d\\ud83d", "\\ude00\\ud83d"])
def test_a_lone_surrogate_is_invalid_json(escape: str) -> None:
    text = '{"k": ["ok \\ud83d\\ude00", "a' + escape + 'b"]}'
    with pytest.raises(json.JSONDecodeError, match="half a UTF-16 surrogate pair") as refused:
        load_json_bounded(text.encode())
    assert refused.value.pos == text.index(escape)


@pytest.mark.parametrize("text", ['"\\ud83d\\ude00"', '"\\\\ud800"', '{"\\ud83d\\ude00": "\\\\udc00"}'])
def test_a_pair_or_an_escaped_backslash_is_text(text: str) -> None:
    assert load_json_bounded(text.encode()) == json.loads(text)


async def test_every_json_route_refuses_a_lone_surrogate(http: httpx.AsyncClient) -> None:
    schema: dict[str, Any] = (await http.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    for method, path in routes:
        token = OPERATOR if path.startswith(("/control", "/remediations")) else TOKEN
        answer = await http.request(
            method,
            _sample_path(path),
            content=_LONE,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert answer.status_code == 422, (method, path, answer.text)
