"""Remediation actions, their registry and guardrails; the cluster only through a port."""

__all__: list[str] = []
