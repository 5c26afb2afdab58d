"""The learning loop on a replayed history: how many pages the proposals of ``medic.insights``
would have cut, and whether any actionable incident would have lost its page.

    python -m bench.insights_replay [--days 28] [--learn 14] [--seed 18] [--window 2000]

A generated month for 40 alert rules, labelled by kind: 24 useful rules (most incidents acted on,
lasting 15 min to hours, some short ones nobody touched), 8 noisy rules (nobody ever acts; gone
by themselves in 1-8 min), 4 flapping rules (many a day, seconds to minutes), 4 mostly-noisy rules
(short noise, and now and then a real incident lasting 20+ min). Proposals are made from the
first ``--learn`` days (the latest ``--window`` incidents of them, as the worker reads them:
``service.insights.LIMIT``, 2,000; 0: all) and applied to the rest: a silenced or demoted rule
pages no more, a raised ``for:`` pages only incidents whose alerts fired for longer than the raise
(the generated durations are firing times). Alertmanager alone pages
every incident.
"""

import argparse
from datetime import UTC, datetime, timedelta

import numpy as np

from medic.insights import IncidentOutcome, Proposal, effectiveness, history_days, propose

__all__ = ["history", "main", "pages_after"]

START = datetime(2026, 11, 1, tzinfo=UTC)


def history(rng: np.random.Generator, days: int) -> list[IncidentOutcome]:
    out: list[IncidentOutcome] = []
    kinds = ["useful"] * 24 + ["noisy"] * 8 + ["flapping"] * 4 + ["mostly-noisy"] * 4
    for r, kind in enumerate(kinds):
        rule = f"{kind}-{r:02d}"
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
                    incident_id=f"incident-{rule}-{k}",
                    rules=[rule],
                    opened_at=opened,
                    resolved_at=opened + timedelta(minutes=float(minutes)),
                    acknowledged=real,
                    resolved_by_person=real and rng.random() < 0.7,
                    false_positive=(not real) and rng.random() < 0.1,
                )
            )
    return sorted(out, key=lambda o: o.opened_at)


def pages_after(outcome: IncidentOutcome, proposals: dict[str, Proposal]) -> bool:
    for rule in outcome.rules:
        p = proposals.get(rule)
        if p is None:
            return True
        # (a raised `for:` drops the alerts that fired for less than the raise)
        if p.change == "raise_for" and (outcome.fired(rule) or 0.0) > (p.for_seconds or 0):
            return True
    return False


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
    args = ap.parse_args(argv)
    all_ = history(np.random.default_rng(args.seed), args.days)
    cut = START + timedelta(days=args.learn)
    learn = sorted((o for o in all_ if o.opened_at < cut), key=lambda o: o.opened_at)
    if args.window:
        learn = learn[-args.window :]
    test = [o for o in all_ if o.opened_at >= cut]
    proposals = {p.rule: p for p in propose(effectiveness(learn), days=history_days(learn))}
    before = len(test)
    after = sum(pages_after(o, proposals) for o in test)
    actionable = [o for o in test if o.actionable]
    lost = [o.incident_id for o in actionable if not pages_after(o, proposals)]
    kinds: dict[str, int] = {}
    for p in proposals.values():
        kinds[p.change] = kinds.get(p.change, 0) + 1
    useful_touched = sorted(r for r in proposals if r.startswith("useful"))
    span = (learn[-1].opened_at - learn[0].opened_at).total_seconds() / 86400 if learn else 0.0
    print(
        f"history: {len(all_)} incidents, {args.learn} days learned from ({len(learn)} incidents, the"
        f" latest {span:.1f} days), {args.days - args.learn} days replayed"
    )
    print(f"proposals: {kinds}; useful rules touched: {useful_touched or 'none'}")
    share = 100 * (1 - after / before)
    print(f"pages: {before} with Alertmanager alone, {after} after the proposals: cut {share:.1f}%")
    print(f"actionable incidents replayed: {len(actionable)}, lost their page: {len(lost)} {lost[:5]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
