"""A bounded, expiring cache in front of an :class:`medic.subject.OwnerLookup`.

Alerts come in storms, and a storm names the same few pods over and over: each answer (a "don't
know" too) is kept for ``ttl`` seconds, at most ``max_entries`` of them (least recently used out
first), so a storm costs the API server one lookup per object, and a pod that was replaced is looked up
again once its entry expires. Thread-safe: the webhook resolves subjects in a worker thread.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from medic.clusters import ScopedLookup
from medic.ports import PermanentError
from medic.subject import ObjectKey, OwnerLookup
from service.settings import Settings

__all__ = ["CachedOwners", "subject_lookup"]

_Answer = str | ObjectKey | list[ObjectKey] | list[str] | None

log = logging.getLogger(__name__)


def subject_lookup(settings: Settings) -> OwnerLookup | None:
    """The cluster lookup the webhook resolves subjects with (MEDIC_SUBJECT_LOOKUP), cached, for alerts
    from this cluster only (MEDIC_CLUSTER); None when it is off or no cluster is configured (then the
    naming patterns decide, and the log says so)."""
    if not settings.subject_lookup:
        return None
    from activities.adapters.kube_owners import KubernetesOwners  # noqa: PLC0415 - only when asked for

    try:
        cached = CachedOwners(KubernetesOwners.from_settings(settings.kubeconfig))
        return ScopedLookup(cached, settings.cluster_scope)  # another cluster's alerts are not asked here
    except PermanentError as err:
        log.warning("MEDIC_SUBJECT_LOOKUP is on but %s: pod owners come from their names", err)
        return None


class CachedOwners:
    def __init__(
        self,
        inner: OwnerLookup,
        *,
        max_entries: int = 4096,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner, self._max, self._ttl, self._clock = inner, max_entries, ttl, clock
        self._held: OrderedDict[tuple[str, ...], tuple[float, _Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def _cached(self, key: tuple[str, ...], ask: Callable[[], _Answer]) -> _Answer:
        now = self._clock()
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] > now:
                self._held.move_to_end(key)
                return held[1]
        answer = ask()  # outside the lock: a slow API server must not serialise every other lookup
        with self._lock:
            self._held[key] = (now + self._ttl, answer)
            self._held.move_to_end(key)
            while len(self._held) > self._max:
                self._held.popitem(last=False)
        return answer

    def owner(self, obj: ObjectKey) -> ObjectKey | None:
        answer = self._cached((obj.kind, obj.namespace, obj.name), lambda: self._inner.owner(obj))
        return answer if isinstance(answer, ObjectKey) else None

    def workloads_on_node(self, node: str) -> list[ObjectKey]:
        answer = self._cached(("node", node), lambda: list(self._inner.workloads_on_node(node)))
        return [w for w in answer if isinstance(w, ObjectKey)] if isinstance(answer, list) else []

    def nodes_of(self, workload: ObjectKey) -> list[str]:
        key = ("nodes", workload.kind, workload.namespace, workload.name)
        answer = self._cached(key, lambda: list(self._inner.nodes_of(workload)))
        return [n for n in answer if isinstance(n, str)] if isinstance(answer, list) else []

    def node_for_address(self, address: str) -> str | None:
        answer = self._cached(("address", address), lambda: self._inner.node_for_address(address))
        return answer if isinstance(answer, str) else None
