"""Timeline entries: every step of an incident, in order, with who did it.

Secrets are redacted by construction: an entry's message and data are redacted as the entry is
built, whoever builds it (see ``medic.redact``)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from medic.redact import redact, redact_data

__all__ = ["TimelineEntry"]


class TimelineEntry(BaseModel):
    at: datetime
    # Medic writes a ``medic.vocab.TimelineKind`` (stored as its plain string); any string loads, so
    # entries of other versions, with kinds this one does not know, still replay.
    kind: str = Field(description="dotted event kind, e.g. alert.firing, incident.resolved")
    actor: str = Field(description="'medic', an alert source, or a person")
    message: str
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("message", "actor")
    @classmethod
    def _redacted(cls, value: str) -> str:
        return redact(value)

    @field_validator("data")
    @classmethod
    def _redacted_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = redact_data(value)
        return redacted
