"""The developers' corpus: realistic labelled metric series for ``bench.anomaly_eval``.

    python -m bench.anomaly_corpus OUT_DIR [--files 60] [--seed 18] [--suite classic|ops|field]

writes ``OUT_DIR/data/<family>/<name>.csv`` (``timestamp,value``) and ``OUT_DIR/labels.json``.
Each series has a base level, daily and weekly seasonality, a trend, noise (Gaussian, heavy-tailed,
or autocorrelated), a sampling step of 1, 5 or 60 minutes and some missing points (rows left out), and
anomalies of one kind per family: spikes and dips, level shifts, slow drifts, variance changes,
and a changed daily pattern. About one file in eight has none. ``--suite ops`` draws a second set
of kinds that operations streams show and the first set does not: a daily job or peak that does
not happen one day (``missed``), a value that freezes (``stuck``), occasional spikes that come
several times as often for a while (``density``) and a drop to zero (``dropout``). ``--suite
field`` draws the first set's kinds on noise as request rates and sensors have it, which neither
suite has: Poisson counts and noise in proportion to the level (so a quiet night is quieter, and a
busy hour noisier, than the day's average), or a level that wanders; anomalies are sized in the
noise where they happen, and a count never goes below 0. Labels follow
NAB's convention: each anomaly gets a window of 10% of the file's rows divided by its anomaly
count, centred on the anomaly's start. Timestamps alternate between ``YYYY-MM-DD HH:MM:SS`` and
ISO 8601 with a ``Z``.

This corpus is for developing and checking: the detectors' defaults are not fitted to it.
"""

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["KINDS", "OPS_KINDS", "SUITES", "generate", "main", "series"]

KINDS = ("spike", "shift", "drift", "variance", "pattern", "none")
OPS_KINDS = ("missed", "stuck", "density", "dropout", "none")
SUITES = {"classic": KINDS, "ops": OPS_KINDS, "field": KINDS}
_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()


