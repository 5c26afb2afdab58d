"""What people send an incident besides ack and resolve: notes for the timeline (every Slack command,
accepted or refused, is recorded), silences they created, false-positive marks."""

from typing import Any

from pydantic import BaseModel, Field

from medic.names import empty

__all__ = ["FALSE_POSITIVE_SIGNAL", "NOTE_SIGNAL", "SILENCE_SIGNAL", "Note"]

NOTE_SIGNAL = "note"
SILENCE_SIGNAL = "silenced"
FALSE_POSITIVE_SIGNAL = "false_positive"


class Note(BaseModel):
    kind: str = Field(
        pattern=r"^(command|feedback|silence)\.[a-z_]{1,40}$", description="e.g. command.refused"
    )
    actor: str = Field(min_length=1, max_length=200)
    actor_name: str = Field(
        default="", max_length=200, exclude_if=empty, description="the person's name (actor: their Slack id)"
    )
    message: str = Field(min_length=1, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict)
