"""Slack as a chat like the others (``medic.ports.CardChat``): the incident card rendered to Block Kit
(:func:`medic.cards.render_card`: buttons, escaped mrkdwn), **edited in place** (``chat.update``, so it is
an :class:`~medic.ports.EditableChat`) and the timeline as **replies in its thread** (a
:class:`~medic.ports.ThreadedChat`).

It speaks through Slack's transport port (``medic.ports.ChatOps``): the slack-sdk adapter
(:class:`activities.adapters.slack.SlackChat`), the console notifier without a token, or a fake in tests.
That port stays for what is Slack's alone (approval requests, ``/medic`` answers). Nothing here imports an
SDK, so ``NotifyActivities`` builds it over the transport it is given (and workflows, which import the
activities' definitions, import no adapter).
"""

from medic.cards import IncidentCard, render_card, render_note
from medic.ports import ChatOps, MessageRef

__all__ = ["SlackCards"]


class SlackCards:
    def __init__(self, chat: ChatOps) -> None:
        self._chat = chat

    def post_card(self, channel: str, card: IncidentCard) -> MessageRef:
        return self._chat.post(channel, render_card(card))

    def update_card(self, ref: MessageRef, card: IncidentCard) -> MessageRef:
        return self._chat.update(ref, render_card(card))

    def post_note(
        self, channel: str, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef:
        return self._chat.post(channel, render_note(text, link_url=link_url, link_text=link_text))

    def reply(
        self, ref: MessageRef, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef:
        note = render_note(text, link_url=link_url, link_text=link_text)
        return self._chat.post(ref.channel, note, thread=ref)
