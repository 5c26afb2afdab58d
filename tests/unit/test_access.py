"""Who may run which command: users, named and nested groups, Slack user groups, approval by
risk, absent vs empty settings, and the configuration problems `medic check` reports."""

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from medic.access import OPEN_VERBS, AccessPolicy, Verb

POLICY = """
groups:
  sre: [U0SRE1, U0SRE2]
  oncall: [U0ONC1, sre]
  platform: [S0PLAT, oncall]
ack: [oncall]
resolve: [platform]
silence: [sre]
false_positive: []
approve: {low: [oncall], medium: [sre], high: [U0CTO]}
"""


def policy(text: str = POLICY) -> AccessPolicy:
    data: Any = yaml.safe_load(text)
    return AccessPolicy.model_validate(data)


@pytest.mark.parametrize(
    ("verb", "user", "groups", "allowed"),
    [
        (Verb.SILENCE, "U0SRE1", (), True),
        (Verb.SILENCE, "U0ONC1", (), False),
        (Verb.ACK, "U0ONC1", (), True),  # listed in a named group
        (Verb.ACK, "U0SRE2", (), True),  # nested: oncall includes sre
        (Verb.ACK, "U0CTO", (), False),
        (Verb.RESOLVE, "U0NEW", ("S0PLAT",), True),  # through a Slack user group
        (Verb.RESOLVE, "U0NEW", ("S0OTHER",), False),
        (Verb.RESOLVE, "U0SRE1", (), True),  # platform > oncall > sre
        ("ack", "U0ONC1", (), True),  # plain strings work too
    ],
)
def test_users_and_groups(verb: Verb, user: str, groups: tuple[str, ...], allowed: bool) -> None:
    assert policy().check(verb, user=user, user_groups=groups).allowed is allowed


def test_refusal_says_who_may_and_what_to_change() -> None:
    decision = policy().check(Verb.SILENCE, user="U123")
    assert not decision.allowed
    assert decision.reason == (
        "U123 may not silence: only sre (U0SRE1, U0SRE2) may. "
        "Ask one of them or change `access.silence` in routing.yaml."
    )


def test_refusal_flattens_nested_groups_and_names_slack_groups() -> None:
    reason = policy().check(Verb.RESOLVE, user="U123").reason
    assert "platform (S0PLAT, U0ONC1, U0SRE1, U0SRE2)" in reason
    reason = policy("resolve: [S0PLAT, U0A]").check(Verb.RESOLVE, user="U123").reason
    assert "only members of Slack group S0PLAT or U0A may" in reason


def test_grant_reason_names_the_path() -> None:
    assert policy().check(Verb.ACK, user="U0SRE2").reason == "U0SRE2 may ack: listed in group oncall → sre."
    reason = policy().check(Verb.RESOLVE, user="U9", user_groups=["S0PLAT"]).reason
    assert reason == "U9 may resolve: members of Slack group S0PLAT are listed in group platform."


def test_long_groups_are_shortened_in_reasons() -> None:
    members = ", ".join(f"U0M{i:02d}" for i in range(12))
    reason = policy(f"groups: {{big: [{members}]}}\nack: [big]").check(Verb.ACK, user="U1").reason
    assert "U0M07 and 4 more" in reason
    assert "U0M08" not in reason


def test_absent_setting_is_open_and_empty_list_is_closed() -> None:
    p = policy()
    open_ = p.check(Verb.KILL_SWITCH, user="U1")
    assert open_.allowed
    assert "`access.kill_switch` is not set" in open_.reason
    closed = p.check(Verb.FALSE_POSITIVE, user="U0SRE1")
    assert not closed.allowed
    assert "nobody may" in closed.reason
    assert "`access.false_positive` is empty" in closed.reason


def test_default_policy_is_open_to_everyone() -> None:
    p = AccessPolicy()
    assert all(p.check(verb, user="U1", risk="high").allowed for verb in Verb)
    assert p.problems() == []
    assert p.slack_groups() == set()


@pytest.mark.parametrize("verb", sorted(OPEN_VERBS))
def test_read_verbs_are_always_open(verb: Verb) -> None:
    closed = policy("groups: {}\nack: []\nresolve: []\nsilence: []\napprove: []")
    assert closed.check(verb, user="U1").allowed


def test_everyone_entry() -> None:
    p = policy("approve: {low: ['*'], high: [U0CTO]}")
    assert p.check(Verb.APPROVE, user="U1", risk="low").allowed
    assert "everyone is listed" in p.check(Verb.APPROVE, user="U1", risk="low").reason
    assert not p.check(Verb.APPROVE, user="U1", risk="medium").allowed


@pytest.mark.parametrize(
    ("user", "low", "medium", "high"),
    [
        ("U0ONC1", True, False, False),
        ("U0SRE1", True, True, False),  # sre approves medium, hence low too
        ("U0CTO", True, True, True),  # high approves everything below
        ("U0NOBODY", False, False, False),
    ],
)
@pytest.mark.parametrize("verb", [Verb.APPROVE, Verb.DENY])
def test_approve_by_risk_and_deny_follows(verb: Verb, user: str, low: bool, medium: bool, high: bool) -> None:
    p = policy()
    assert [p.check(verb, user=user, risk=r).allowed for r in ("low", "medium", "high")] == [
        low,
        medium,
        high,
    ]


