"""In-memory fakes of the notification ports, for workflow logic tests (the adapters are tested
against local HTTP doubles of the real APIs instead)."""

import itertools
import threading
from collections.abc import Callable

from medic.ports import ChatMessage, IssueRequest, MessageRef, Page, PermanentError, TransientError

__all__ = ["FakeChat", "FakePager", "FakeTracker"]


class FakeChat:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, str | None]] = []  # (channel, text, thread ts)
        self.updates: list[tuple[str, str, str]] = []  # (channel, ts, text)
        self.broken: set[str] = set()  # channels that fail for good
        self.flaky: int = 0  # the next N calls fail transiently
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
        self._lock = threading.Lock()

    def send(self, page: Page) -> str:
        with self._lock:
            self.events.append((page.action, page.routing_key_name, page.dedup_key))
        return page.dedup_key


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
