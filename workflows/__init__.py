"""Deterministic orchestration: no I/O, no clocks but workflow.now(), no randomness.

Modules: ``incident`` (IncidentWorkflow), ``remediation`` (RemediationWorkflow), ``control``
(the kill switch), with ``notifier``, ``remediator`` and ``publish`` as their parts.
"""

__all__: list[str] = []
