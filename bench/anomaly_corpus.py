"""The developers' corpus: realistic labelled metric series for ``bench.anomaly_eval``.

    python -m bench.anomaly_corpus OUT_DIR [--files 60] [--seed 18] [--suite classic|ops|field|shapes]

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
noise where they happen, and a count never goes below 0. ``--suite shapes`` (files named by their
shape) draws series whose normal shape is not a smooth day with noise: a sawtooth (a heap between
collections, a log between rotations), a job every so many points, a count with bursts that fade,
busy working days and quiet weekends; its anomalies are spikes, shifts and a broken rhythm (a reset
that does not come, a job that stops or runs twice as often, traffic that falls away, a working
day as quiet as a weekend), sized in the shape's own range. Labels follow
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

__all__ = ["KINDS", "OPS_KINDS", "SHAPES", "SHAPE_KINDS", "SUITES", "generate", "main", "series"]

KINDS = ("spike", "shift", "drift", "variance", "pattern", "none")
OPS_KINDS = ("missed", "stuck", "density", "dropout", "none")
SHAPE_KINDS = ("spike", "shift", "rhythm", "none")
SHAPES = ("sawtooth", "pulses", "bursty", "daily")
SUITES = {"classic": KINDS, "ops": OPS_KINDS, "field": KINDS, "shapes": SHAPE_KINDS}
_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()


def series(
    rng: np.random.Generator, kind: str, *, field: bool = False, shape: str = ""
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Times, values and the anomalies' row indices of one series (``field``: the noise grows
    with the level or wanders, as in ``--suite field``)."""
    if field:
        return _field_series(rng, kind)
    if shape:
        return _shape_series(rng, kind, shape)
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


