"""The remediation actions' own error (re-exported by remediations.actions), in a module of its own so
the actions split over several modules share it without importing each other."""

__all__ = ["ActionError", "NothingToDo"]


class ActionError(Exception):
    """The action cannot be carried out as asked (no previous revision, bounds, missing object)."""


class NothingToDo(ActionError):
    """The step would change nothing people asked for (a scale out at or above its bound): not a failure,
    and no action; the remediation ends blocked, saying why."""
