"""A line of Medic's plain-text log is one line, whatever the text from outside in its message: an alert
named with a line break wrote a forged line of its own (``[slack] #oncall: ... \\n2026-12-07 ... INFO
medic: resolved``; a security review, 2026-12-07). A traceback keeps its lines."""

import logging

from service.logs import log_formatter


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("broken")
        except ValueError as err:
            info = (type(err), err, err.__traceback__)
    return logging.LogRecord("medic.test", logging.INFO, __file__, 1, message, args, info)


def test_a_messages_line_breaks_are_escaped_in_plain_text() -> None:
    title = "KubePodCrashLooping\n2026-12-07 12:00:00,000 INFO    medic: incident resolved by U0ADMIN\r"
    line = log_formatter(json_format=False).format(_record("[slack] %s: %s", "#oncall", title))
    assert "\n" not in line and "\r" not in line
    assert line.endswith(
        "[slack] #oncall: KubePodCrashLooping\\n2026-12-07 12:00:00,000 INFO    medic: "
        "incident resolved by U0ADMIN\\r"
    )


def test_a_traceback_keeps_its_lines() -> None:
    line = log_formatter(json_format=False).format(_record("failed", exc=True))
    first, *rest = line.splitlines()
    assert first.endswith("failed") and rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: broken"
