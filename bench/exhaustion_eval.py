"""How close is the time-to-exhaustion estimate (``medic.forecast``) on generated saturating series,
and how honest is its interval?

    python -m bench.exhaustion_eval [--series 400] [--seed 18] [--window 12 6]

Four kinds, each observed for a day at one point a minute and extrapolated from the last
``--window`` hours (each window in turn, on the same series): a disk filling at a steady rate under
a daily ripple and noise; a memory leak under a garbage collector's sawtooth; a connection pool
creeping up in whole connections; an error budget burning at a rate that wanders slowly. The true
exhaustion time is where the noise-free process (continued past the observation) reaches the
capacity, 2 to 72 hours after the observation ends. Prints, per kind and overall, the median and
90th percentile of the absolute error relative to the true time to exhaustion, how often the truth
lay inside the estimate's 90% interval, and the interval's median width relative to the true time;
and the CPU time per estimate.
"""

import argparse
import math
import time

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
    ap.add_argument("--window", type=float, nargs="+", default=[12.0, 6.0], help="hours of history to fit")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    series = [(KINDS[i % len(KINDS)], *saturating(rng, KINDS[i % len(KINDS)])) for i in range(args.series)]
    for hours in args.window:
        rows: dict[str, list[tuple[float, bool, float]]] = {k: [] for k in KINDS}
        cpu = 0.0
        for kind, t, y, cap, truth in series:
            start = time.process_time()
            est = time_to_exhaustion(t, y, capacity=cap, window=hours * 3600.0)
            cpu += time.process_time() - start
            if est is None or not math.isfinite(truth):
                continue
            error = abs(est.eta - truth) / truth
            rows[kind].append(
                (error, est.eta_early <= truth <= est.eta_late, (est.eta_late - est.eta_early) / truth)
            )
        every = [r for v in rows.values() for r in v]
        print(f"{hours:g} h window, {len(every)} series: error relative to the true time to exhaustion")
        print(
            f"{'kind':8s} {'median':>7s} {'p90':>7s} {'truth inside 90% interval':>26s} {'median width':>13s}"
        )
        for kind, got in [*rows.items(), ("all", every)]:
            print(_row(kind, got))
        print(f"{1000 * cpu / max(len(series), 1):.1f} ms CPU per estimate")
    return 0


def _row(kind: str, got: list[tuple[float, bool, float]]) -> str:
    if not got:
        return f"{kind:8s} (none)"
    errors = np.array([g[0] for g in got])
    inside = 100 * sum(g[1] for g in got) / len(got)
    width = float(np.median([g[2] for g in got]))  # inf when the late end is open for most
    shown = f"{100 * width:12.1f}%" if math.isfinite(width) else f"{'open':>13s}"
    median, p90 = 100 * np.median(errors), 100 * np.percentile(errors, 90)
    return f"{kind:8s} {median:6.1f}% {p90:6.1f}% {inside:25.0f}% {shown}"


if __name__ == "__main__":
    raise SystemExit(main())
