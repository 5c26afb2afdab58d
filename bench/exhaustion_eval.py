"""How close is the time-to-exhaustion estimate (``medic.forecast``) on generated saturating series,
how honest is its interval, and how right is the decision to raise a prediction?

    python -m bench.exhaustion_eval [--series 400] [--seed 18] [--window 12 6] [--shapes 8]

Four kinds, each observed for a day at one point a minute and extrapolated from the last
``--window`` hours (each window in turn, on the same series): a disk filling at a steady rate under
a daily ripple and noise; a memory leak under a garbage collector's sawtooth; a connection pool
creeping up in whole connections; an error budget burning at a rate that wanders slowly. The true
exhaustion time is where the noise-free process (continued past the observation) reaches the
capacity, 2 to 72 hours after the observation ends. Prints, per kind and overall, the median and
90th percentile of the absolute error relative to the true time to exhaustion, how often the truth
lay inside the estimate's 90% interval, and the interval's median width relative to the true time;
and the CPU time per estimate.

Then the decision, as a scan makes it (``within(horizon)`` of the estimate at each run, with
``now`` the run's end): ``--shapes`` series of each shape, one run an hour (more often just after
a clean-up), a day's horizon. Two shapes fill within the horizon at every run (a steady fill, and a
leak under a collector's sawtooth, which runs out when a cycle's peak reaches the limit); the others
never fill within it: a flat collector's sawtooth, a flat noisy disk, one under strongly correlated
noise, a daily log-rotation sawtooth seen over 50 hours (two cycles: a rotation), over 26 hours (one
reset, which is no evidence of a cycle: a clean-up looks the same) and over 6 hours (its climb is a fill
for all the window can tell), a JVM heap rising to a plateau short of the limit, a bursty connection
pool, and a disk cleaned up that then fills again at its old rate (2 days or more to go). Over a 26-hour
lookback: a disk flat for days that starts filling 8 to 16 hours before it is full (it fills), and the
flat noisy disk, the correlated one and the plateauing heap again (they never fill). Prints per
shape the runs raised of all runs and, where the shape fills, the median error of the estimate in
hours and how often the truth lay inside the interval (a run with no estimate counts as not raised).
"""

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np

from medic.detect.core import FloatArray
from medic.forecast import time_to_exhaustion

__all__ = ["SHAPES", "Shape", "main", "saturating", "shape"]

KINDS = ("disk", "memory", "pool", "budget")
SHAPES = (
    "fill",
    "gc-leak",
    "flat-gc",
    "flat-disk",
    "flat-red",
    "rotation-50h",
    "rotation-26h",
    "rotation-6h",
    "heap-plateau",
    "bursty-pool",
    "after-cleanup",
    "onset-26h",
    "flat-disk-26h",
    "flat-red-26h",
    "heap-plateau-26h",
)
_DAY = 86400.0
_HOUR = 3600.0
_HORIZON = _DAY


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


@dataclass(frozen=True)
class Shape:
    """One generated series of a shape and the scan runs over it: the run ends (indices into ``t``)
    and, for each, the true seconds from the run's end to exhaustion (``inf``: never)."""

    t: FloatArray
    y: FloatArray
    capacity: float
    lookback: float
    ends: list[int]
    truths: list[float]


def _sawtooth(rng: np.random.Generator, t: FloatArray, amplitude: float) -> FloatArray:
    """A garbage collector's cycle: a climb of ``amplitude`` every 5 to 15 minutes, then a collection."""
    period = float(rng.uniform(300.0, 900.0))
    out: FloatArray = amplitude * (((t + rng.uniform(0, period)) / period) % 1.0)
    return out


def _red(rng: np.random.Generator, n: int, phi: float, sd: float) -> FloatArray:
    out = np.empty(n)
    out[0] = rng.normal(0, sd)
    shocks = rng.normal(0, sd * math.sqrt(1 - phi * phi), n)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def _first_reach(t: FloatArray, clean: FloatArray, capacity: float, ends: list[int]) -> list[float]:
    hit = np.flatnonzero(clean >= capacity)
    if not hit.shape[0]:
        return [math.inf] * len(ends)
    return [max(float(t[hit[hit >= e][0]] - t[e]), 0.0) if (hit >= e).any() else math.inf for e in ends]


