"""JSON log lines keep their ``extra`` fields, and lines logged in Temporal code carry the incident id,
workflow id and run id as fields (``service.logs``)."""

import dataclasses
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from medic.redact import register_secrets
from service.logs import JsonFormatter, TemporalContext
from service.telemetry import CORE_LOGGER, core_logging


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TemporalContext())
    log = logging.getLogger("tests.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield out
    log.removeHandler(handler)


def _entries(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_extra_fields_are_kept_and_redacted(lines: io.StringIO) -> None:
    register_secrets(["hunter2-secret-value"])
    extra = {"incident_id": "incident-checkout", "route": "x hunter2-secret-value", "n": 3}
    logging.getLogger("tests.logs").info("delivered %d", 3, extra=extra)
    (entry,) = _entries(lines)
    assert entry["msg"] == "delivered 3"
    assert entry["incident_id"] == "incident-checkout" and entry["n"] == 3
    assert "hunter2-secret-value" not in json.dumps(entry)


def test_workflow_logger_details_become_fields(lines: io.StringIO) -> None:
    details = {
        "attempt": 1,
        "namespace": "default",
        "run_id": "run-1",
        "task_queue": "medic",
        "workflow_id": "incident-checkout",
        "workflow_type": "IncidentWorkflow",
    }  # what temporalio's workflow.logger puts in ``extra`` (its LoggerAdapter)
    logging.getLogger("tests.logs").info("escalated", extra={"temporal_workflow": details})
    (entry,) = _entries(lines)
    assert entry["incident_id"] == "incident-checkout"
    assert entry["workflow_id"] == "incident-checkout" and entry["run_id"] == "run-1"
    assert "temporal_workflow" not in entry


def test_any_logger_inside_an_activity_carries_its_workflow(lines: io.StringIO) -> None:
    def act() -> None:
        activity.logger.logger = logging.getLogger("tests.logs")  # the SDK's adapter, on our handler
        activity.logger.info("posted by the SDK's logger")
        logging.getLogger("tests.logs").info("posted by an adapter's own logger")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="incident-payments", workflow_run_id="run-7")
    original = activity.logger.logger
    try:
        env.run(act)
    finally:
        activity.logger.logger = original
    entries = _entries(lines)
    assert len(entries) == 2
    for entry in entries:
        assert entry["incident_id"] == "incident-payments", entry
        assert entry["workflow_id"] == "incident-payments" and entry["run_id"] == "run-7"


def test_the_temporal_cores_own_lines_come_out_in_medics_format_redacted() -> None:
    """The core wrote its warnings (a poll that failed, a connection lost) to stderr as plain text, so
    a JSON log pipeline got lines it could not parse, unredacted. They are forwarded to the logger
    ``temporalio.core`` now, and formatted as every other line."""
    register_secrets(["core-secret-value-0123"])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    core = logging.getLogger(CORE_LOGGER)
    core.addHandler(handler)
    core.setLevel(logging.INFO)
    try:
        runtime = Runtime(telemetry=TelemetryConfig(logging=core_logging("INFO")))
        runtime._core_runtime.write_test_info_log("poll failed: core-secret-value-0123", "extra-field")
        deadline = time.monotonic() + 30  # the core hands its lines over in small batches
        while not out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        core.removeHandler(handler)
    (entry,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert entry["level"] == "info" and entry["logger"].startswith(f"{CORE_LOGGER}-sdk_core::")
    assert "poll failed: [redacted]" in entry["msg"] and "core-secret-value-0123" not in out.getvalue()
    assert "temporal_log" not in entry  # the core's record is read, not dumped as its repr
    assert "extra-field" in json.dumps(entry.get("core_fields"))
