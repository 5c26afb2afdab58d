"""Slack mrkdwn, escaped: the one place where text from outside enters a Slack message.

Slack reads ``<...>`` in message text as a mention (``<!channel>``, ``<!here>``, ``<@U123>``) or a
link (``<https://example.com|label>``), and ``&`` as the start of an entity; everything else in
mrkdwn only changes how text looks. Label values, titles, notes, reasons and command text come from
alerts and people, so each of them is escaped (``&`` ``<`` ``>``, as Slack's "Formatting text for app
surfaces: Escaping text" asks, https://api.slack.com/reference/surfaces/formatting#escaping) while the
markup around them is Medic's own. The pattern is markupsafe's: :class:`Markup` is text that is already
safe, :func:`mrkdwn` fills a template of Medic's with escaped values, and the Block Kit builders take
only :class:`Markup`, so mypy finds a value that skipped escaping. Links are built by :func:`link`
(http and https only; anything else is shown as escaped text, never as a link).
"""

from urllib.parse import urlsplit

__all__ = ["Markup", "escape", "join", "link", "mrkdwn"]


class Markup(str):
    """mrkdwn that is safe to send as it is: written by Medic, or escaped already."""

    __slots__ = ()


def escape(value: object) -> Markup:
    """``value`` as text Slack shows literally (a :class:`Markup` is returned unchanged)."""
    if isinstance(value, Markup):
        return value
    text = str(value)
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def mrkdwn(template: str, /, **values: object) -> Markup:
    """``template`` (Medic's own markup, ``str.format`` fields) filled with escaped ``values``.

    Strings are escaped; numbers keep their format specs (``{impact:.0f}``); :class:`Markup` (a
    :func:`link`, an escaped fragment) is inserted as it is.
    """
    safe = {k: escape(v) if isinstance(v, str) else v for k, v in values.items()}
    return Markup(template.format_map(safe))


def join(separator: str, parts: list[Markup]) -> Markup:
    """Markup joined by Medic's own separator."""
    return Markup(separator.join(parts))


def link(url: str | None, label: str) -> Markup:
    """``<url|label>`` for an http(s) URL; the label alone (escaped) for no URL or any other scheme.

    Inside ``<...>`` Slack ends the URL at ``|`` and the link at ``>``, so those are percent-encoded
    in the URL and the label is escaped: a URL from an alert cannot add a mention or a second link.
    """
    if not url or not _http(url):
        return escape(label)
    target = escape(url.strip()).replace("|", "%7C")
    return Markup(f"<{target}|{escape(label)}>")


def _http(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