def shape(rng: np.random.Generator, name: str) -> Shape:
    """One series of a decision shape (``SHAPES``), one point a minute."""
    if name == "onset-26h":  # a disk flat for days starts filling (a runaway log): seen over 26 hours
        t = np.arange(0.0, 4 * _DAY, 60.0)
        level, hours = float(rng.uniform(0.4, 0.7)), float(rng.uniform(8.0, 16.0))
        onset = 3 * _DAY - hours * _HOUR
        rate = (0.95 - level) / (hours * _HOUR)
        filling: FloatArray = level + rate * np.clip(t - onset, 0.0, None)
        y = filling + rng.normal(0, float(rng.uniform(0.002, 0.01)), t.shape[0])
        ends = [int((onset + h * _HOUR) / 60) for h in range(2, int(hours))]
        return Shape(t, y, 0.95, 26 * _HOUR, ends, _first_reach(t, filling, 0.95, ends))
    if name in ("fill", "gc-leak"):
        t = np.arange(0.0, 4 * _DAY, 60.0)
        if name == "fill":  # a disk filling steadily to 0.95 at day 3
            rate = float(rng.uniform(0.1, 0.3)) / _DAY
            clean: FloatArray = 0.95 - rate * (3 * _DAY - t)
            y = clean + rng.normal(0, float(rng.uniform(0.002, 0.01)), t.shape[0])
            capacity = 0.95
        else:  # the floor after each collection rises; a cycle's peak reaching 1.0 is the OOM kill
            amplitude = float(rng.uniform(0.1, 0.2))
            rate = float(rng.uniform(0.08, 0.2)) / _DAY
            clean = 1.0 - amplitude - rate * (3 * _DAY - t) + _sawtooth(rng, t, amplitude)
            y = clean + rng.normal(0, 0.005, t.shape[0])
            capacity = 1.0
        cross = int(np.flatnonzero(clean >= capacity)[0])
        ends = [cross - h * 60 for h in range(24, 0, -1)]
        return Shape(t, y, capacity, 6 * _HOUR, ends, _first_reach(t, clean, capacity, ends))
    t = np.arange(0.0, 4 * _DAY, 60.0)
    n = t.shape[0]
    lookback = 6 * _HOUR
    capacity = 0.95
    ends = [int(2 * _DAY / 60) + h * 60 for h in range(24)]
    if name.endswith("-26h") and not name.startswith("rotation"):  # the same, seen over 26 hours
        name, lookback = name.removesuffix("-26h"), 26 * _HOUR
    if name == "flat-gc":
        clean = float(rng.uniform(0.55, 0.75)) + _sawtooth(rng, t, float(rng.uniform(0.1, 0.2)))
        y = clean + rng.normal(0, 0.005, n)
        capacity = 1.0
    elif name == "flat-disk":
        clean = np.full(n, float(rng.uniform(0.6, 0.88)))
        y = clean + rng.normal(0, float(rng.uniform(0.002, 0.02)), n)
    elif name == "flat-red":  # noise 0.9-0.98 correlated minute to minute
        clean = np.full(n, float(rng.uniform(0.6, 0.8)))
        y = clean + _red(rng, n, float(rng.uniform(0.9, 0.98)), 0.02)
    elif name.startswith("rotation"):  # logs grow through the day, rotated at a fixed time of day
        low, high = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.8, 0.9))
        clean = low + (high - low) * (((t + rng.uniform(0, _DAY)) / _DAY) % 1.0)
        y = clean + rng.normal(0, 2e-4, n)
        lookback = {"rotation-50h": 50 * _HOUR, "rotation-26h": 26 * _HOUR}.get(name, 6 * _HOUR)
        ends = [int(2 * _DAY / 60) + h * 60 for h in range(48)]
    elif name == "heap-plateau":  # a JVM's heap after a start: up to a plateau under the limit
        start, top, tau = 0.3, float(rng.uniform(0.7, 0.85)), float(rng.uniform(1.0, 3.0)) * _HOUR
        amplitude = float(rng.uniform(0.03, 0.1))
        clean = start + (top - amplitude - start) * (1 - np.exp(-t / tau)) + _sawtooth(rng, t, amplitude)
        y = clean + rng.normal(0, 0.003, n)
        capacity = 1.0
        ends = [int(12 * _HOUR / 60) + h * 60 for h in range(25)]
    elif name == "bursty-pool":  # connections in use: 20 to 25, a burst to the limit one minute in twenty
        clean = np.full(n, 22.0)
        y = np.where(rng.random(n) < 0.05, 100.0, 20.0 + rng.integers(0, 6, n).astype(np.float64))
        capacity = 100.0
    elif name == "after-cleanup":  # a disk nearly full is cleaned up, and fills again at its old rate
        t = np.arange(0.0, 8 * _DAY, 60.0)
        n = t.shape[0]
        rate = float(rng.uniform(0.005, 0.012)) / _HOUR
        cleaned = float(rng.uniform(0.3, 0.5))
        at = 2 * _DAY
        clean = np.where(t < at, float(rng.uniform(0.86, 0.9)) - rate * (at - t), cleaned + rate * (t - at))
        y = clean + rng.normal(0, float(rng.uniform(2e-4, 3e-3)), n)
        ends = [int((at + m * 60.0) / 60) for m in (5, 15, 30, 45, 60, 90, *range(120, 721, 60))]
    else:
        raise ValueError(f"no shape {name}")
    return Shape(
        t, np.asarray(y, dtype=np.float64), capacity, lookback, ends, _first_reach(t, clean, capacity, ends)
    )


