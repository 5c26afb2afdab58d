"""How close is the time-to-exhaustion estimate (``medic.forecast``) on generated saturating series?

    python -m bench.exhaustion_eval [--series 400] [--seed 18]

Four kinds, each observed for a day at one point a minute and extrapolated from the last
``--window`` hours: a disk filling at a steady rate under a daily ripple and noise; a memory leak
under a garbage collector's sawtooth; a connection pool creeping up in whole connections; an
error budget burning at a rate that wanders slowly. The true exhaustion time is where the
noise-free process (continued past the observation) reaches the capacity, 2 to 72 hours after the
observation ends. Prints the median and 90th percentile of the absolute error, relative to the
true time to exhaustion, per kind and overall, and how often the truth lay inside the estimate's
interval.
"""

import argparse
import math

import numpy as np

from medic.detect.core import FloatArray
from medic.forecast import time_to_exhaustion

__all__ = ["main", "saturating"]

KINDS = ("disk", "memory", "pool", "budget")
_DAY = 86400.0


def saturating(rng: np.random.Generator, kind: str) -> tuple[FloatArray, FloatArray, float, float]:
    """Times, values, capacity and the true seconds from the last point to exhaustion."""
    t = np.arange(0.0, _DAY, 60.0)
    future = np.arange(_DAY, _DAY + 200 * 3600.0, 60.0)
    full = np.concatenate([t, future])
    eta_true = rng.uniform(2, 72) * 3600.0
    capacity = 100.0
    start = float(rng.uniform(20, 60))
    if kind == "budget":  # a burn rate wandering slowly around its mean
        wander = np.cumsum(rng.normal(0, 1, full.shape[0]))
        wander = 1.0 + 0.2 * wander / max(1.0, float(np.abs(wander).max()))
        rate = np.ones_like(full) * wander
    else:
        rate = np.ones_like(full)
    path: FloatArray = np.cumsum(rate) * 60.0  # arbitrary units; scaled so the capacity is hit at eta_true
    end = t.shape[0] - 1
    hit = int(np.searchsorted(full, full[end] + eta_true))
    scale = (capacity - start) / max(path[hit] - path[0], 1e-9)
    clean: FloatArray = start + (path - path[0]) * scale
    noise: FloatArray
    if kind == "disk":
        clean = clean + 1.0 * np.sin(2 * np.pi * full / _DAY)
        noise = np.asarray(rng.normal(0, 0.3, full.shape[0]), dtype=np.float64)
    elif kind == "memory":
        noise = -2.0 * ((full / 600.0) % 1.0) + np.asarray(rng.normal(0, 0.2, full.shape[0]))
    elif kind == "pool":
        noise = np.asarray(rng.normal(0, 0.8, full.shape[0]), dtype=np.float64)
    else:
        noise = np.asarray(rng.normal(0, 0.1, full.shape[0]), dtype=np.float64)
    obs = clean[: t.shape[0]] + noise[: t.shape[0]]
    if kind == "pool":
        obs = np.round(obs)
    crossed = np.flatnonzero(clean[end:] >= capacity)
    truth = float(full[end + crossed[0]] - full[end]) if crossed.shape[0] else math.inf
    return t, obs, capacity, truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.exhaustion_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=400)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--window", type=float, default=12.0, help="hours of history to fit")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    errors: dict[str, list[float]] = {k: [] for k in KINDS}
    inside = 0
    total = 0
    for i in range(args.series):
        kind = KINDS[i % len(KINDS)]
        t, y, cap, truth = saturating(rng, kind)
        est = time_to_exhaustion(t, y, capacity=cap, window=args.window * 3600.0)
        if est is None or not math.isfinite(truth):
            continue
        errors[kind].append(abs(est.eta - truth) / truth)
        inside += int(est.eta_early <= truth <= est.eta_late)
        total += 1
    every = [e for v in errors.values() for e in v]
    for kind, errs in errors.items():
        print(
            f"{kind:7s} median error {100 * np.median(errs):5.1f}%  p90 {100 * np.percentile(errs, 90):5.1f}%"
        )
    share = 100 * inside / max(total, 1)
    print(
        f"all     median error {100 * np.median(every):5.1f}%  p90 {100 * np.percentile(every, 90):5.1f}%  "
        f"truth inside the interval {share:.0f}% ({total} series, {args.window:g} h window)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
