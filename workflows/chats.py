"""The incident's chats (Slack, Teams, any kind a worker registers) and notes on the pager's alert
(Opsgenie), for the incident's notifier.

Channel-neutral: the card is Medic's ``IncidentCard`` and notes are plain text, handed to
``notify.chat_post`` / ``chat_update`` / ``chat_note``, which dispatch on the chat's kind to its adapter.
What a chat can do besides posting is recorded in the plan (``NotificationPlan.abilities``, from the
worker's adapters), so every run decides the same way:

- every chat: the card once per channel (the plan's, then those an escalation level adds); a channel
  that fails for good is dead; when no channel of the fallback's kind (Slack's) took the card, the
  fallback channel gets it;
- a chat that edits (Slack): the card brought up to date in place after every change;
- a chat with threads (Slack): the timeline (``THREADED_KINDS``) as replies under its first card;
- any other chat (Teams): one follow-up per status change (``FOLLOW_UP_KINDS``) in each channel;
- both: a page that failed for good, and its going through later (``medic.notify_state.followed_up``).

Every cursor moves before its call, so a retry, a worker restart or a continue-as-new never posts twice.
``slack_apart``: a run that started before the ``slack-as-card-chat`` patch tells Slack the old way
(``workflows.slack_before``); here it gets its other chats only, as it did (under ``chat-channels``).
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import ChatCard, ChatNote, ChatUpdate, NotifyActivities, PagerNote
    from activities.postmortem import PostmortemWritten
    from medic.cards import IncidentCard, card_digest
    from medic.incident import IncidentState
    from medic.names import named_text
    from medic.notify_state import (
        ChatPosted,
        approval_text,
        followed_up,
        noted,
        threaded,
        undecided_approvals,
    )
    from medic.routing import ChatTarget, NotificationPlan
    from medic.timeline import TimelineEntry
    from medic.vocab import TimelineKind

__all__ = [
    "APPROVALS_ASKED_BEFORE_PATCH",
    "CHATTER_PATCH",
    "POSTMORTEM_TO_MERGED_PATCH",
    "Call",
    "Chats",
    "failed_in",
]

# Timeline entries marked ``chatter`` (a flapping alert's quiet and reopened turns, a re-score at the same
# priority) are not replies or follow-ups: six flaps made 31 thread replies, four per flap, after the
# incident had said the alert was flapping. Asked only at such an entry.
CHATTER_PATCH = "chat-chatter-kept-out"
# The postmortem's link in the channels of the incidents merged into this one (they ended on "Merged into").
POSTMORTEM_TO_MERGED_PATCH = "postmortem-to-merged"
# An approval asked before a chat's card (or the first page: workflows.notifier) and still waiting when it
# went is told there too: a chat's follow-ups and the pager's notes begin with them, and a Teams + Opsgenie
# team whose card took longer to post than the approval took to be asked never heard of it (found
# recording r17). Asked only where such an approval is there.
APPROVALS_ASKED_BEFORE_PATCH = "approvals-asked-before"


class Call(Protocol):
    """Runs a notification activity; returns the notifier's ``failed`` marker when it failed for good
    (recorded on the timeline, naming the ``chat`` it was for)."""

    def __call__(self, method: Any, arg: Any, what: str, *, chat: str | None = None) -> Awaitable[Any]: ...


def failed_in(entry: TimelineEntry, kind: str) -> bool:
    """A failure of that chat itself: not told there (it would fail again, and be recorded again).
    Entries from before the kind was recorded say ``slack``."""
    return entry.data.get("chat") == kind or (kind == "slack" and bool(entry.data.get("slack")))


class Chats:
    def __init__(
        self,
        state: Callable[[], IncidentState],
        *,
        call: Call,
        failed: object,
        card: Callable[[], IncidentCard],
        stopping: Callable[[], bool],
        slack_apart: bool = False,
    ) -> None:
        """``stopping`` is true once the notifier hands over to the next run."""
        self._state, self._call, self._failed = state, call, failed
        self._card, self._stopping = card, stopping
        self._slack_apart = slack_apart

    def _in_slack(self) -> bool:
        """Whether the incident is in Slack (where an approval has its buttons)."""
        n = self._state().notifications
        planned = n.plan.chat if n.plan is not None else []
        return any(t.kind == "slack" for t in [*planned, *(p.target for p in n.chat.values())])

    def _mine(self, target: ChatTarget) -> bool:
        return not (self._slack_apart and target.kind == "slack")

    def _wanted(self, plan: NotificationPlan) -> list[ChatTarget]:
        wanted: dict[str, ChatTarget] = {}
        for target in [*plan.chat, *self._state().notifications.escalated]:
            if self._mine(target):
                wanted.setdefault(target.key, target)
        return list(wanted.values())

    def active(self, plan: NotificationPlan) -> bool:
        """Anything to post or follow up here (before ``slack-as-card-chat``: chats besides Slack)."""
        posted = self._state().notifications.chat.values()
        return bool(self._wanted(plan)) or any(self._mine(p.target) for p in posted)

    async def sync(self, plan: NotificationPlan) -> None:
        """Cards where none is yet, edits of cards that show an older revision, then replies and
        follow-ups from where each one's cursor stands."""
        n = self._state().notifications
        await self._post_cards(plan)
        for posted in list(n.chat.values()):
            if self._mine(posted.target) and plan.can(posted.target.kind).edits:
                await self._update(posted)
        for posted in list(n.chat.values()):
            kind = posted.target.kind
            if not self._mine(posted.target):
                continue
            if not plan.can(kind).threads:
                await self._follow_ups(posted)
            elif posted is n.home(kind):
                await self._replies(posted)

    async def _post_cards(self, plan: NotificationPlan) -> None:
        s = self._state()
        n = s.notifications
        wanted = self._wanted(plan)
        fallback = plan.fallback if plan.fallback is not None and self._mine(plan.fallback) else None

        def needs(fallback: ChatTarget) -> bool:
            return (
                not n.posted_in(fallback.kind)
                and fallback.key not in n.dead_channels
                and all(t.key != fallback.key for t in wanted)
            )

        if fallback is not None and needs(fallback) and all(t.kind != fallback.kind for t in wanted):
            wanted.append(fallback)
        for target in wanted:  # grows by the fallback when the last channel of its kind fails
            if target.key in n.chat or target.key in n.dead_channels:
                continue
            at, shown, card = len(s.timeline), s.revision, self._card()
            ref = await self._call(
                NotifyActivities.chat_post,
                ChatCard(target=target, card=card),
                f"post to {target.label}",
                chat=target.kind,
            )
            if ref is self._failed:
                n.dead_channels.append(target.key)
                if fallback is not None and target.kind == fallback.kind and needs(fallback):
                    wanted.append(fallback)
                continue
            # A card edited in place is brought up to date after (what happened while it was posted
            # included); one that is not is followed by what came after the position it was built at.
            cursor = len(s.timeline) if plan.can(target.kind).edits else at
            n.chat[target.key] = ChatPosted(
                target=target, cursor=cursor, ref=ref, shown=shown, card=card_digest(card)
            )
            # Approvals asked before the card and still waiting: a chat without threads has no other
            # word of them (Slack's come with their buttons, from the remediation)
            waiting = [] if plan.can(target.kind).threads else undecided_approvals(s.timeline[:cursor])
            if waiting and workflow.patched(APPROVALS_ASKED_BEFORE_PATCH):
                n.chat[target.key].backlog = waiting
            s.record(
                workflow.now(),
                TimelineKind.NOTIFICATION_SENT,
                f"Posted to {target.label}.",
                channel=target.channel,
                chat=target.kind,
            )

    async def _update(self, posted: ChatPosted) -> None:
        s = self._state()
        if posted.ref is None or posted.shown == s.revision:
            return
        posted.shown = s.revision
        card = self._card()
        kind = posted.target.kind
        # (the activity sends nothing when the card shows this already: ``ChatUpdate.shown``)
        sent = await self._call(
            NotifyActivities.chat_update,
            ChatUpdate(ref=posted.ref, card=card, target=posted.target, shown=posted.card),
            f"update the {kind.capitalize()} message in {posted.target.channel}",
            chat=kind,
        )
        # what it shows, once it does (an edit that failed is sent again at the next change)
        posted.card = card_digest(card) if sent is not self._failed else None

    async def _replies(self, home: ChatPosted) -> None:
        s = self._state()
        kind = home.target.kind
        while home.ref is not None and home.cursor < len(s.timeline) and not self._stopping():
            entry = s.timeline[home.cursor]
            home.cursor += 1  # before the call: a reply is never posted twice
            if not threaded(entry) or "from_incident" in entry.data or failed_in(entry, kind):
                continue  # absorbed history was told where it happened
            if entry.data.get("chatter") and workflow.patched(CHATTER_PATCH):
                continue  # a flapping alert's turns, a re-score at the same priority: the timeline has them
            sent = await self._call(
                NotifyActivities.chat_note,
                ChatNote(target=home.target, text=named_text(entry.message, s.names), thread=home.ref),
                f"reply in the {kind.capitalize()} thread",
                chat=kind,
            )
            if sent is self._failed:
                return  # the thread is broken: the rest waits for the next change

    async def _follow_ups(self, posted: ChatPosted) -> None:
        s = self._state()
        while (posted.backlog or posted.cursor < len(s.timeline)) and not self._stopping():
            if posted.backlog:  # approvals asked before the card, still waiting when it was posted
                entry = s.timeline[posted.backlog.pop(0)]
            else:
                entry = s.timeline[posted.cursor]
                posted.cursor += 1  # before the call: a follow-up is never posted twice
            if not followed_up(entry) or "from_incident" in entry.data:
                continue  # absorbed history was told where it happened
            if entry.data.get("chatter") and workflow.patched(CHATTER_PATCH):
                continue
            text = approval_text(entry, named_text(entry.message, s.names), slack=self._in_slack())
            sent = await self._call(
                NotifyActivities.chat_note,
                ChatNote(target=posted.target, text=text),
                f"post a follow-up to {posted.target.label}",
                chat=posted.target.kind,
            )
            if sent is self._failed:
                return  # the channel is broken: the rest waits for the next change

    async def postmortem(self, written: PostmortemWritten) -> None:
        """The postmortem's link: in the thread of a chat with threads, in every channel of the others."""
        n = self._state().notifications
        for posted in list(n.chat.values()):
            kind = posted.target.kind
            if not self._mine(posted.target):
                continue
            threads = n.plan is not None and n.plan.can(kind).threads
            if threads and (posted is not n.home(kind) or posted.ref is None):
                continue  # one reply, under the first card
            note = ChatNote(
                target=posted.target,
                # The emoji as Slack, Mattermost and Discord write it, in their threads; final once resolved.
                text=f":memo: Postmortem: {written.summary}" if threads else f"Postmortem: {written.summary}",
                link_url=written.url,
                link_text="open the postmortem",
                thread=posted.ref if threads else None,
            )
            where = kind.capitalize() if threads else posted.target.label
            await self._call(NotifyActivities.chat_note, note, f"post the postmortem to {where}", chat=kind)
        await self._postmortem_to_merged(written)

    async def _postmortem_to_merged(self, written: PostmortemWritten) -> None:
        """The channels of the incidents merged into this one, which ended on "Merged into ...": the
        postmortem's link there too (under the merged card, in a chat with threads), where this incident
        posted no card of its own (a Teams-only walk-through: the merged team never got the postmortem).
        Asked only where there is such a channel."""
        s = self._state()
        n = s.notifications
        told = [
            posted
            for key, posted in n.merged_chats.items()
            if key not in n.chat
            and self._mine(posted.target)
            and (
                posted.ref is not None or not (n.plan is not None and n.plan.can(posted.target.kind).threads)
            )
        ]
        if not told or not workflow.patched(POSTMORTEM_TO_MERGED_PATCH):
            return
        for posted in told:
            kind = posted.target.kind
            threads = n.plan is not None and n.plan.can(kind).threads
            note = ChatNote(
                target=posted.target,
                text=("" if not threads else ":memo: ")
                + f"Postmortem of {s.id}, which this incident merged into: {written.summary}",
                link_url=written.url,
                link_text="open the postmortem",
                thread=posted.ref if threads else None,
            )
            await self._call(
                NotifyActivities.chat_note, note, f"post the postmortem to {posted.target.label}", chat=kind
            )

    async def pager_notes(self) -> None:
        """Each entry of ``NOTE_KINDS`` since the last pass, once, as a note on every alert paged: once per
        alias (an incident paged before ``pager-alias-per-key`` has one for all its keys; the pager sends
        nothing for a key whose alias another key noted, as ``told_by`` says)."""
        s = self._state()
        n = s.notifications
        if n.note_cursor is None:
            n.note_cursor = len(s.timeline)  # paged before notes existed: from now on, no backlog
        while (n.note_backlog or n.note_cursor < len(s.timeline)) and not self._stopping():
            if n.note_backlog:  # approvals asked before the first page, still waiting when it went
                entry = s.timeline[n.note_backlog.pop(0)]
            else:
                entry = s.timeline[n.note_cursor]
                n.note_cursor += 1
            if not noted(entry) or "from_incident" in entry.data:
                continue
            text = approval_text(entry, named_text(entry.message, s.names), slack=self._in_slack())
            told: dict[str, list[str]] = {}  # alias -> the keys that noted it (one alias, once)
            for key in sorted(n.pages):
                alias = n.alias(key, s.id)
                sent = await self._call(
                    NotifyActivities.pager_note,
                    PagerNote(
                        routing_key_name=key,
                        dedup_key=alias,
                        text=text,
                        told_by=told.get(alias, []),
                    ),
                    f"add a note to the page ({key})",
                )
                if sent is not self._failed:
                    told.setdefault(alias, []).append(key)
