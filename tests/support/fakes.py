"""In-memory fakes of the notification ports, for workflow logic tests (the adapters are tested
against local HTTP doubles of the real APIs instead)."""

import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from temporalio.client import Client

from activities.postmortem import StateSource
from medic.cards import IncidentCard
from medic.incident import IncidentState
from medic.ports import (
    Change,
    ChatMessage,
    IssueRequest,
    IssueUpdate,
    MessageRef,
    Page,
    PermanentError,
    TransientError,
)
from remediations.patches import json_pointer, merge_apply
from remediations.ports import ClusterConflict, ClusterError, ObjectRef, RolloutInfo

__all__ = [
    "FakeChat",
    "FakeCluster",
    "FakeMetrics",
    "FakeOpsgenie",
    "FakePager",
    "FakeTeams",
    "FakeTracker",
    "queried_state",
]


def queried_state(client: Client) -> StateSource:
    """The postmortem activity's state source as the service builds it: a query to the run."""

    async def state_of(incident_id: str, run_id: str | None) -> IncidentState:
        from workflows.incident import IncidentWorkflow  # noqa: PLC0415

        return await client.get_workflow_handle(incident_id, run_id=run_id).query(IncidentWorkflow.state)

    return state_of


class FakeChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, str | None]] = []  # (channel, text, thread ts)
        self.updates: list[tuple[str, str, str]] = []  # (channel, ts, text)
        self.versions: dict[str, list[ChatMessage]] = {}  # ts -> the message as posted, then each edit
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
            self.posts.append((channel, message.text, thread.id if thread else None))
            self.versions[ts] = [message]
        return MessageRef(kind="slack", channel=channel, id=ts)

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        self._maybe_fail(ref.channel)
        with self._lock:
            self.updates.append((ref.channel, ref.id, message.text))
            self.versions.setdefault(ref.id, []).append(message)
        return ref

    def top_level(self) -> list[tuple[str, str]]:
        return [(c, t) for c, t, thread in self.posts if thread is None]

    def thread(self) -> list[str]:
        return [t for _, t, thread in self.posts if thread is not None]


