"""The anomaly harness: run Medic's default detector over a folder of labelled series and print a
windowed score in the style of the Numenta Anomaly Benchmark.

    python -m bench.anomaly_eval DATA_DIR LABELS_JSON --out OUT_DIR [--detector ensemble]

DATA_DIR holds ``timestamp,value`` CSVs at any depth (a header row is optional; timestamps as
``YYYY-MM-DD HH:MM:SS``, ISO 8601 or epoch seconds; an empty or unreadable value is a missing point,
scored 0).
LABELS_JSON maps a CSV's path relative to DATA_DIR to its anomaly windows,
``{"relative/path.csv": [["start", "end"], ...]}``; a window is the rows whose timestamp lies
within it. Rows are scored in file order, even when timestamps repeat or go backwards. Each file's
scores are written to OUT_DIR under the same relative path as ``timestamp,value,anomaly_score``.
The score (``bench.anomaly_scoring``) is printed when the labels give at least one window. Exit 0
when every file was scored, 1 otherwise.
"""

import argparse
import csv
import io
import json
import math
import re
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.anomaly_scoring import FileRows, corpus_score
from medic.detect import make_detector
from medic.detect.stabilise import preload

__all__ = ["Series", "main", "parse_times", "read_series", "window_rows"]

_TWO_COMMAS = re.compile(r",[^\r\n]*,")  # a row with more than two fields


class Series:
    """One CSV as read: the original timestamp and value texts, and their numbers."""

    def __init__(self, stamps: list[str], texts: list[str]) -> None:
        self.stamps = stamps
        self.texts = texts
        self.times = parse_times(stamps)
        self.values = _numbers(texts)


def _numbers(texts: list[str]) -> NDArray[np.float64]:
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:
        out = np.empty(len(texts))
        for i, v in enumerate(texts):
            try:
                out[i] = float(v)
            except ValueError:
                out[i] = np.nan
        return out


