"""Counting approvals (``medic_approvals_total{outcome}``) from the worker, not from workflow code.

A workflow may not touch Prometheus, and an activity added to count would change the remediation
workflow's history (recorded histories must keep replaying). The remediation already tells its
incident each step of an approval with a signal (``approval.requested``, ``.granted``, ``.denied``,
``.timed_out``); this worker interceptor sees that signal go out and counts it, only when the
workflow code runs for the first time, never when a history is replayed (a worker restart, or an
incident evicted from the cache)."""

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    SignalExternalWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from medic.vocab import TimelineKind
from remediations.plan import RemediationEvent
from workflows.remediation import REMEDIATION_EVENT

__all__ = ["APPROVAL_OUTCOMES", "ApprovalMetrics"]

# The timeline kind of each step of an approval, and the outcome it is counted under.
APPROVAL_OUTCOMES: dict[str, str] = {
    TimelineKind.APPROVAL_REQUESTED: "requested",
    TimelineKind.APPROVAL_GRANTED: "approved",
    TimelineKind.APPROVAL_DENIED: "denied",
    TimelineKind.APPROVAL_TIMED_OUT: "timed_out",
}


class ApprovalMetrics(Interceptor):
    def __init__(self, record: Callable[[str], None]) -> None:
        self._record = record

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        record = self._record

        class _Outbound(WorkflowOutboundInterceptor):
            async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
                # Counted before it is sent: a timeout is one even if its incident has closed meanwhile.
                if input.signal == REMEDIATION_EVENT and not workflow.unsafe.is_replaying():
                    outcome = _outcome(input.args)
                    if outcome is not None:
                        record(outcome)
                await super().signal_external_workflow(input)

        class _Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Outbound(outbound))

        return _Inbound


def _outcome(args: Sequence[Any]) -> str | None:
    event = args[0] if args else None
    return APPROVAL_OUTCOMES.get(event.kind) if isinstance(event, RemediationEvent) else None
