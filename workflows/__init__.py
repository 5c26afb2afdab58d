"""Deterministic orchestration: no I/O, no clocks but workflow.now(), no randomness."""

from workflows.incident import IncidentInput, IncidentResult, IncidentWorkflow

__all__ = ["IncidentInput", "IncidentResult", "IncidentWorkflow"]
