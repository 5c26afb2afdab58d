"""Chats besides Slack (Teams) and notes on the pager's alert (Opsgenie), for the incident's notifier.

Channel-neutral: the card is Medic's ``IncidentCard`` and follow-ups are plain text, handed to
``notify.chat_post`` / ``notify.chat_note``, which dispatch on the chat's kind to its adapter. Such posts
cannot be edited, so a status change is a follow-up post (``CHAT_KINDS``), never the card again. Every
cursor moves before its call, so a retry, a worker restart or a continue-as-new never posts twice.
The notifier calls in here only under the ``chat-channels`` / ``pager-notes`` patches.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import ChatCard, ChatNote, NotifyActivities, PagerNote
    from activities.postmortem import PostmortemWritten
    from medic.cards import IncidentCard
    from medic.incident import IncidentState
    from medic.notify_state import CHAT_KINDS, NOTE_KINDS, ChatPosted
    from medic.routing import NotificationPlan
    from medic.vocab import TimelineKind

__all__ = ["OtherChats"]

Call = Callable[[Any, Any, str], Awaitable[Any]]


class OtherChats:
    def __init__(
        self,
        state: Callable[[], IncidentState],
        *,
        call: Call,
        failed: object,
        card: Callable[[], IncidentCard],
        stopping: Callable[[], bool],
    ) -> None:
        """``call`` runs an activity and returns ``failed`` when it failed for good (recorded);
        ``stopping`` is true once the notifier hands over to the next run."""
        self._state, self._call, self._failed = state, call, failed
        self._card, self._stopping = card, stopping

    async def sync(self, plan: NotificationPlan) -> None:
        """The card once per channel; then one follow-up per status change after the timeline position
        the card was built at."""
        s = self._state()
        n = s.notifications
        for target in plan.chat:
            if target.key in n.chat or target.key in n.dead_channels:
                continue
            at = len(s.timeline)  # the card shows everything up to here; follow-ups take what comes after
            name = f"{target.kind} {target.channel}"
            ref = await self._call(
                NotifyActivities.chat_post, ChatCard(target=target, card=self._card()), f"post to {name}"
            )
            if ref is self._failed:
                n.dead_channels.append(target.key)
                continue
            n.chat[target.key] = ChatPosted(target=target, cursor=at)
            s.record(
                workflow.now(),
                TimelineKind.NOTIFICATION_SENT,
                f"Posted to {name}.",
                channel=target.channel,
                chat=target.kind,
            )
        for posted in list(n.chat.values()):
            await self._follow_ups(posted)

    async def _follow_ups(self, posted: ChatPosted) -> None:
        s = self._state()
        while posted.cursor < len(s.timeline) and not self._stopping():
            entry = s.timeline[posted.cursor]
            posted.cursor += 1  # before the call: a follow-up is never posted twice
            if entry.kind not in CHAT_KINDS or "from_incident" in entry.data:
                continue  # absorbed history was told where it happened
            sent = await self._call(
                NotifyActivities.chat_note,
                ChatNote(target=posted.target, text=entry.message),
                f"post a follow-up to {posted.target.kind} {posted.target.channel}",
            )
            if sent is self._failed:
                return  # the channel is broken: the rest waits for the next change

    async def postmortem(self, written: PostmortemWritten) -> None:
        for posted in list(self._state().notifications.chat.values()):
            await self._call(
                NotifyActivities.chat_note,
                ChatNote(
                    target=posted.target,
                    text=f"Postmortem: {written.summary}",
                    link_url=written.url,
                    link_text="open the postmortem",
                ),
                f"post the postmortem to {posted.target.kind} {posted.target.channel}",
            )

    async def pager_notes(self) -> None:
        """Each entry of ``NOTE_KINDS`` since the last pass, once, as a note on every alert paged."""
        s = self._state()
        n = s.notifications
        if n.note_cursor is None:
            n.note_cursor = len(s.timeline)  # paged before notes existed: from now on, no backlog
        while n.note_cursor < len(s.timeline) and not self._stopping():
            entry = s.timeline[n.note_cursor]
            n.note_cursor += 1
            if entry.kind not in NOTE_KINDS or "from_incident" in entry.data:
                continue
            for key in sorted(n.pages):
                await self._call(
                    NotifyActivities.pager_note,
                    PagerNote(routing_key_name=key, dedup_key=s.id, text=entry.message),
                    f"add a note to the page ({key})",
                )
