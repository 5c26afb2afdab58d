"""The API's readiness: Temporal answers, and the namespace Medic writes to exists there.

The frontend's health check alone answered "ready" for a namespace that does not exist (a typo in
MEDIC_TEMPORAL_NAMESPACE): the pods went Ready and every webhook was answered 503, the reason only in a
debug line. The namespace is asked once it answers (and again until it is found); a namespace that is
not there is said at ERROR, once a minute at most, with what to do.

Each answer is also :attr:`TemporalReadiness.cause`, one of :data:`READY_CAUSES`, which the API exports as
``medic_api_ready{reason}`` (alert MedicApiNotReady): once the pods are unready, Kubernetes takes them out
of the Service, no delivery reaches them, and nothing counted at delivery can see the outage."""

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["READY_CAUSES", "TemporalReadiness"]

# The reasons a readiness check gives, a fixed set (a metric label): "ready" and why not.
READY_CAUSES = (
    "ready",
    "temporal_unreachable",
    "temporal_not_serving",
    "namespace_not_found",
    "namespace_not_granted",
    "namespace_not_described",
    "shutting_down",
)

log = logging.getLogger(__name__)


class TemporalReadiness:
    """``await readiness()``: whether the API can hand alerts to Temporal now."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        *,
        timeout: float = 2.0,
        say_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._namespace, self._timeout = client, namespace, timedelta(seconds=timeout)
        self._say_every, self._clock = say_every, clock
        self._found = False
        self._said_at: float | None = None
        self.reason = ""  # why it is not ready, for the log and /readyz
        self.cause = "ready"  # the same, one of READY_CAUSES, for medic_api_ready
        self._stopping = False

    def stopping(self) -> None:
        """The process is stopping (SIGTERM): not ready from now on, whatever Temporal says, so that a
        load balancer probing /readyz takes the pod out before it stops listening."""
        self._stopping = True

    async def __call__(self) -> bool:
        if self._stopping:
            self.reason, self.cause = "shutting down", "shutting_down"
            return False
        ok = await self._check()
        if ok:
            self.cause = "ready"
        return ok

    async def _check(self) -> bool:
        try:
            if not await self._client.service_client.check_health(timeout=self._timeout):
                self.reason, self.cause = "Temporal is not serving", "temporal_not_serving"
                return False
        except Exception:
            self.reason, self.cause = "Temporal is unreachable", "temporal_unreachable"
            return False
        if not self._found:
            try:
                await self._client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self._namespace), timeout=self._timeout
                )
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    self.reason = (
                        f"namespace {self._namespace!r} does not exist in Temporal: create it "
                        f"(temporal operator namespace create --namespace {self._namespace}) or set "
                        "MEDIC_TEMPORAL_NAMESPACE; every webhook is answered 503 meanwhile"
                    )
                    self.cause = "namespace_not_found"
                    self._say()
                    return False
                if err.status is RPCStatusCode.PERMISSION_DENIED:
                    # Every namespace role may describe its namespace (Temporal Cloud's Read, Write and
                    # Namespace Admin alike): a refusal is a credential not granted this namespace (a
                    # typo, or on Cloud a name without its account suffix).
                    self.reason = (
                        f"the credential is not granted namespace {self._namespace!r}: check "
                        "MEDIC_TEMPORAL_NAMESPACE (on Temporal Cloud <name>.<account>) and the API key's or "
                        "certificate's namespace permission"
                    )
                    self.cause = "namespace_not_granted"
                    self._say()
                    return False
                if err.status is not RPCStatusCode.UNIMPLEMENTED:  # (a proxy without the call: as before)
                    self.reason = f"Temporal did not describe namespace {self._namespace!r}: {err.status}"
                    self.cause = "namespace_not_described"
                    return False
            except Exception:
                self.reason, self.cause = "Temporal is unreachable", "temporal_unreachable"
                return False
            self._found = True
        self.reason = ""
        return True

    def _say(self) -> None:
        now = self._clock()
        if self._said_at is None or now - self._said_at >= self._say_every:
            self._said_at = now
            log.error("not ready: %s", self.reason)
