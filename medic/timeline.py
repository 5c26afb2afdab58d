"""Timeline entries: every step of an incident, in order, with who did it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["TimelineEntry"]


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(description="dotted event kind, e.g. alert.firing, incident.resolved")
    actor: str = Field(description="'medic', an alert source, or a person")
    message: str
    data: dict[str, Any] = Field(default_factory=dict)
