"""In-memory fakes of the notification ports, for workflow logic tests (the adapters are tested
against local HTTP doubles of the real APIs instead)."""

import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from medic.ports import ChatMessage, IssueRequest, MessageRef, Page, PermanentError, TransientError
from remediations.ports import ClusterConflict, ObjectRef, RolloutInfo

__all__ = ["FakeChat", "FakeCluster", "FakeMetrics", "FakePager", "FakeTracker"]


class FakeChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, str | None]] = []  # (channel, text, thread ts)
        self.updates: list[tuple[str, str, str]] = []  # (channel, ts, text)
        self.broken: set[str] = set()  # channels that fail for good
        self.flaky: int = 0  # the next N calls fail transiently
        self.hold: threading.Event | None = None  # when set: top-level posts wait until it is set
        self.held = threading.Event()  # set once a post is waiting on ``hold``
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    def _maybe_fail(self, channel: str) -> None:
        with self._lock:
            if channel in self.broken:
                raise PermanentError("channel_not_found")
            if self.flaky > 0:
                self.flaky -= 1
                raise TransientError("ratelimited", retry_after=1)

    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef:
        self._maybe_fail(channel)
        if self.hold is not None and thread is None:
            self.held.set()
            self.hold.wait(timeout=30)  # a slow Slack: the post is in flight meanwhile
        with self._lock:
            ts = f"{next(self._ts)}.0001"
            self.posts.append((channel, message.text, thread.ts if thread else None))
        return MessageRef(channel=channel, ts=ts)

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        self._maybe_fail(ref.channel)
        with self._lock:
            self.updates.append((ref.channel, ref.ts, message.text))
        return ref

    def top_level(self) -> list[tuple[str, str]]:
        return [(c, t) for c, t, thread in self.posts if thread is None]

    def thread(self) -> list[str]:
        return [t for _, t, thread in self.posts if thread is not None]


class FakePager:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (action, routing key name, dedup key)
        self.pages: list[Page] = []  # what was sent, whole
        self.failing: dict[str, int] = {}  # action -> the next N such calls fail transiently
        self.hold: threading.Event | None = None  # when set: triggers wait until it is set
        self.held = threading.Event()  # set once a trigger is waiting on ``hold``
        self._lock = threading.Lock()

    def send(self, page: Page) -> str:
        if self.hold is not None and page.action == "trigger":
            self.held.set()
            self.hold.wait(timeout=30)  # a slow PagerDuty: the trigger is in flight meanwhile
        with self._lock:
            if self.failing.get(page.action, 0) > 0:
                self.failing[page.action] -= 1
                raise TransientError("PagerDuty answered 503", retry_after=1)
            self.events.append((page.action, page.routing_key_name, page.dedup_key))
            self.pages.append(page)
        return page.dedup_key

    def open_pages(self) -> set[tuple[str, str]]:
        """(routing key name, dedup key) of incidents triggered and not resolved."""
        state: dict[tuple[str, str], str] = {}
        for action, key, dedup in self.events:
            state[(key, dedup)] = action
        return {k for k, action in state.items() if action != "resolve"}


class FakeTracker:
    def __init__(self) -> None:
        self.issues: dict[str, IssueRequest] = {}
        self.comments: list[tuple[str, str]] = []
        self.closed: list[str] = []
        self.on_create: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def ensure_issue(self, request: IssueRequest) -> str:
        with self._lock:
            for key, existing in self.issues.items():
                if existing.dedup_label == request.dedup_label:
                    return key
            key = f"{request.project}-{len(self.issues) + 1}"
            self.issues[key] = request
            return key

    def comment(self, key: str, text: str) -> None:
        with self._lock:
            self.comments.append((key, text))

    def close(self, key: str, comment: str) -> None:
        with self._lock:
            self.closed.append(key)


class FakeCluster:
    """An in-memory cluster for workflow logic tests: replicas and pod-template annotations. Writes with
    ``expect`` are conditional, as over the real API (ClusterConflict when the object changed).
    ``after_write`` runs after each write lands, e.g. to lose the answer or to let a person act."""

    def __init__(self, replicas: int = 2) -> None:
        self.replicas: dict[str, int] = {}
        self.default_replicas = replicas
        self.annotations: dict[str, dict[str, str]] = {}
        self.writes: list[tuple[str, str, object]] = []  # (verb, target, value)
        self.after_write: Callable[[str, object], None] | None = None
        self._lock = threading.Lock()

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return {"spec": {"template": {"metadata": {"annotations": dict(self.annotations.get(str(ref), {}))}}}}

    def merge_patch(
        self, ref: ObjectRef, patch: dict[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            current = self.get(ref) or {}
            found = {path: _pointer(current, path) for path in expect or {}}
            if found != dict(expect or {}):
                raise ClusterConflict(f"{ref} changed: {found}", found=found)
            self.writes.append(("patch", str(ref), patch))
            annotations = patch.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
            self.annotations.setdefault(str(ref), {}).update(annotations)
        if self.after_write is not None:
            self.after_write("patch", patch)
        return patch

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("create", str(ref), body))
        return body

    def delete(self, ref: ObjectRef) -> None:
        self.writes.append(("delete", str(ref), None))

    def get_replicas(self, ref: ObjectRef) -> int:
        return self.replicas.get(str(ref), self.default_replicas)

    def set_replicas(self, ref: ObjectRef, replicas: int, *, expect: int | None = None) -> None:
        with self._lock:
            current = self.get_replicas(ref)
            if expect is not None and current != expect:
                raise ClusterConflict(f"{ref} has {current} replicas", found={"/spec/replicas": current})
            self.writes.append(("scale", str(ref), replicas))
            self.replicas[str(ref)] = replicas
        if self.after_write is not None:
            self.after_write("scale", replicas)

    def rollout(self, ref: ObjectRef) -> RolloutInfo:
        return RolloutInfo(revision=3, previous=[2, 1])

    def rollback(self, ref: ObjectRef, revision: int) -> None:
        self.writes.append(("rollback", str(ref), revision))


def _pointer(obj: Mapping[str, Any], pointer: str) -> Any:
    value: Any = obj
    for escaped in pointer.removeprefix("/").split("/"):
        token = escaped.replace("~1", "/").replace("~0", "~")
        if not isinstance(value, Mapping) or token not in value:
            return None
        value = value[token]
    return value


class FakeMetrics:
    def __init__(self) -> None:
        self.healthy = True
        self.queries: list[str] = []

    def holds(self, promql: str) -> bool:
        self.queries.append(promql)
        return self.healthy
