"""Log configuration: the only place a format (plain or JSON) is chosen."""

import json
import logging
from datetime import UTC, datetime

__all__ = ["configure_logging"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, *, json_format: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Temporal core logs through its own runtime; keep library chatter at warning.
    for noisy in ("httpx", "uvicorn.error", "temporalio.worker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
