"""`/medic ...` parsing: every verb, every refusal says something useful, and fuzzed text never
escapes as anything but CommandError."""

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medic.commands import (
    COMMAND_ADAPTER,
    HELP_TEXT,
    Ack,
    Approve,
    CommandError,
    Deny,
    Help,
    List,
    Postmortem,
    Resolve,
    Show,
    Silence,
    help_for,
    normalize_text,
    parse_command,
)
from medic.feedback import Matcher

VERBS = ("help", "list", "show", "ack", "resolve", "approve", "deny", "silence", "postmortem")


def m(name: str, value: str, op: str = "=") -> Matcher:
    return Matcher(name=name, value=value, is_regex="~" in op, is_equal=op[0] == "=")


def error_of(text: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    return info.value


# --- verbs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "?", "\u00a0"])
def test_empty_text_and_help_give_the_overview(text: str) -> None:
    assert parse_command(text) == Help()


def test_help_on_a_verb_and_its_alias() -> None:
    assert parse_command("help silence") == Help(topic="silence")
    assert parse_command("help acknowledge") == Help(topic="ack")


def test_help_on_an_unknown_topic_suggests_the_closest() -> None:
    err = error_of("help silense")
    assert "`/medic help silence`" in err.message
    assert "Usage: `/medic help [COMMAND]`" in str(err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("list", List()),
        ("ls", List()),
        ("list P1", List(priority="P1")),
        ("list p2", List(priority="P2")),
        ("list P1 p1", List(priority="P1")),
        ("list checkout", List(service="checkout")),
        ("list acknowledged", List(status="acknowledged")),
        ("list all", List(include_resolved=True)),
        ("list resolved", List(status="resolved", include_resolved=True)),
        (
            "list all P1 checkout open",
            List(status="open", service="checkout", priority="P1", include_resolved=True),
        ),
        ("list service=p1 status=open", List(service="p1", status="open")),
    ],
)
def test_list_filters(text: str, expected: List) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "useful"),
    [
        ("list P1 P2", "one priority at a time"),
        ("list checkout payments", "one service at a time"),
        ("list Check@out", "not a filter"),
        ("list colour=red", "not a filter"),
        ("list priority=P9", "not a filter"),
    ],
)
def test_list_refusals(text: str, useful: str) -> None:
    err = error_of(text)
    assert useful in err.message
    assert "/medic list" in err.usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("show checkout", Show(incident_id="incident-checkout")),
        ("SHOW incident-Checkout", Show(incident_id="incident-checkout")),
        ("ack checkout", Ack(incident_id="incident-checkout")),
        ("acknowledge `incident-checkout`", Ack(incident_id="incident-checkout")),
        ("Ack incident-svc-my-thing-0123456789ab", Ack(incident_id="incident-svc-my-thing-0123456789ab")),
        ("postmortem orders-db", Postmortem(incident_id="incident-orders-db")),
        ("resolve checkout", Resolve(incident_id="incident-checkout")),
        (
            "resolve checkout rolled back  v2",
            Resolve(incident_id="incident-checkout", reason="rolled back  v2"),
        ),
        ("resolve checkout -- done", Resolve(incident_id="incident-checkout", reason="done")),
        ("approve checkout", Approve(incident_id="incident-checkout")),
        ("approve checkout restart-pods", Approve(incident_id="incident-checkout", action="restart-pods")),
        ("deny checkout", Deny(incident_id="incident-checkout")),
        ("deny checkout scale", Deny(incident_id="incident-checkout", action="scale")),
        ("deny checkout -- not now", Deny(incident_id="incident-checkout", reason="not now")),
        (
            "deny checkout scale -- traffic recovers",
            Deny(incident_id="incident-checkout", action="scale", reason="traffic recovers"),
        ),
        (
            "deny checkout scale \u2014 em dash",
            Deny(incident_id="incident-checkout", action="scale", reason="em dash"),
        ),
    ],
)
def test_incident_verbs(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("verb", ["show", "ack", "resolve", "approve", "deny", "postmortem"])
def test_missing_incident_id(verb: str) -> None:
    err = error_of(verb)
    assert "needs an incident id" in err.message or "takes an incident id" in err.message
    assert f"Usage: `/medic {verb} ID" in str(err)
    assert "Example: `/medic " in str(err)


@pytest.mark.parametrize("verb", ["show", "ack", "postmortem"])
def test_extra_arguments(verb: str) -> None:
    err = error_of(f"{verb} checkout payments")
    assert "only an incident id" in err.message
    assert "`checkout payments`" in err.message


@pytest.mark.parametrize("token", ["check!out", "incident-", "-checkout", "chéckout", "a/b", "x" * 200])
def test_malformed_incident_id(token: str) -> None:
    err = error_of(f"show {token}")
    assert "is not an incident id" in err.message
    assert "incident-checkout" in err.message


def test_approve_and_deny_extra_arguments() -> None:
    assert "at most one action" in error_of("approve checkout a b").message
    err = error_of("deny checkout too risky now")
    assert "Put a reason after `--`" in err.message
    assert "not an action name" in error_of("approve checkout @restart").message


def test_long_reason_is_refused() -> None:
    assert "keep it under 1000" in error_of("resolve checkout " + "x" * 1001).message


@pytest.mark.parametrize(
    ("typo", "meant"), [("lst", "list"), ("ackk", "ack"), ("silense", "silence"), ("aprove", "approve")]
)
def test_unknown_verb_suggests_the_closest(typo: str, meant: str) -> None:
    err = error_of(f"{typo} checkout")
    assert f"`{typo}`" in err.message
    assert f"Did you mean `/medic {meant}`?" in err.message
    assert "/medic help" in err.usage


def test_unknown_verb_without_a_close_match() -> None:
    err = error_of("xyzzy")
    assert "Did you mean" not in err.message
    assert "silence" in err.usage


# --- silence -----------------------------------------------------------------------------------


def test_silence_full_form() -> None:
    cmd = parse_command(
        'silence alertname=HighLatency service=~"check.*" env!="dev" 2h -- deploy in progress'
    )
    assert cmd == Silence(
        matchers=[m("alertname", "HighLatency"), m("service", "check.*", "=~"), m("env", "dev", "!=")],
        duration=timedelta(hours=2),
        comment="deploy in progress",
    )


def test_silence_tied_to_an_incident_long_and_short_id() -> None:
    long = parse_command('silence incident-checkout {alertname="X", service="y"} 1h30m')
    short = parse_command("silence Checkout alertname=X service=y 1h30m")
    assert isinstance(long, Silence)
    assert long == short
    assert long.incident_id == "incident-checkout"
    assert long.duration == timedelta(minutes=90)


def test_silence_with_smart_quotes_from_slack() -> None:
    cmd = parse_command("silence service=~\u201ccheck.*\u201d summary=\u2018disk full\u2019 1d \u2014 noisy")
    assert isinstance(cmd, Silence)
    assert cmd.matchers == [m("service", "check.*", "=~"), m("summary", "disk full")]
    assert cmd.comment == "noisy"


def test_silence_quoted_values_keep_spaces_commas_and_dashes() -> None:
    cmd = parse_command('silence a="x y, z -- w" b=~"\\d+" 1w --comment here')
    assert isinstance(cmd, Silence)
    assert cmd.matchers == [m("a", "x y, z -- w"), m("b", r"\d+", "=~")]
    assert cmd.comment == "comment here"


def test_silence_with_slack_html_escapes() -> None:
    cmd = parse_command('silence alertname=X summary="a &lt; b &amp;&amp; c" 1h')
    assert isinstance(cmd, Silence)
    assert cmd.matchers[1].value == "a < b && c"


@pytest.mark.parametrize(
    ("text", "useful"),
    [
        ("silence", "needs matchers and a duration"),
        ("silence 2h", "at least one matcher"),
        ("silence checkout 2h", "at least one matcher"),
        ("silence alertname=X", "must be a duration; `alertname=X` is not one"),
        ("silence alertname=X foo=y", "must be a duration"),
        ("silence alertname=X 2h deploy in progress", "Put a comment after `--`"),
        ("silence alertname=X 30s", "too short"),
        ("silence alertname=X 31d", "too long"),
        ("silence alertname=X 90", "has no unit"),
        ('silence alertname="X 2h', "never closed"),
        ('silence alertname=~"(" 2h', "regex does not compile"),
        ('silence env="" 2h', "would mute everything"),
        ("silence {alertname=X 2h", "never closed with `}`"),
        ("silence 1alert=X 2h", "Matcher `1alert=X`: expected a label name"),
        ("silence Bad@Id alertname=X 2h", "not an incident id"),
    ],
)
def test_silence_refusals(text: str, useful: str) -> None:
    err = error_of(text)
    assert useful in str(err)
    assert "/medic silence [ID] MATCHERS DURATION" in err.usage


# --- help text ---------------------------------------------------------------------------------


def test_help_text_lists_every_verb() -> None:
    for verb in VERBS:
        assert f"`/medic {verb}" in HELP_TEXT


@pytest.mark.parametrize("verb", VERBS)
def test_help_for_each_verb(verb: str) -> None:
    text = help_for(verb)
    assert text.startswith(f"*`/medic {verb}")
    assert "*Who:*" in text
    assert "*Examples:* `/medic " in text


def test_help_for_names_the_access_setting_and_handles_unknowns() -> None:
    assert "`access.silence`" in help_for("silence")
    assert "matcher" in help_for("silence").lower()
    assert help_for("acknowledge") == help_for("ack")
    assert help_for("nope").startswith("There is no `/medic nope` command.")


def test_every_help_example_parses() -> None:
    lines = [line for v in VERBS for line in help_for(v).splitlines() if line.startswith("*Examples:*")]
    examples = re.findall(r"`/medic ([^`]*)`", "\n".join(lines))
    assert len(examples) > len(VERBS)
    for example in examples:
        assert parse_command(example).verb == example.split()[0]


def test_commands_round_trip_through_json() -> None:
    cmd = parse_command("silence checkout alertname=X 2h -- c")
    assert COMMAND_ADAPTER.validate_json(COMMAND_ADAPTER.dump_json(cmd)) == cmd


def test_normalize_text() -> None:
    assert (
        normalize_text("  \u201ca\u201d \u2018b\u2019 &lt;&gt;&amp; \u2013 x\u2014y ")
        == "\"a\" 'b' <>& -- x\u2014y"
    )


# --- fuzz --------------------------------------------------------------------------------------

_pieces = st.sampled_from(
    [*VERBS, "incident-", "checkout", "=", "!=", "=~", "!~", '"', "'", "\\", "{", "}", ",", "--", " ", "1h",
     "99999999999d", "\u201c", "\u2014", "&lt;", "(", "[", "*", ".*", "P1", "all", "a", "\u0663", "\n"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_pieces, max_size=25).map("".join)))
def test_parse_command_only_returns_commands_or_raises_command_error(text: str) -> None:
    for candidate in (text, f"silence {text}", f"silence a=b {text}", f"list {text}", f"deny x {text}"):
        try:
            cmd = parse_command(candidate)
        except CommandError as err:
            assert str(err).strip()
        else:
            assert COMMAND_ADAPTER.validate_python(cmd.model_dump()) == cmd


def test_the_kill_switch_command_turns_it_off_as_well_as_on() -> None:
    """The card's button only turns the kill switch on; without MEDIC_OPERATOR_TOKEN nothing in Slack
    turned it off (a field walk-through)."""
    from medic.commands import KillSwitch  # noqa: PLC0415

    assert parse_command("killswitch") == KillSwitch(state="status")
    assert parse_command("kill_switch ON") == KillSwitch(state="on")
    assert parse_command("kill-switch off -- rolled back") == KillSwitch(state="off", reason="rolled back")
    with pytest.raises(CommandError, match="takes on, off or status"):
        parse_command("killswitch maybe")
    assert "turns it off" in help_for("killswitch")
