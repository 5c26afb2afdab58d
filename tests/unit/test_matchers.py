"""Matchers and durations as typed in `/medic silence`: every operator and form, refusals that say
what was wrong, and matchers that survive a round trip through their own text."""

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medic.commands import Silence, normalize_text, parse_command
from medic.feedback import Matcher
from medic.matchers import CommandError, format_duration, parse_duration, parse_matchers


def m(name: str, value: str, op: str = "=") -> Matcher:
    return Matcher(name=name, value=value, is_regex="~" in op, is_equal=op[0] == "=")


# --- matchers ----------------------------------------------------------------------------------


def test_matchers_all_four_operators() -> None:
    assert parse_matchers('a=1 b!=2 c=~"3.*" d!~4') == [
        m("a", "1"),
        m("b", "2", "!="),
        m("c", "3.*", "=~"),
        m("d", "4", "!~"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        '{alertname="X", service="y"}',
        "{alertname=X,service=y}",
        '{ alertname = "X" , service = "y" , }',
        "alertname=X service=y",
        "alertname=X,service=y",
        "alertname=X, service='y'",
    ],
)
def test_matcher_forms(text: str) -> None:
    assert parse_matchers(text) == [m("alertname", "X"), m("service", "y")]


def test_matcher_escapes() -> None:
    assert parse_matchers(r'summary="say \"hi\", then \\ go"') == [m("summary", 'say "hi", then \\ go')]
    assert parse_matchers(r'x=~"\d+\.\d+"') == [m("x", r"\d+\.\d+", "=~")]


@pytest.mark.parametrize(
    ("text", "useful"),
    [
        ("", "No matchers"),
        ("{}", "No matchers"),
        ("alertname", "Matcher `alertname`: needs an operator"),
        ("alertname==X", "`==` is not an operator"),
        ("alertname=", 'write `alertname=""`'),
        ('a="x"b', "unexpected `b`"),
        ("a=b}", "unexpected `}`"),
        ('a=~"[" b=c', 'Matcher `a=~"["`: the regex does not compile'),
        ("a=" + "x" * 1001, "too long"),
        ('a=~".*"', "would mute everything"),
        ('a!~".+"', "would mute everything"),
        ('a!="x"', "would mute everything"),
    ],
)
def test_matcher_refusals(text: str, useful: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_matchers(text)
    assert useful in info.value.message
    assert "Matchers look like" in info.value.usage


def test_empty_matching_matchers_are_fine_beside_a_real_one() -> None:
    assert len(parse_matchers('alertname=X env="" team=~".*" x!~".+" y!="z"')) == 5


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", timedelta(minutes=1)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2H", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("30d", timedelta(days=30)),
        ("4w2d", timedelta(days=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "useful"),
    [
        ("", "missing"),
        ("59s", "too short"),
        ("0m", "too short"),
        ("30d1s", "too long"),
        ("5w", "too long"),
        ("9" * 40 + "w", "far too long"),
        ("10", "has no unit"),
        ("1.5h", "is not a duration"),
        ("1y", "is not a duration"),
        ("1ms", "is not a duration"),
        ("\u0663h", "is not a duration"),  # a non-ASCII digit
    ],
)
def test_duration_refusals(text: str, useful: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_duration(text)
    assert useful in info.value.message
    assert "30m" in info.value.usage


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(minutes=90), "1h 30m"),
        (timedelta(days=10), "1w 3d"),
        (timedelta(seconds=61), "1m 1s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-90), "-1m 30s"),
    ],
)
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


# --- fuzz --------------------------------------------------------------------------------------

_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
# Matcher.__str__ does not escape, so values avoid `"` and `\`; regexes are escaped literal text.
_plain = st.text(st.characters(exclude_characters='"\\', codec="utf-8"), max_size=30)
_matcher = st.one_of(
    st.builds(m, _names, _plain, st.sampled_from(["=", "!="])),
    st.builds(m, _names, _plain.map(re.escape), st.sampled_from(["=~", "!~"])),
    st.builds(m, _names, st.sampled_from(["check.*", "a|b", "[0-9]+", "^x$", "(?i)prod"]), st.just("=~")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_matcher, min_size=1, max_size=6), st.sampled_from([" ", ", ", ","]))
def test_matchers_round_trip(matchers: list[Matcher], sep: str) -> None:
    matchers = [m("alertname", "HighLatency"), *matchers]  # Alertmanager needs one non-empty matcher
    text = sep.join(str(x) for x in matchers)
    assert parse_matchers(text) == matchers
    assert parse_matchers("{" + text + "}") == matchers
    if normalize_text(text) == text:  # what Slack's typography fixes would change is not for this test
        cmd = parse_command(f"silence checkout {text} 2h -- why")
        assert isinstance(cmd, Silence)
        assert cmd.matchers == matchers
