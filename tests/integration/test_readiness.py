"""The API's readiness against the real Temporal dev server: a namespace that does not exist (a typo in
MEDIC_TEMPORAL_NAMESPACE) is not ready, and says why; the frontend's health check alone said ready while
every webhook was answered 503."""

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from service.readiness import TemporalReadiness
from tests.support.stack import running_dev_server


async def test_a_namespace_that_does_not_exist_is_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_dev_server(tmp_path / "temporal.sqlite") as temporal:
        address = f"127.0.0.1:{temporal.port}"
        typo = TemporalReadiness(await Client.connect(address, namespace="medci"), "medci")
        with caplog.at_level(logging.ERROR, logger="service.readiness"):
            assert not await typo()
            assert not await typo()  # said once a minute at most
        assert "namespace 'medci' does not exist" in typo.reason and typo.cause == "namespace_not_found"
        assert [r.getMessage() for r in caplog.records] == [f"not ready: {typo.reason}"]
        right = TemporalReadiness(await Client.connect(address, namespace="default"), "default")
        assert await right() and right.reason == "" and right.cause == "ready"
    assert not await right()  # the server gone
    assert right.reason == "Temporal is unreachable" and right.cause == "temporal_unreachable"


class _Refusing:
    """What Temporal Cloud answers DescribeNamespace for a namespace the credential is not granted."""

    async def check_health(self, timeout: object = None) -> bool:
        return True

    async def describe_namespace(self, request: object, timeout: object = None) -> None:
        raise RPCError("Request unauthorized", RPCStatusCode.PERMISSION_DENIED, b"")


async def test_a_namespace_the_credential_is_not_granted_is_not_ready() -> None:
    """Every namespace role may describe its own namespace (Temporal Cloud's Read, Write and Namespace
    Admin): a refusal is a typo (a Cloud name without its account suffix) or a grant never made."""
    refusing = _Refusing()
    client = SimpleNamespace(service_client=refusing, workflow_service=refusing)
    ready = TemporalReadiness(client, "medic-prod.a1b2x")  # type: ignore[arg-type]
    assert not await ready()
    assert "not granted namespace 'medic-prod.a1b2x'" in ready.reason
    assert ready.cause == "namespace_not_granted"
