"""Irregular rows: does the default detector keep a series' days when its rows come irregularly?

    python -m bench.anomaly_irregular [--series 40] [--seed 1000]

Generates road-speed series (65 mph, slower at the 08:00 and 17:30 rush hours, noise 3 mph, about
2,500 rows) whose rows come after 4, 5, 6, 10 or 15 minutes (5 most often) jittered by up to 20 s
(``traffic``), the same without jitter (``exact``), or after 2 to 20 minutes, uniform (``wild``),
with an accident (30 mph slower for 12 rows) somewhere after the first five days. Prints, per
kind of sampling, how many accidents score over 0.5 within 60 rows of their start, how many other
rows do, and the mean of the windows' highest scores."""

import argparse

import numpy as np
from numpy.typing import NDArray

from medic.detect import make_detector

__all__ = ["main", "speeds"]

SAMPLINGS = ("traffic", "exact", "wild")


def speeds(rng: np.random.Generator, sampling: str) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Times, speeds and the accident's first row of one series."""
    n = 2500
    if sampling == "wild":
        dt = rng.uniform(120.0, 1200.0, n)
    else:
        dt = rng.choice([240.0, 300.0, 300.0, 300.0, 360.0, 600.0, 900.0], n)
        if sampling == "traffic":
            dt = dt + rng.integers(-20, 21, n)
    t = 1.4e9 + np.cumsum(dt)
    hour = (t % 86400) / 3600
    x = 65 - 25 * np.exp(-((hour - 8) ** 2) / 2) - 30 * np.exp(-((hour - 17.5) ** 2) / 3)
    x = x + rng.normal(0, 3, n)
    accident = int(rng.integers(1500, 2300))
    x[accident : accident + 12] -= 30
    return t, np.maximum(x, 0.0), accident


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n\n")[0]
    ap = argparse.ArgumentParser(prog="python -m bench.anomaly_irregular", description=summary)
    ap.add_argument("--series", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args(argv)
    for sampling in SAMPLINGS:
        found, false, tops = 0, 0, []
        for i in range(args.series):
            t, x, a = speeds(np.random.default_rng(args.seed + i), sampling)
            s = make_detector("ensemble").update(x, t)
            top = float(s[a - 60 : a + 60].max())
            found += top >= 0.5
            false += int((np.concatenate([s[: a - 60], s[a + 60 :]]) >= 0.5).sum())
            tops.append(top)
        print(
            f"{sampling:8s} accidents found {found}/{args.series}, other rows over 0.5: {false}, "
            f"mean highest score in the window {np.mean(tops):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
