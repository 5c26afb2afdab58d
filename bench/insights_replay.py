"""The learning loop on a replayed history: how many pages the proposals of ``medic.insights``
would have cut, and whether any actionable incident would have lost its page.

    python -m bench.insights_replay [--days 28] [--learn 14] [--seed 18] [--window 2000] [--teams 1]
                                    [--by-alertname]

A generated month for 40 alert rules, labelled by kind: 24 useful rules (most incidents acted on,
lasting 15 min to hours, some short ones nobody touched), 8 noisy rules (nobody ever acts; gone
by themselves in 1-8 min), 4 flapping rules (many a day, seconds to minutes), 4 mostly-noisy rules
(short noise, and now and then a real incident lasting 20+ min). Proposals are made from the
first ``--learn`` days (the latest ``--window`` incidents of them, as the worker reads them:
``service.insights.LIMIT``, 2,000; 0: all) and applied to the rest: a silenced or demoted rule
pages no more, a raised ``for:`` pages only incidents whose alerts fired for longer than the raise
(the generated durations are firing times). Alertmanager alone pages every incident.

``--teams N`` (N > 1): the rules belong to N teams in turn, and the first 10 are the stock rules every
team's pods fire (kube-prometheus's ``KubePodCrashLooping`` and the like): each team has its own
habit with each of them (a kind drawn per team), at the rule's rate for each team. Pages are counted
per team as well. ``--by-alertname`` learns as Medic did before 2026-12-06, from every team's
incidents of a rule together, and applies the proposals to every team. A demoted incident still firing
past its proposal's ``for_seconds`` (the longest its rule's noise fired) pages after all, late by that
much (since 2026-12-06; before, a demotion dropped every page of the rule).
"""

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from medic.insights import IncidentOutcome, Proposal, effectiveness, history_days, propose

__all__ = ["history", "main", "pages_after"]

START = datetime(2026, 11, 1, tzinfo=UTC)


KINDS = ["useful"] * 24 + ["noisy"] * 8 + ["flapping"] * 4 + ["mostly-noisy"] * 4
SHARED = 10  # with several teams: the stock rules every team's pods fire


def history(rng: np.random.Generator, days: int, *, teams: int = 1) -> list[IncidentOutcome]:
    """The month of incidents; with ``teams`` > 1 each incident names its owning team, and the stock
    rules (``shared-NN``) are each team's with a habit of its own (its kind in the incident id)."""
    out: list[IncidentOutcome] = []
    names = [f"team-{t}" for t in range(teams)] if teams > 1 else [None]
    for r, kind in enumerate(KINDS):
        if teams > 1 and r < SHARED:
            rule = f"shared-{r:02d}"
            owners = [(team, KINDS[int(rng.integers(len(KINDS)))]) for team in names]
        else:
            rule = f"{kind}-{r:02d}"
            owners = [(names[r % len(names)], kind)]
        for team, habit in owners:
            out += _incidents(rng, rule, habit, team, days)
    return sorted(out, key=lambda o: o.opened_at)


def _incidents(
    rng: np.random.Generator, rule: str, kind: str, team: str | None, days: int
) -> list[IncidentOutcome]:
    out: list[IncidentOutcome] = []
    rate = {"useful": 0.3, "noisy": 3.0, "flapping": 25.0, "mostly-noisy": 4.0}[kind]  # per day
    n = int(rng.poisson(rate * days))
    for k in range(n):
        opened = START + timedelta(seconds=float(rng.uniform(0, days * 86400)))
        if kind == "useful":
            real = rng.random() < 0.8
            minutes = rng.uniform(15, 240) if real else rng.uniform(1, 10)
        elif kind == "noisy":
            real, minutes = False, rng.uniform(1, 8)
        elif kind == "flapping":
            real, minutes = False, rng.uniform(0.2, 4)
        else:
            real = rng.random() < 0.05
            minutes = rng.uniform(20, 120) if real else rng.uniform(1, 6)
        out.append(
            IncidentOutcome(
                incident_id=f"incident-{rule}-{k}" if team is None else f"incident-{rule}-{team}-{kind}-{k}",
                rules=[rule],
                team=team,
                opened_at=opened,
                resolved_at=opened + timedelta(minutes=float(minutes)),
                acknowledged=real,
                resolved_by_person=real and rng.random() < 0.7,
                false_positive=(not real) and rng.random() < 0.1,
            )
        )
    return out


