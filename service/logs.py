"""Log configuration: the only place a format (plain or JSON) is chosen.

Every line is redacted as it is formatted (``medic.redact``): a message, an argument or an exception
that quotes input (pydantic's errors quote the value they refused) carries no configured secret and no
credential shape to the log, whichever module logged it."""

import json
import logging
from datetime import UTC, datetime

from medic.redact import redact

__all__ = ["configure_logging", "log_formatter"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class RedactingFormatter(logging.Formatter):
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Temporal core logs through its own runtime; keep library chatter at warning.
    for noisy in ("httpx", "uvicorn.error", "temporalio.worker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
