"""What people tell Medic about an incident beyond ack and resolve: silences they created and alerts
they marked as false positives. Kept in the incident's state (so `/medic show` and the postmortem see
them) and, for false positives, per alert rule in the feedback workflow the learning work will read."""

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from medic.names import empty
from medic.redact import redact

__all__ = ["FalsePositive", "Matcher", "SilenceRecord"]


class Matcher(BaseModel):
    """One Alertmanager matcher: ``name=value``, ``!=``, ``=~`` (regex) or ``!~``."""

    name: str = Field(min_length=1, max_length=200)
    value: str = Field(max_length=1000)
    is_regex: bool = False
    is_equal: bool = True

    def __str__(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f'{self.name}{op}"{self.value}"'


class SilenceRecord(BaseModel):
    """An Alertmanager silence someone created from Slack for this incident."""

    id: str = Field(description="Alertmanager's silence id")
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_by_name: str = Field(
        default="", max_length=200, exclude_if=empty, description="the person's name (created_by: their id)"
    )
    comment: str = ""
    url: str | None = Field(default=None, description="the silence in Alertmanager's UI")

    # Free text people typed: redacted like the timeline it is quoted in (and the postmortem). The
    # matchers too: Alertmanager got them as typed (they must match the alert's labels there), the
    # incident's history keeps them redacted; and the link, which can carry Alertmanager's password.
    _redacted = field_validator("comment")(redact)

    @field_validator("matchers")
    @classmethod
    def _redacted_matchers(cls, matchers: list[Matcher]) -> list[Matcher]:
        return [m.model_copy(update={"value": redact(m.value)}) for m in matchers]

    @field_validator("url")
    @classmethod
    def _redacted_url(cls, url: str | None) -> str | None:
        return None if url is None else redact(url)

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


class FalsePositive(BaseModel):
    """Someone judged the incident's alerts (of these rules) not worth waking anyone for."""

    at: datetime
    actor: str
    actor_name: str = Field(
        default="", max_length=200, exclude_if=empty, description="the person's name (actor: their id)"
    )
    rules: list[str] = Field(description="alert rules (alertname) the judgement covers")
    incident_id: str
    note: str = Field(default="", max_length=1000)

    _redacted = field_validator("note")(redact)
