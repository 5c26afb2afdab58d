"""Schemathesis over Medic's own OpenAPI document, against the real API, worker and dev server.

Every operation is fed schema-derived examples, boundary values (the coverage phase) and random valid and
invalid bodies, with the webhook token. What must hold for every case: no 5xx; every status is one the
document lists for the route; every body matches its declared schema and content type; a body the schema
forbids is refused with a 4xx. The case count is bounded (``MAX_EXAMPLES`` per operation, a fixed seed) so
the run is reproducible and fits the CI budget; schemathesis' own report names any failing case with a
``curl`` line to replay it."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.support.stack import OPERATOR_TOKEN, TOKEN, medic_stack

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def _schemathesis() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


async def _schemathesis_run(base_url: str, token: str, report: Path, *only: str) -> tuple[int, str]:
    """One bounded run; its working files stay in the test's directory, never in the checkout."""
    proc = await asyncio.create_subprocess_exec(
        _schemathesis(),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",
        # One worker: hypothesis describes filters with ast.parse, which CPython 3.11 before 3.11.8 cannot
        # run from two threads at once ("AST constructor recursion depth mismatch", cpython #106905).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--no-color",
        *only,
        cwd=report.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_every_route_keeps_its_openapi_contract_under_fuzzing(tmp_path: Path) -> None:
    """Twice: every route with the webhook token (Alertmanager's credential), then the operator's routes
    (decisions, kill switch) with the operator token, so their bodies are exercised past the 403."""
    async with medic_stack(slack_signing_secret=SecretStr("fuzz-signing-secret-0123456789")) as stack:
        webhook = await _schemathesis_run(stack.base_url, TOKEN, tmp_path / "webhook.xml")
        operator = await _schemathesis_run(
            stack.base_url,
            OPERATOR_TOKEN,
            tmp_path / "operator.xml",
            "--include-path-regex",
            "^/(control|remediations)/",
        )
    for code, text in (webhook, operator):
        assert code == 0, text[-20000:]
        assert "generated" in text, text[-2000:]  # cases ran (an empty selection would pass vacuously)