Proposals = dict[tuple[str | None, str], Proposal]


def keyed(proposals: list[Proposal]) -> Proposals:
    """By (team, rule): a silence or demotion is its team's; a raised ``for:`` (team None) everyone's."""
    return {(p.team, p.rule): p for p in proposals}


def pages_after(outcome: IncidentOutcome, proposals: Proposals) -> bool:
    for rule in outcome.rules:
        p = proposals.get((outcome.team, rule)) or proposals.get((None, rule))
        if p is None:
            return True
        # (a raised `for:` drops the alerts that fired for less than the raise; a demotion pages an
        # incident still firing after the longest noise: its for_seconds)
        fired = outcome.fired(rule) or 0.0
        if p.change in ("raise_for", "demote") and p.for_seconds is not None and fired > p.for_seconds:
            return True
    return False


def paged_late(outcome: IncidentOutcome, proposals: Proposals) -> float | None:
    """How late a demotion's page after all came (its ``for_seconds``), for an incident that paged only
    that way; None otherwise."""
    late = [
        float(p.for_seconds)
        for rule in outcome.rules
        if (p := proposals.get((outcome.team, rule))) is not None
        and p.change == "demote"
        and p.for_seconds is not None
    ]
    return max(late) if late and len(late) == len(outcome.rules) and pages_after(outcome, proposals) else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.insights_replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--learn", type=int, default=14)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument(
        "--window",
        type=int,
        default=2000,
        help="learn from the latest N incidents before the cut, as the worker reads them (0: all of them)",
    )
    ap.add_argument("--teams", type=int, default=1, help="teams owning the rules, sharing the first 10")
    ap.add_argument(
        "--by-alertname",
        action="store_true",
        help="learn from every team's incidents of a rule together, as Medic did before 2026-12-06",
    )
    args = ap.parse_args(argv)
    all_ = history(np.random.default_rng(args.seed), args.days, teams=args.teams)
    cut = START + timedelta(days=args.learn)
    learn = sorted((o for o in all_ if o.opened_at < cut), key=lambda o: o.opened_at)
    if args.window:
        learn = learn[-args.window :]
    test = [o for o in all_ if o.opened_at >= cut]
    seen = [o.model_copy(update={"team": None}) for o in learn] if args.by_alertname else learn
    proposals = keyed(propose(effectiveness(seen), days=history_days(seen)))
    paged = {o.incident_id: pages_after(o, proposals) for o in test}
    before, after = len(test), sum(paged.values())
    actionable = [o for o in test if o.actionable]
    lost = [o for o in actionable if not paged[o.incident_id]]
    kinds = Counter(p.change for p in proposals.values())
    useful_touched = sorted({r for _, r in proposals if r.startswith("useful")})
    span = (learn[-1].opened_at - learn[0].opened_at).total_seconds() / 86400 if learn else 0.0
    print(
        f"history: {len(all_)} incidents, {args.learn} days learned from ({len(learn)} incidents, the"
        f" latest {span:.1f} days), {args.days - args.learn} days replayed"
        + (
            f"; {args.teams} teams, learned {'by alertname' if args.by_alertname else 'per team'}"
            if args.teams > 1
            else ""
        )
    )
    print(f"proposals: {dict(kinds)}; useful rules touched: {useful_touched or 'none'}")
    share = 100 * (1 - after / before)
    print(f"pages: {before} with Alertmanager alone, {after} after the proposals: cut {share:.1f}%")
    print(
        f"actionable incidents replayed: {len(actionable)}, lost their page: {len(lost)} "
        f"{[o.incident_id for o in lost][:5]}"
    )
    late = [d for o in actionable if (d := paged_late(o, proposals)) is not None]
    if late:
        print(
            f"  of them paged late (a demoted incident outlasting its rule's noise): {len(late)}, by "
            f"{np.median(late) / 60:.0f} min median, {max(late) / 60:.0f} at most"
        )
    if args.teams > 1:
        for team in sorted({o.team or "" for o in test}):
            mine = [o for o in test if o.team == team]
            real = [o for o in mine if o.actionable]
            print(
                f"  {team}: pages {len(mine)} -> {sum(paged[o.incident_id] for o in mine)}, actionable "
                f"{len(real)}, lost {sum(not paged[o.incident_id] for o in real)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