def decide(shapes: list[Shape]) -> tuple[int, int, list[float], list[bool]]:
    """Runs raised, runs, and where the truth is finite the eta errors (hours) and whether the
    interval held the truth."""
    raised = runs = 0
    errors: list[float] = []
    inside: list[bool] = []
    for sh in shapes:
        for e, truth in zip(sh.ends, sh.truths, strict=True):
            lo = int(np.searchsorted(sh.t, sh.t[e] - sh.lookback))
            est = time_to_exhaustion(
                sh.t[lo : e + 1],
                sh.y[lo : e + 1],
                capacity=sh.capacity,
                window=sh.lookback,
                now=float(sh.t[e]),
            )
            runs += 1
            raised += est is not None and est.within(_HORIZON)
            if math.isfinite(truth) and est is not None:
                errors.append(abs(est.eta - truth) / _HOUR if math.isfinite(est.eta) else math.inf)
                inside.append(est.eta_early <= truth <= est.eta_late)
    return raised, runs, errors, inside


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.exhaustion_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=400)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--window", type=float, nargs="+", default=[12.0, 6.0], help="hours of history to fit")
    ap.add_argument("--shapes", type=int, default=8, help="series of each decision shape (0: none)")
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
    if args.shapes > 0:
        print(f"decision: one run an hour, a day's horizon, {args.shapes} series a shape")
        head = ("shape", "lookback", "raised", "fills", "median error", "truth inside")
        print("{:14s} {:>8s} {:>9s} {:>6s} {:>13s} {:>13s}".format(*head))
        shapes_rng = np.random.default_rng(args.seed + 1)
        for name in SHAPES:
            print(_decision_row(name, [shape(shapes_rng, name) for _ in range(args.shapes)]))
    return 0


def _decision_row(name: str, got: list[Shape]) -> str:
    raised, runs, errors, inside = decide(got)
    error = f"{float(np.median(errors)):11.1f} h" if errors else f"{'-':>13s}"
    held = f"{100 * sum(inside) / len(inside):12.0f}%" if inside else f"{'-':>13s}"
    lookback = f"{got[0].lookback / _HOUR:.0f}h"
    return f"{name:14s} {lookback:>8s} {raised:4d}/{runs:<4d} {len(errors):6d} {error} {held}"


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