def test_approve_reason_names_the_level() -> None:
    p = policy()
    refused = p.check(Verb.APPROVE, user="U0ONC1", risk="medium")
    assert refused.reason == (
        "U0ONC1 may not approve a medium-risk action: only sre (U0SRE1, U0SRE2) or U0CTO may. "
        "Ask one of them or change `access.approve.medium` in routing.yaml."
    )
    granted = p.check(Verb.DENY, user="U0CTO", risk="low")
    assert granted.reason == "U0CTO may deny a low-risk action: listed in `access.approve.high`."


@pytest.mark.parametrize("risk", [None, "critical"])
def test_unknown_risk_counts_as_high(risk: str | None) -> None:
    p = policy()
    assert not p.check(Verb.APPROVE, user="U0SRE1", risk=risk).allowed
    assert "high-risk" in p.check(Verb.APPROVE, user="U0CTO", risk=risk).reason


def test_approve_levels_left_out_are_closed_but_higher_approvers_may() -> None:
    p = policy("approve: {high: [U0CTO]}")
    assert p.check(Verb.APPROVE, user="U0CTO", risk="low").allowed
    assert not p.check(Verb.APPROVE, user="U1", risk="low").allowed
    nobody = policy("approve: {low: [U0A]}").check(Verb.APPROVE, user="U0A", risk="high")
    assert not nobody.allowed
    assert "`access.approve.high` and the levels above it name nobody" in nobody.reason


def test_approve_as_one_list_covers_every_risk() -> None:
    p = policy("approve: [U0A]")
    assert all(p.check(Verb.APPROVE, user="U0A", risk=r).allowed for r in ("low", "medium", "high"))
    assert "`access.approve` in routing.yaml" in p.check(Verb.DENY, user="U1", risk="low").reason
    assert policy("approve: []").check(Verb.APPROVE, user="U0A", risk="low").allowed is False


def test_slack_groups_lists_every_user_group_id() -> None:
    p = policy("groups: {a: [S0ONE, U1X]}\nack: [S0TWO]\napprove: {high: [S0THREE]}")
    assert p.slack_groups() == {"S0ONE", "S0TWO", "S0THREE"}
    assert policy().slack_groups() == {"S0PLAT"}


def test_good_policy_has_no_problems() -> None:
    assert policy().problems() == []


def test_problems_in_a_bad_policy() -> None:
    p = policy(
        """
groups:
  sre: [U0SRE1]
  Ops: [U0OPS]
  loop-a: [loop-b]
  loop-b: [loop-a, U0X]
  self: [self]
ack: [oncal]
resolve: [u0abc, "@bob", "bob@example.com"]
approve: {high: [srre, "<@U123>"]}
"""
    )
    problems = p.problems()
    text = "\n".join(problems)
    assert "access.groups.Ops: group name `Ops`" in text
    assert "access.ack[0]: `oncal` is not a group defined under access.groups" in text
    assert (
        "access.approve.high[0]: `srre` is not a group defined under access.groups (did you mean `sre`?)"
        in text
    )
    assert "access.resolve[0]: `u0abc` is not a defined group; Slack ids are in capitals: `U0ABC`" in text
    assert "access.resolve[1]: `@bob` is not a Slack user id" in text
    assert "not a name or email" in text
    assert "access.approve.high[1]: `<@U123>` is a Slack mention; write the bare id `U123`" in text
    assert "access.resolve[2]: `bob@example.com` is not a Slack user id" in text
    assert "groups include each other: loop-a → loop-b → loop-a" in text
    assert "groups include each other: self → self" in text
    assert sum("include each other" in line for line in problems) == 2  # each cycle once
    ack = dict(p.problems_at())[("ack", 0)]
    assert ack.startswith("`oncal` is not a group defined under access.groups") and "did you mean" not in ack


def test_cycles_do_not_hang_checks_and_grant_what_they_list() -> None:
    p = policy("groups: {a: [b, U0A], b: [a, U0B]}\nack: [a]")
    assert p.check(Verb.ACK, user="U0B").allowed
    refused = p.check(Verb.ACK, user="U0C")
    assert not refused.allowed
    assert "only a (U0B, U0A) may" in refused.reason


def test_unknown_entries_grant_nothing_and_are_named_in_reasons() -> None:
    reason = policy("ack: [oncal]").check(Verb.ACK, user="U1").reason
    assert "`oncal` (not a defined group)" in reason


def test_an_unknown_verb_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="'reboot' is not a valid Verb"):
        policy().check("reboot", user="U1")


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        policy("list: [U1]")
    with pytest.raises(ValidationError):
        policy("approve: {critical: [U1]}")


def test_json_schema_documents_the_settings() -> None:
    schema = AccessPolicy.model_json_schema()
    assert schema["additionalProperties"] is False
    assert "Slack user ids" in schema["properties"]["silence"]["description"]
    assert "Deny follows approve" in schema["properties"]["approve"]["description"]
