"""Shared fixtures. Tests that need a server start the real one; a missing binary fails the
test with a clear message (never a skip: under CI that would hide a broken set-up)."""

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from service.devserver import DevServerError, find_binary
from tests.doubles.kubernetes import KubernetesDouble
from tests.support.stack import MedicStack, medic_stack
from tests.support.timeskip import STARTUP

pytest_plugins = ["tests.support.watchdog"]  # a bound on each test's time (MEDIC_TEST_TIMEOUT)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def require_binary(name: str) -> Path:
    try:
        return find_binary(name)
    except DevServerError as err:
        pytest.fail(f"{err}. `make test` installs it; run the tests through it.")


@contextlib.asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (the ``temporal`` CLI), on a free port, with Medic's converter."""
    path = require_binary("temporal")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(path),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_startup_timeout=STARTUP,
    ) as environment:
        yield environment


def reference_payloads() -> dict[str, dict[str, Any]]:
    """The real Alertmanager/Grafana payloads: shared/reference when beside the repo, else the copies in
    tests/fixtures (kept identical)."""
    folder = REFERENCE / "alertmanager"
    if not folder.is_dir():
        folder = FIXTURES / "alertmanager"
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[MedicStack]:
    """One dev server + worker + API for the integration tests that can share it."""
    require_binary("temporal")
    async with medic_stack(quiet_seconds=2.0) as running:
        yield running


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    """An empty Kubernetes API double, served on loopback (a module may override it with a populated one)."""
    double = KubernetesDouble()
    with double.serve():
        yield double
