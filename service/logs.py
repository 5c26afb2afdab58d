"""Log configuration: the only place a format (plain or JSON) is chosen.

Every line is redacted as it is formatted (``medic.redact``): a message, an argument or an exception
that quotes input (pydantic's errors quote the value they refused) carries no configured secret and no
credential shape to the log, whichever module logged it.

A JSON line carries the record's ``extra`` fields, and, for a line logged inside Temporal code, the
incident id, workflow id and run id as fields of their own: ``workflow.logger`` and
``activity.logger`` put the workflow's details in ``extra`` (``temporal_workflow`` /
``temporal_activity``), and any other logger called from an activity (an adapter's) gets them from
the activity's context (:class:`TemporalContext`)."""

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from medic.redact import redact

__all__ = ["JsonFormatter", "TemporalContext", "configure_logging", "log_formatter"]

# What every LogRecord has: everything else on a record came from ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SDK_EXTRAS = ("temporal_workflow", "temporal_activity", "workflow_info", "activity_info", "temporal_log")


def _ids(record: logging.LogRecord) -> dict[str, Any]:
    """incident_id, workflow_id, run_id (and the workflow or activity type) from the SDK's extras."""
    found: dict[str, Any] = {}
    details = getattr(record, "temporal_activity", None)
    if isinstance(details, Mapping):
        found |= {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("workflow_run_id"),
            "workflow_type": details.get("workflow_type"),
            "activity_type": details.get("activity_type"),
            "attempt": details.get("attempt"),
        }
    details = getattr(record, "temporal_workflow", None)
    if isinstance(details, Mapping):
        found |= {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("run_id"),
            "workflow_type": details.get("workflow_type"),
            "attempt": details.get("attempt"),
        }
        if details.get("update_name"):
            found["update"] = details.get("update_name")
    workflow_id = found.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id.startswith("incident-"):
        found["incident_id"] = workflow_id  # an incident's workflow id is its id
    info = getattr(record, "workflow_info", None)
    parent = getattr(info, "parent", None)
    if "incident_id" not in found and parent is not None and parent.workflow_id.startswith("incident-"):
        found["incident_id"] = parent.workflow_id  # a remediation, started by its incident
    return {k: v for k, v in found.items() if v is not None}


def _jsonable(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        entry |= _ids(record)
        core = getattr(record, "temporal_log", None)  # a line of the Temporal core's, forwarded
        if core is not None and getattr(core, "fields", None):
            entry["core_fields"] = _jsonable(core.fields)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _SDK_EXTRAS and key not in entry:
                entry[key] = _jsonable(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TemporalContext(logging.Filter):
    """Gives a line logged from inside an activity by any logger (an adapter's ``logging.getLogger``)
    the activity's details, as ``activity.logger`` would."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "temporal_activity") and activity.in_activity():
            info = activity.info()
            record.temporal_activity = {
                "activity_type": info.activity_type,
                "attempt": info.attempt,
                "workflow_id": info.workflow_id,
                "workflow_run_id": info.workflow_run_id,
                "workflow_type": info.workflow_type,
            }
        return True


class RedactingFormatter(logging.Formatter):
    """Plain-text lines: redacted, and a message's own line breaks escaped (``\\n``), so that text from
    outside (an alert's labels in a title) cannot write a line of its own into the log (a security
    review, 2026-12-07); a traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        return line.replace("\r", "\\r").replace("\n", "\\n")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_formatter(*, json_format: bool) -> logging.Formatter:
    """The formatter of Medic's log lines (tests use it to read what would be written)."""
    if json_format:
        return JsonFormatter()
    return RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def configure_logging(level: str, *, json_format: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(json_format=json_format))
    handler.addFilter(TemporalContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if json_format:
        # The ids are fields of the line: not repeated as a dict at the end of every message.
        workflow.logger.workflow_info_on_message = False
        workflow.logger.full_workflow_info_on_extra = True  # the parent: a remediation's incident
        activity.logger.activity_info_on_message = False
    # The Temporal core's lines come through the logger "temporalio.core" (service/telemetry.py), in
    # this format and redacted; keep library chatter at warning.
    for noisy in ("httpx", "uvicorn.error", "temporalio.worker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
