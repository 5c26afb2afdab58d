"""The notifier of ``medic dev`` and of any deployment without credentials: it shows what would
have been sent, on the console and as JSON lines in a file, and never fails."""

import itertools
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from medic.cards import IncidentCard
from medic.ports import Change, ChatMessage, IssueRequest, IssueUpdate, MessageRef, Page

__all__ = ["ConsoleNotifier"]

log = logging.getLogger(__name__)


class ConsoleNotifier:
    """Implements ChatOps (Slack's transport: Slack's CardChat, ``SlackCards``, renders over it),
    CardChat (Teams), Pager and Tracker at once."""

    console = True  # what it "sends" reaches nobody: counted as outcome="console", not "ok"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._issues: dict[str, str] = {}
        self._issue_numbers = itertools.count(1)

    def _write(self, kind: str, **data: object) -> None:
        line = {"at": datetime.now(UTC).isoformat(), "kind": kind, **data}
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a") as out:
                out.write(json.dumps(line, default=str) + "\n")

    # ChatOps
    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef:
        ref = MessageRef(kind="slack", channel=channel, id=f"{next(self._ts)}.000000")
        where = f"{channel} (thread {thread.id})" if thread else channel
        log.info("[slack] %s: %s", where, message.text)
        self._write(
            "slack.post",
            channel=channel,
            ts=ref.id,
            thread=thread.id if thread else None,
            text=message.text,
            blocks=message.blocks,
        )
        return ref

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef:
        log.info("[slack] update %s %s: %s", ref.channel, ref.id, message.text)
        self._write("slack.update", channel=ref.channel, ts=ref.id, text=message.text)
        return ref

    # CardChat
    def post_card(self, channel: str, card: IncidentCard) -> MessageRef:
        log.info("[teams] %s: %s · %s [%s]", channel, card.priority, card.title, card.status)
        self._write("teams.card", channel=channel, card=card.model_dump(mode="json"))
        return MessageRef(kind="teams", channel=channel, id="")

    def post_note(
        self, channel: str, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef:
        log.info("[teams] %s: %s", channel, text)
        self._write("teams.note", channel=channel, text=text, link=link_url)
        return MessageRef(kind="teams", channel=channel, id="")

    # Pager
    def send(self, page: Page) -> str:
        log.info(
            "[pagerduty] %s %s via %s: %s", page.action, page.dedup_key, page.routing_key_name, page.summary
        )
        self._write("pagerduty", **page.model_dump())
        return page.dedup_key

    def change(self, change: Change) -> None:
        log.info("[pagerduty] change via %s: %s", change.routing_key_name, change.summary)
        self._write("pagerduty.change", **change.model_dump())

    # Tracker
    def ensure_issue(self, request: IssueRequest) -> str:
        with self._lock:
            key = self._issues.get(request.dedup_label)
            if key is None:
                key = self._issues[request.dedup_label] = f"{request.project}-{next(self._issue_numbers)}"
                created = True
            else:
                created = False
        if created:
            log.info("[jira] %s created: %s", key, request.summary)
            self._write("jira.create", key=key, **request.model_dump())
        return key

    def comment(self, key: str, text: str) -> None:
        log.info("[jira] %s comment: %s", key, text)
        self._write("jira.comment", key=key, text=text)

    def attach(self, key: str, *, filename: str, content: str) -> None:
        log.info("[jira] %s attachment: %s (%d characters)", key, filename, len(content))
        self._write("jira.attach", key=key, filename=filename, text=content)

    def close(self, key: str, comment: str) -> None:
        log.info("[jira] %s done: %s", key, comment)
        self._write("jira.close", key=key, text=comment)

    def reopen(self, key: str, comment: str) -> None:
        log.info("[jira] %s reopened: %s", key, comment)
        self._write("jira.reopen", key=key, text=comment)

    def update_issue(self, update: IssueUpdate) -> None:
        log.info("[jira] %s now %s: %s", update.key, update.priority, update.summary)
        self._write("jira.update", **update.model_dump())

    def link(self, key: str, other_key: str, kind: str) -> None:
        log.info("[jira] %s %s %s", key, kind, other_key)
        self._write("jira.link", key=key, other_key=other_key, link_type=kind)