class FakeTeams:
    """A chat whose posts cannot be edited (Teams through Workflows): cards and follow-up notes."""

    def __init__(self) -> None:
        self.cards: list[tuple[str, IncidentCard]] = []  # (channel, card)
        self.notes: list[tuple[str, str, str | None]] = []  # (channel, text, link)
        self.broken: set[str] = set()
        self._lock = threading.Lock()

    def post_card(self, channel: str, card: IncidentCard) -> MessageRef:
        if channel in self.broken:
            raise PermanentError("404 Not Found")
        with self._lock:
            self.cards.append((channel, card))
        return MessageRef(kind="teams", channel=channel, id="")

    def post_note(
        self, channel: str, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef:
        if channel in self.broken:
            raise PermanentError("404 Not Found")
        with self._lock:
            self.notes.append((channel, text, link_url))
        return MessageRef(kind="teams", channel=channel, id="")

    def notes_in(self, channel: str) -> list[str]:
        return [text for c, text, _ in self.notes if c == channel]


class FakePager:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (action, routing key name, dedup key)
        self.pages: list[Page] = []  # what was sent, whole
        self.changes: list[Change] = []  # change events (remediations Medic ran)
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

    def change(self, change: Change) -> None:
        with self._lock:
            self.changes.append(change)

    def open_pages(self) -> set[tuple[str, str]]:
        """(routing key name, dedup key) of incidents triggered and not resolved."""
        state: dict[tuple[str, str], str] = {}
        for action, key, dedup in self.events:
            state[(key, dedup)] = action
        return {k for k, action in state.items() if action != "resolve"}


class FakeOpsgenie(FakePager):
    """A pager that keeps notes on its alerts, as Opsgenie does."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[tuple[str, str, str]] = []  # (routing key name, alias, text)

    def send(self, page: Page) -> str:
        if page.told_by and page.action != "trigger":
            return page.dedup_key  # another key's page acknowledged or closed the alert already
        return super().send(page)

    def note(self, routing_key_name: str, dedup_key: str, text: str, *, told_by: Sequence[str] = ()) -> None:
        if told_by:
            return  # the alert has it from another key's note, as Opsgenie's adapter says
        with self._lock:
            self.notes.append((routing_key_name, dedup_key, text))


class FakeTracker:
    def __init__(self) -> None:
        self.issues: dict[str, IssueRequest] = {}
        self.comments: list[tuple[str, str]] = []
        self.attachments: list[tuple[str, str, str]] = []
        self.closed: list[str] = []
        self.reopened: list[tuple[str, str]] = []  # (key, comment)
        self.updates: list[IssueUpdate] = []
        self.links: list[tuple[str, str, str]] = []  # every call, so a test sees a second one
        self.on_create: Callable[[], None] | None = None
        self.hold: threading.Event | None = None  # when set: creating an issue waits until it is set
        self.held = threading.Event()  # set once a create is waiting on ``hold``
        self._lock = threading.Lock()

    def ensure_issue(self, request: IssueRequest) -> str:
        if self.hold is not None:
            self.held.set()
            self.hold.wait(timeout=30)  # a slow JIRA: the create is in flight meanwhile
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

    def attach(self, key: str, *, filename: str, content: str) -> None:
        with self._lock:
            if (key, filename, content) not in self.attachments:
                self.attachments.append((key, filename, content))

    def close(self, key: str, comment: str) -> None:
        with self._lock:
            self.closed.append(key)

    def reopen(self, key: str, comment: str) -> None:
        with self._lock:
            self.reopened.append((key, comment))

    def update_issue(self, update: IssueUpdate) -> None:
        with self._lock:
            self.updates.append(update)

    def link(self, key: str, other_key: str, kind: str) -> None:
        with self._lock:
            self.links.append((key, other_key, kind))


class FakeCluster:
    """An in-memory cluster for workflow logic tests: replicas, pod-template annotations, one Deployment's
    rollout history and whole objects (``objects``: HPAs, ConfigMaps, Istio and Gateway API objects, by
    ``str(ref)``). Writes with ``expect`` are conditional, as over the real API (ClusterConflict when the
    object changed). ``after_write`` runs after each write lands, e.g. to lose the answer or to let a
    person act."""

    def __init__(self, replicas: int = 2) -> None:
        self.replicas: dict[str, int] = {}
        self.default_replicas = replicas
        self.annotations: dict[str, dict[str, str]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        # The rollout: pod template -> the revision numbers it has had (the last is its current one).
        self.templates: dict[str, list[int]] = {"v1": [1], "v2": [2], "v3": [3]}
        self.running = "v3"
        self.writes: list[tuple[str, str, object]] = []  # (verb, target, value)
        self.after_write: Callable[[str, object], None] | None = None
        self._lock = threading.RLock()

    def _landed(self, verb: str, value: object) -> None:
        if self.after_write is not None:
            self.after_write(verb, value)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        if str(ref) in self.objects:
            return copy.deepcopy(self.objects[str(ref)])
        if ref.kind not in ("Deployment", "StatefulSet"):
            return None
        return {"spec": {"template": {"metadata": {"annotations": dict(self.annotations.get(str(ref), {}))}}}}

    def _check(self, ref: ObjectRef, current: Mapping[str, Any], expect: Mapping[str, Any] | None) -> None:
        found = {path: json_pointer(current, path) for path in expect or {}}
        if found != dict(expect or {}):
            raise ClusterConflict(f"{ref} changed: {found}", found=found)

    def merge_patch(
        self, ref: ObjectRef, patch: dict[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            current = self.get(ref)
            if current is None:
                raise ClusterError(f"{ref} does not exist")
            self._check(ref, current, expect)
            self.writes.append(("patch", str(ref), patch))
            if str(ref) in self.objects:
                self.objects[str(ref)] = merge_apply(current, copy.deepcopy(patch))
            else:
                annotations = (
                    patch.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
                )
                self.annotations.setdefault(str(ref), {}).update(annotations)
        self._landed("patch", patch)
        return patch

    def create(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if str(ref) in self.objects:
                raise ClusterConflict(f"{ref} exists already", found={})
            self.writes.append(("create", str(ref), body))
            self.objects[str(ref)] = copy.deepcopy(body)
        self._landed("create", body)
        return body

    def delete(self, ref: ObjectRef, *, expect: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            current = self.get(ref)
            if current is None:
                if expect is None:
                    raise ClusterError(f"{ref} does not exist")
                return
            self._check(ref, current, expect)
            self.writes.append(("delete", str(ref), None))
            self.objects.pop(str(ref), None)
        self._landed("delete", None)

    def autoscalers(self, namespace: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for key, obj in self.objects.items()
            if key.startswith(f"horizontalpodautoscaler/{namespace}/")
        ]

    def custom_objects(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for key, obj in self.objects.items()
            if key.startswith(f"{kind.lower()}/{namespace}/") and obj.get("apiVersion") == api_version
        ]

    def get_replicas(self, ref: ObjectRef) -> int:
        return self.replicas.get(str(ref), self.default_replicas)

    def set_replicas(self, ref: ObjectRef, replicas: int, *, expect: int | None = None) -> None:
        with self._lock:
            current = self.get_replicas(ref)
            if expect is not None and current != expect:
                raise ClusterConflict(f"{ref} has {current} replicas", found={"/spec/replicas": current})
            self.writes.append(("scale", str(ref), replicas))
            self.replicas[str(ref)] = replicas
        self._landed("scale", replicas)

    def rollout(self, ref: ObjectRef) -> RolloutInfo:
        with self._lock:
            runs = self.templates[self.running]
            others = {numbers[-1] for template, numbers in self.templates.items() if template != self.running}
            return RolloutInfo(revision=runs[-1], previous=sorted(others, reverse=True), runs=sorted(runs))

    def deploy(self, template: str) -> None:
        """A rollout of ``template`` (a new one, or one the history has), as the controller numbers it."""
        with self._lock:
            if template != self.running:
                top = max(n for numbers in self.templates.values() for n in numbers)
                self.templates.setdefault(template, []).append(top + 1)
                self.running = template

    def rollback(self, ref: ObjectRef, revision: int, *, expect: int | None = None) -> None:
        with self._lock:
            runs = self.templates[self.running]
            if expect is not None and revision not in runs and expect not in runs:
                raise ClusterConflict(f"{ref} runs revision {runs[-1]}", found={"revision": runs[-1]})
            (template,) = [t for t, numbers in self.templates.items() if revision in numbers]
            if template == self.running:
                return
            self.writes.append(("rollback", str(ref), revision))
            self.deploy(template)
        self._landed("rollback", revision)


class FakeMetrics:
    def __init__(self) -> None:
        self.healthy = True
        self.refused: str | None = None  # what Prometheus answers a query it refuses
        self.queries: list[str] = []

    def holds(self, promql: str) -> bool:
        self.queries.append(promql)
        if self.refused is not None:
            raise PermanentError(self.refused)
        return self.healthy
