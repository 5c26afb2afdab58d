"""Slack as the notifier told it before the ``slack-as-card-chat`` patch, for the runs that started
before it (the notifier asks the patch once per run, when it starts): Block Kit through
``notify.slack_post`` / ``slack_update`` / ``slack_thread``, the same calls in the same order as then.

Its messages are kept where every chat's are now (``NotificationState.chat``, kind ``slack``; the first
one's cursor is the thread's), so when such an incident continues as new, the next run (under the
patch) edits the same message and replies in the same thread. Goes with the patch's old branch
(docs/architecture.md, the patch procedure).
"""

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities, SlackNote, SlackPost, SlackUpdate
    from activities.postmortem import PostmortemWritten
    from medic.cards import IncidentCard
    from medic.incident import IncidentState
    from medic.names import named_text
    from medic.notify_state import THREADED_KINDS, ChatPosted
    from medic.routing import ChatTarget, NotificationPlan
    from medic.timeline import TimelineEntry
    from medic.vocab import TimelineKind
    from workflows.chats import Call

__all__ = ["SlackBefore"]


def _key(channel: str) -> str:
    return ChatTarget(kind="slack", channel=channel).key


class SlackBefore:
    def __init__(
        self,
        state: Callable[[], IncidentState],
        *,
        call: Call,
        failed: object,
        card: Callable[[], IncidentCard],
        stopping: Callable[[], bool],
        close_out: bool,
        absorbed: Callable[[TimelineEntry], bool],
    ) -> None:
        self._state, self._call, self._failed = state, call, failed
        self._card, self._stopping = card, stopping
        self._close_out, self._absorbed = close_out, absorbed

    async def sync(self, plan: NotificationPlan) -> None:
        s = self._state()
        n = s.notifications
        escalated = [t.channel for t in n.escalated if t.kind == "slack"]
        channels = dict.fromkeys(plan.channels("slack") + escalated)
        wanted = [c for c in channels if _key(c) not in n.dead_channels]
        fallback = plan.fallback_channel("slack") or "#incidents"
        if not wanted and not n.posted_in("slack"):
            wanted = [fallback]
        for channel in wanted:
            if _key(channel) in n.chat:
                continue
            # What the card shows: a change while it is being posted updates it after (before the patch,
            # the revision after the post was recorded, and such a change was never shown).
            shown = s.revision if self._close_out else None
            ref = await self._call(
                NotifyActivities.slack_post,
                SlackPost(channel=channel, card=self._card()),
                f"post to Slack {channel}",
            )
            if ref is self._failed:
                n.dead_channels.append(_key(channel))
                dead = n.dead_channels
                if not n.posted_in("slack") and _key(fallback) not in dead and fallback not in wanted:
                    wanted.append(fallback)
                continue
            # The first message says all that happened so far; its thread takes what follows.
            n.chat[_key(channel)] = ChatPosted(
                target=ChatTarget(kind="slack", channel=channel),
                cursor=len(s.timeline),
                ref=ref,
                shown=s.revision if shown is None else shown,
            )
            s.record(
                workflow.now(), TimelineKind.NOTIFICATION_SENT, f"Posted to Slack {channel}.", channel=channel
            )
        for posted in n.posted_in("slack"):
            if posted.ref is not None and posted.shown != s.revision:
                posted.shown = s.revision
                await self._call(
                    NotifyActivities.slack_update,
                    SlackUpdate(ref=posted.ref, card=self._card()),
                    f"update the Slack message in {posted.target.channel}",
                )
        home = n.home("slack")
        if home is not None and home.ref is not None:
            await self._thread(home)

    async def _thread(self, home: ChatPosted) -> None:
        s = self._state()
        assert home.ref is not None
        while home.cursor < len(s.timeline) and not self._stopping():
            entry = s.timeline[home.cursor]
            home.cursor += 1
            if self._absorbed(entry):
                continue
            if entry.kind in THREADED_KINDS and not entry.data.get("slack"):  # Slack's failures: not to Slack
                sent = await self._call(
                    NotifyActivities.slack_thread,
                    SlackNote(ref=home.ref, text=named_text(entry.message, s.names)),
                    "reply in the Slack thread",
                )
                if sent is self._failed:
                    return  # the thread is broken: the rest waits for the next change

    async def postmortem(self, written: PostmortemWritten) -> None:
        home = self._state().notifications.home("slack")
        if home is not None and home.ref is not None:
            await self._call(
                NotifyActivities.slack_thread,
                SlackNote(
                    ref=home.ref,
                    text=f":memo: Postmortem: {written.summary}",  # final once resolved: no "draft"
                    link_url=written.url,
                    link_text="open the postmortem",
                ),
                "post the postmortem to Slack",
            )