def _shape_series(
    rng: np.random.Generator, kind: str, shape: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """A series of the ``shapes`` suite: its normal shape is not a smooth day with noise. A
    ``sawtooth`` grows and is reset (a heap between collections, a log between rotations, a queue
    drained in batches), ``pulses`` is a job every so many points (a cron, a backup), ``bursty`` a
    count with bursts that fade (mentions, sign-ups), ``daily`` busy hours on working days, quiet
    nights and weekends. The anomalies are sized in the shape's own range: a ``spike``, a ``shift``,
    and a broken ``rhythm`` (a reset that does not come, jobs that stop or run twice as often,
    traffic that falls away, a working day as quiet as a weekend)."""
    step = float(rng.choice([60.0, 300.0, 300.0, 3600.0]))
    n = int(rng.integers(3000, 9000))
    t = _START + np.arange(n) * step
    level = float(rng.lognormal(3.0, 1.5))
    i = np.arange(n)
    period = int(rng.integers(20, 300))
    resets = np.cumsum(np.maximum(5, np.round(period * rng.uniform(0.8, 1.2, n // 5 + 1)).astype(int)))
    resets = resets[resets < n]
    growth = rng.uniform(0.5, 3.0)
    offset, width = int(rng.integers(period)), int(rng.integers(1, max(2, period // 4) + 1))
    height = rng.uniform(5, 20)
    hour = (t % 86400) / 3600.0
    begin, span = rng.uniform(6, 10), rng.uniform(8, 12)
    bump = np.where((hour - begin) % 24 < span, np.sin(np.pi * ((hour - begin) % 24) / span) ** 2, 0.0)
    weekday = ((t // 86400) + 3) % 7 < 5
    quiet = rng.uniform(0.1, 0.4)
    amplitude = rng.uniform(1, 4)
    noise = level * rng.uniform(0.02, 0.08)

    def sawtooth(gone: slice = slice(0, 0)) -> NDArray[np.float64]:
        mark = np.zeros(n, dtype=bool)
        mark[resets] = True
        mark[gone] = False
        phase = i - np.maximum.accumulate(np.where(mark, i, 0))
        return level * (1 + growth * phase / period)

    def days(working: NDArray[np.bool_]) -> NDArray[np.float64]:
        return level * (1 + amplitude * bump * np.where(working, 1.0, quiet))

    if shape == "sawtooth":
        mean = sawtooth()
        noise = level * rng.uniform(0.005, 0.03)
    elif shape == "pulses":
        mean = level + ((i + offset) % period < width).astype(np.float64) * noise * height
    elif shape == "bursty":
        kick = (rng.random(n) < 1 / rng.uniform(100, 400)) * rng.pareto(2.5, n) * rng.uniform(1, 3)
        fade, burst = np.exp(-1 / rng.uniform(3, 30)), np.zeros(n)
        for k in range(1, n):
            burst[k] = burst[k - 1] * fade + kick[k]
        daily = 1 + 0.5 * np.sin(2 * np.pi * (t % 86400) / 86400 - rng.uniform(0, 2 * np.pi))
        mean = level * daily * (1 + burst)
    else:
        mean = days(weekday)
    lo, hi = np.quantile(mean, [0.01, 0.99])
    size = float(hi - lo) + 5 * noise
    anomalies: list[int] = []
    free = 0  # the first point after the last anomaly's effect
    if kind != "none":
        count = int(rng.integers(1, 4))  # drawn with spares: a spot may fall in another's effect
        spots = np.sort(rng.choice(np.arange(int(0.2 * n), n - 50), size=count + 6, replace=False))
        for spot in spots.tolist():
            if len(anomalies) == count:
                break
            sign = rng.choice([-1.0, 1.0])
            half = period // 2 if sign > 0 else 0  # a job's extra runs: halfway between two
            a, stop = spot, n
            if kind == "spike":
                stop = a + int(rng.integers(1, 4))
            elif kind == "rhythm" and shape == "sawtooth":  # the next resets do not come: a leak
                later = resets[resets >= a]
                a = int(later[0]) if later.shape[0] else n
                stop = a + int(period * rng.uniform(1.5, 3))
            elif kind == "rhythm" and shape == "pulses":  # the job stops, or runs twice as often
                a += (-(a + offset)) % period + half
                stop = a + int(period * rng.uniform(2, 6))
            elif kind == "rhythm" and shape == "bursty":  # traffic falls away for a while
                stop = a + int(rng.integers(50, 300))
            elif kind == "rhythm":  # a working day as quiet as a weekend (a holiday), or the reverse
                first = (a // (86400 / step) + 1) * (86400 / step)
                stop = int(first + 86400 / step)
                that = (i >= first) & (i < stop)  # the next whole day, the other kind of day
                changed = np.flatnonzero(that & (np.abs(days(~weekday) - mean) > 2 * noise))
                a = int(changed[0]) if changed.shape[0] else n
            if a >= n - 1 or a < free or (anomalies and a - anomalies[-1] < n // 8):
                continue
            stop = min(n, stop)
            if kind == "spike":
                mean[a:stop] += sign * size * rng.uniform(0.5, 1.5)
            elif kind == "shift":
                mean[a:] += sign * size * rng.uniform(0.3, 0.8)
            elif shape == "sawtooth":
                mean[a:] += sawtooth(slice(a, stop))[a:] - sawtooth()[a:]
                stop = int(np.searchsorted(resets, stop))
                stop = int(resets[stop]) if stop < resets.shape[0] else n
            elif shape == "pulses":
                runs = ((i + offset + half) % period < width) * noise * height
                mean[a:stop] += runs[a:stop] if sign > 0 else level - mean[a:stop]
            elif shape == "bursty":
                mean[a:stop] *= rng.uniform(0.1, 0.4)
            else:
                mean[a:stop] = days(~weekday)[a:stop]
            anomalies.append(a)
            free = stop + 50
    if shape == "bursty":
        x = rng.poisson(np.maximum(mean, 0.0)).astype(np.float64)
    else:
        x = mean + rng.normal(0, noise, n)
        if rng.random() < 0.5:  # a gauge or a count that cannot go below 0
            x = np.maximum(x, 0.0)
    return _leave_out(rng, t.astype(np.float64), x, anomalies)


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
    return _leave_out(rng, t, x, anomalies)


def _leave_out(
    rng: np.random.Generator, t: NDArray[np.float64], x: NDArray[np.float64], anomalies: list[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Up to 2% of the rows left out at random (failed scrapes), never an anomaly's first row."""
    keep = np.asarray(rng.random(x.shape[0]) > rng.uniform(0, 0.02), dtype=np.bool_)
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
        shape = SHAPES[(i // len(kinds)) % len(SHAPES)] if suite == "shapes" else ""
        t, x, anomalies = series(rng, kind, field=suite == "field", shape=shape)
        iso = i % 2 == 1
        rel = f"{kind}/{shape or kind}_{i:03d}.csv"
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