def _one_time(text: str) -> float:
    t = text.strip()
    if t.isdigit():  # epoch seconds (fromisoformat would read 10020120 as a date in 1002)
        return _epoch(t)
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return _epoch(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def _epoch(text: str) -> float:
    """Epoch seconds written as a number (milliseconds past 1e11, as in year 5138 in seconds); NaN
    for anything else."""
    try:
        v = float(text)
    except ValueError:
        return float("nan")
    return v / 1000.0 if abs(v) >= 1e11 else v


def parse_times(stamps: list[str]) -> NDArray[np.float64]:
    """Epoch seconds (naive times read as UTC); NaN for an unreadable one."""
    if not stamps:
        return np.zeros(0)
    # dates only (numpy reads a number such as 1396310400 as a year): of one width, each stamp's
    # fifth character at once, and numpy reads them as written; else cleaned, one by one
    width = len(stamps[0])
    one_width = width > 4 and set(map(len, stamps)) == {width}
    arr = _datetimes(stamps) if one_width and "".join(stamps)[4::width] == "-" * len(stamps) else None
    if arr is None:
        clean = [s.strip().replace(" ", "T", 1).removesuffix("Z") for s in stamps]  # naive is UTC too
        arr = _datetimes(clean) if all(c[4:5] == "-" for c in clean) else None
    if arr is None:  # not all dates, or one numpy cannot read (a zone): row by row
        return np.array([_one_time(s) for s in stamps], dtype=np.float64)
    out: NDArray[np.float64] = arr.astype(np.int64).astype(np.float64) / 1000.0
    out[np.isnat(arr)] = np.nan
    return out


def _datetimes(stamps: list[str]) -> NDArray[np.datetime64] | None:
    """Naive times in one numpy call, or None when numpy cannot read one (or warns: a zone)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            arr: NDArray[np.datetime64] = np.array(stamps, dtype="datetime64[ms]")
    except (ValueError, Warning):
        return None
    return arr


def read_series(path: Path) -> Series:
    # a byte-order mark is no part of a row; line ends as they are (a quoted field may hold one)
    text = path.read_bytes().decode("utf-8-sig")
    if '"' in text:  # quoted fields: the csv module reads them
        return _rows([r for r in csv.reader(io.StringIO(text, newline="")) if r])
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if "" in lines:
        lines = [line for line in lines if line]
    if not lines or text.count(",") != len(lines) or _TWO_COMMAS.search(text):  # not one comma a row
        return _rows([line.split(",") for line in lines])
    # every row is ``time,value``: the same rows as the csv module's, five times as fast
    flat = ",".join(lines).split(",")
    stamps, texts = flat[0::2], flat[1::2]
    return _columns(stamps, texts, [stamps[0], texts[0]])


def _rows(rows: list[list[str]]) -> Series:
    stamps = [r[0] for r in rows]
    return _columns(stamps, [r[1] if len(r) > 1 else "" for r in rows], rows[0] if rows else [])


def _columns(stamps: list[str], texts: list[str], first: list[str]) -> Series:
    """The series of these columns, less the first row (``first``, as read) when it is a header."""
    if first and _is_header(first):
        return Series(stamps[1:], texts[1:])
    return Series(stamps, texts)


def _is_header(row: list[str]) -> bool:
    """A first row whose time cannot be read, and whose value is a word (a data row may have an
    unreadable time, or no value)."""
    if not math.isnan(_one_time(row[0])):
        return False
    value = row[1].strip() if len(row) > 1 else ""
    return len(row) < 2 or (value != "" and math.isnan(_epoch(value)))


def window_rows(times: NDArray[np.float64], windows: list[list[str]]) -> list[tuple[int, int]]:
    """Each window as the inclusive range of row indices whose timestamps lie within it."""
    out = []
    for start, end in windows:
        lo, hi = _one_time(start), _one_time(end)
        inside = np.flatnonzero((times >= lo) & (times <= hi))
        if inside.shape[0]:
            out.append((int(inside[0]), int(inside[-1])))
    return out


def _write(path: Path, series: Series, scores: NDArray[np.float64]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    buf.write("timestamp,value,anomaly_score\n")
    rows = zip(series.stamps, series.texts, scores.tolist(), strict=True)
    text = "".join(series.stamps) + "".join(series.texts)
    if any(c in text for c in ',"\r\n'):  # a field to quote (a value "1,5" stays one field)
        csv.writer(buf, lineterminator="\n").writerows((t, v, f"{s:.6f}") for t, v, s in rows)
    else:  # none: the same text, three times as fast
        buf.writelines(f"{t},{v},{s:.6f}\n" for t, v, s in rows)
    path.write_text(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.anomaly_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--detector", default="ensemble", help="detector kind (default: the ensemble)")
    args = ap.parse_args(argv)
    labels: dict[str, list[list[str]]] = json.loads(args.labels.read_text())
    files = sorted(p for p in args.data_dir.rglob("*.csv") if p.is_file())
    preload()  # scikit-learn (0.7 s): loading libraries is start-up, outside the clock, as numpy's is
    scored: list[FileRows] = []
    failed = 0
    points = 0
    detect_s = 0.0
    started = time.perf_counter()
    for path in files:
        rel = path.relative_to(args.data_dir).as_posix()
        try:
            series = read_series(path)
            t0 = time.perf_counter()
            scores = make_detector(args.detector).update(series.values, series.times)
            detect_s += time.perf_counter() - t0
            _write(args.out / rel, series, scores)
        except Exception as exc:  # one bad file is reported, the others still run
            print(f"{rel}: not scored: {exc}", file=sys.stderr)
            failed += 1
            continue
        points += scores.shape[0]
        scored.append(FileRows(scores, window_rows(series.times, labels.get(rel, []))))
    elapsed = time.perf_counter() - started
    print(f"files {len(files) - failed}/{len(files)}, points {points}")
    print(
        f"throughput: {points / max(elapsed, 1e-9):,.0f} points/s end to end (read, detect, write), "
        f"{points / max(detect_s, 1e-9):,.0f} points/s detector only"
    )
    result = corpus_score(scored)
    if result is None:
        print("no labelled windows: no score")
    else:
        print(
            f"score {result.score:.1f} (NAB standard profile; threshold {result.threshold:.4f}; "
            f"{result.detected}/{result.windows} windows detected, {result.false_positives} false positives)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