def series(
    rng: np.random.Generator, kind: str, *, field: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Times, values and the anomalies' row indices of one series (``field``: the noise grows
    with the level or wanders, as in ``--suite field``)."""
    if field:
        return _field_series(rng, kind)
    step = float(rng.choice([60.0, 300.0, 300.0, 300.0, 3600.0]))
    n = int(rng.integers(3000, 9000))
    t = _START + np.arange(n) * step
    level = float(rng.lognormal(3.0, 1.5))
    day = np.sin(2 * np.pi * (t % 86400) / 86400 - rng.uniform(0, 2 * np.pi))
    day = np.where(rng.random() < 0.3, np.maximum(day, 0) ** 2, day)  # business-hours peaks
    week = np.where(((t // 86400) + 3) % 7 >= 5, -1.0, 0.0)  # quieter weekends
    noise_sd = level * rng.uniform(0.02, 0.15)
    x = level + level * rng.uniform(0, 0.4) * day + level * rng.uniform(0, 0.15) * week
    x += level * rng.uniform(-0.2, 0.2) * np.arange(n) / n
    noise_kind = rng.choice(["gauss", "heavy", "ar"])
    if noise_kind == "gauss":
        x += rng.normal(0, noise_sd, n)
    elif noise_kind == "heavy":
        x += rng.standard_t(3, n) * noise_sd * 0.6
    else:
        e = rng.normal(0, noise_sd * 0.5, n)
        ar = np.zeros(n)
        for i in range(1, n):
            ar[i] = 0.8 * ar[i - 1] + e[i]
        x += ar
    job = np.zeros(n)
    every = 0.0
    if kind == "missed":  # a daily job or peak: a block of hours, every day, on top of the rest
        hour = (t % 86400) / 3600.0
        begin, hours = rng.uniform(0, 24), rng.uniform(1, 6)
        job = ((hour - begin) % 24 < hours).astype(np.float64) * noise_sd * rng.uniform(6, 15)
        x += job
    if kind == "density":  # occasional spikes are part of the normal shape
        every = rng.uniform(150, 400)
        x += (rng.random(n) < 1 / every) * noise_sd * rng.uniform(4, 8) * rng.choice([-1.0, 1.0], n)
    return _inject(rng, kind, t=t.astype(np.float64), x=x, sd=np.full(n, noise_sd), job=job, every=every)


def _field_series(
    rng: np.random.Generator, kind: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """A series of the ``field`` suite: a request rate or a count whose noise grows with its level
    (Poisson counts, or noise in proportion), quiet at night, or a level that wanders (a
    temperature, a queue that is never quite empty). The anomalies are sized in the noise where
    they happen."""
    step = float(rng.choice([60.0, 60.0, 300.0, 300.0, 3600.0]))
    n = int(rng.integers(3000, 9000))
    t = _START + np.arange(n) * step
    level = float(rng.lognormal(2.5, 1.2))
    day = np.sin(2 * np.pi * (t % 86400) / 86400 - rng.uniform(0, 2 * np.pi))
    day = np.where(rng.random() < 0.5, np.maximum(day, 0) ** 2 * 2 - 1, day)  # busy hours, quiet nights
    week = np.where(((t // 86400) + 3) % 7 >= 5, -1.0, 0.0)
    mean = level * (1 + rng.uniform(0.2, 0.9) * day + rng.uniform(0, 0.3) * week)
    mean = np.maximum(mean * (1 + rng.uniform(-0.2, 0.2) * np.arange(n) / n), 0.05 * level)
    noise_kind = rng.choice(["poisson", "proportional", "wander"])
    if noise_kind == "poisson":
        x = rng.poisson(mean).astype(np.float64)
        sd = np.sqrt(mean)
    elif noise_kind == "proportional":
        rel = rng.uniform(0.03, 0.12)
        x = mean * np.exp(rng.normal(0, rel, n))
        sd = mean * rel
    else:
        white = level * rng.uniform(0.01, 0.05)
        e = rng.normal(0, white * rng.uniform(0.1, 0.3), n)
        walk = np.zeros(n)
        for i in range(1, n):
            walk[i] = 0.995 * walk[i - 1] + e[i]
        x = mean + walk + rng.normal(0, white, n)
        sd = np.full(n, white)
    times, values, anomalies = _inject(
        rng, kind, t=t.astype(np.float64), x=x, sd=sd, job=np.zeros(n), every=0.0
    )
    if noise_kind == "poisson":  # a count is never below 0: a dip there is a drop to 0
        values = np.maximum(values, 0.0)
    return times, values, anomalies


def _inject(
    rng: np.random.Generator,
    kind: str,
    *,
    t: NDArray[np.float64],
    x: NDArray[np.float64],
    sd: NDArray[np.float64],
    job: NDArray[np.float64],
    every: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Anomalies of ``kind`` put into ``x`` (sized in ``sd``, the noise at each point), rows left
    out, and the anomalies' row indices."""
    n = int(x.shape[0])
    anomalies: list[int] = []
    if kind != "none":
        count = int(rng.integers(1, 4))
        lo = int(0.2 * n)
        spots = np.sort(rng.choice(np.arange(lo, n - 50), size=count, replace=False))
        for a in spots.tolist():
            if anomalies and a - anomalies[-1] < n // 8:
                continue
            anomalies.append(a)
            sign = rng.choice([-1.0, 1.0])
            noise_sd = float(sd[a])
            size = noise_sd * rng.uniform(5, 12)
            if kind == "spike":
                width = int(rng.integers(1, 4))
                x[a : a + width] += sign * size
            elif kind == "shift":
                x[a:] += sign * size * 0.7
            elif kind == "drift":
                ramp = np.minimum(np.arange(n - a) / rng.uniform(50, 200), 1.0)
                x[a:] += sign * size * 1.2 * ramp
            elif kind == "variance":
                width = int(rng.integers(50, 300))
                x[a : a + width] += rng.normal(0, noise_sd * rng.uniform(3, 6), min(width, n - a))
            elif kind == "pattern":
                width = int(rng.integers(100, 400))
                seg = slice(a, a + width)
                x[seg] = float(np.median(x[max(0, a - 20) : a])) + rng.normal(0, noise_sd * 0.1, len(x[seg]))
            elif kind == "missed":  # the next run of the job does not happen (or at a fifth of its size)
                starts = np.flatnonzero((job[1:] > 0) & (job[:-1] == 0)) + 1
                later = starts[starts >= a]
                if later.shape[0] == 0:
                    anomalies.pop()
                    continue
                begin = anomalies[-1] = int(later[0])
                ends = np.flatnonzero(job[begin:] == 0)
                stop = begin + (int(ends[0]) if ends.shape[0] else n - begin)
                x[begin:stop] -= job[begin:stop] * rng.choice([1.0, 0.8])
            elif kind == "stuck":  # the value freezes: a scrape that returns a cached value
                x[a : a + int(rng.integers(100, 400))] = x[a - 1]
            elif kind == "density":  # the same spikes, five to ten times as often
                width = min(int(rng.integers(200, 500)), n - a)
                burst = rng.random(width) < rng.uniform(5, 10) / every
                x[a : a + width] += burst * noise_sd * rng.uniform(4, 8) * rng.choice([-1.0, 1.0], width)
                x[a] += noise_sd * rng.uniform(4, 8) * sign
            elif kind == "dropout":  # the series falls to zero: nothing served, a collector down
                x[a : a + int(rng.integers(3, 60))] = 0.0
    if rng.random() < 0.2:  # a counter-like non-negative series
        x = np.maximum(x, 0.0)
    keep = rng.random(n) > rng.uniform(0, 0.02)  # missing points: rows left out
    for a in anomalies:
        keep[a] = True
    index = np.flatnonzero(keep)
    remap = {int(a): int(np.searchsorted(index, a)) for a in anomalies}
    return t[keep].astype(np.float64), x[keep].astype(np.float64), [remap[a] for a in anomalies]


def _stamp(ts: float, iso: bool) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ") if iso else d.strftime("%Y-%m-%d %H:%M:%S")


def generate(
    out: Path, *, files: int = 60, seed: int = 18, suite: str = "classic"
) -> dict[str, list[list[str]]]:
    rng = np.random.default_rng(seed)
    labels: dict[str, list[list[str]]] = {}
    kinds = SUITES[suite]
    for i in range(files):
        kind = kinds[i % len(kinds)]
        t, x, anomalies = series(rng, kind, field=suite == "field")
        iso = i % 2 == 1
        rel = f"{kind}/{kind}_{i:03d}.csv"
        path = out / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        digits = 3 if float(np.median(np.abs(x))) < 100 else 1
        lines = ["timestamp,value"] + [f"{_stamp(a, iso)},{b:.{digits}f}" for a, b in zip(t, x, strict=True)]
        path.write_text("\n".join(lines) + "\n")
        n = t.shape[0]
        half = max(1, int(0.1 * n / max(1, len(anomalies)))) // 2
        labels[rel] = [
            [_stamp(t[max(0, a - half)], iso), _stamp(t[min(n - 1, a + half)], iso)] for a in anomalies
        ]
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    return labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.anomaly_corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--suite", choices=sorted(SUITES), default="classic", help="which kinds of anomaly")
    args = ap.parse_args(argv)
    labels = generate(args.out, files=args.files, seed=args.seed, suite=args.suite)
    windows = sum(len(v) for v in labels.values())
    print(f"wrote {len(labels)} series with {windows} labelled windows under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
