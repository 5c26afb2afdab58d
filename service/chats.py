"""The chats Medic posts its incident card to, by the kind routing names them with
(``ChatTarget.kind``): one adapter per kind. ``medic check`` holds the kinds routing names against
``CHAT_KINDS``. A new chat is its adapter (``activities/adapters/``), its settings and a line here."""

from activities.adapters.console import ConsoleNotifier
from activities.slack_cards import SlackCards
from medic.ports import CardChat, ChatOps
from service.settings import Settings

__all__ = ["CHAT_KINDS", "card_chats"]

CHAT_KINDS = ("slack", "teams")


def card_chats(settings: Settings, slack: ChatOps) -> dict[str, CardChat]:
    """Slack in Block Kit over its transport (``slack``: the slack-sdk adapter, or the console notifier
    without a token), Teams through its Workflows webhooks; without credentials the console notifier
    shows what would have been posted."""
    chats: dict[str, CardChat] = {
        "slack": SlackCards(slack),
        "teams": ConsoleNotifier(settings.data_dir / "notifications.jsonl"),
    }
    if settings.teams_webhooks:
        from activities.adapters.teams import TeamsChat  # noqa: PLC0415

        chats["teams"] = TeamsChat({n: url.get_secret_value() for n, url in settings.teams_webhooks.items()})
    return chats
