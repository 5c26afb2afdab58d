"""The anomaly harness (``python -m bench.anomaly_eval``) on tiny labelled sets with known scores,
and the NAB-style scoring on hand-made scores."""

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.anomaly_eval import _one_time, main, parse_times, read_series
from bench.anomaly_scoring import FileRows, corpus_score, probation, scaled_sigmoid

START = datetime(2026, 3, 1, tzinfo=UTC)


def stamp(i: int, iso: bool = False) -> str:
    d = START + timedelta(minutes=5 * i)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ") if iso else d.strftime("%Y-%m-%d %H:%M:%S")


def write_csv(path: Path, stamps: list[str], values: list[str], header: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["timestamp,value"] if header else []) + [
        f"{a},{b}" for a, b in zip(stamps, values, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def tp_weight(i: int, lo: int, hi: int) -> float:
    return scaled_sigmoid(-(hi - i + 1) / (hi - lo + 1)) / scaled_sigmoid(-1.0)


def test_perfect_null_and_hand_scored_detectors() -> None:
    n = 1000
    windows = [(400, 499), (800, 899)]
    perfect = np.zeros(n)
    perfect[[400, 800]] = 1.0
    assert corpus_score([FileRows(perfect, windows)]).score == pytest.approx(100.0)  # type: ignore[union-attr]
    never = corpus_score([FileRows(np.zeros(n), windows)])
    assert never is not None and never.score == 0.0
    # one window found halfway in, the other missed, one false positive before the first window
    s = np.zeros(n)
    s[450] = 0.9
    s[300] = 0.8
    got = corpus_score([FileRows(s, windows)])
    assert got is not None
    raw_best = max(tp_weight(450, 400, 499) - 1.0, tp_weight(450, 400, 499) - 0.11 - 1.0)
    assert got.raw == pytest.approx(raw_best)
    assert got.score == pytest.approx(100.0 * (raw_best + 2.0) / 4.0)
    assert got.detected == 1 and got.false_positives == 0


def test_probation_rows_do_not_count() -> None:
    assert probation(1000) == 150 and probation(100_000) == 750
    s = np.zeros(1000)
    s[100] = 1.0  # inside the probation period: ignored, so the window is missed
    got = corpus_score([FileRows(s, [(90, 200)])])
    assert got is not None and got.score == 0.0


def test_a_window_inside_the_probation_period_is_neither_found_nor_missed() -> None:
    """As NAB's sweeper: its rows are all probationary, so it has no part in the score (a perfect
    detector of the other window scores 100, not 50); a detection just after it costs little."""
    n = 1000  # probation: 150 rows
    windows = [(50, 120), (400, 499)]
    s = np.zeros(n)
    s[400] = 1.0
    got = corpus_score([FileRows(s, windows)])
    assert got is not None and got.score == pytest.approx(100.0) and got.windows == 1
    s[160] = 1.0  # 40 rows after the first window's end, 70 wide: weight 0.11 * sigmoid(40/70)
    near = corpus_score([FileRows(s, windows)])
    assert near is not None and near.false_positives == 1
    assert near.raw == pytest.approx(1.0 + 0.11 * scaled_sigmoid(40 / 70))
    assert corpus_score([FileRows(s, [(50, 120)])]) is None  # nothing left to score


def test_a_window_reaching_past_the_probation_period_is_scored_whatever_lies_inside_it() -> None:
    """A wide window from row 100 to 400 holds a narrow one that ends in probation (labels may nest,
    and rows found by timestamp may overlap): the wide one is scored, the narrow one is not, in a file
    after another file's windows too."""
    n = 1000
    s = np.zeros(n)
    s[300] = 1.0
    alone = corpus_score([FileRows(s, [(100, 400), (120, 140)])])
    assert alone is not None and alone.windows == 1 and alone.detected == 1
    assert alone.false_positives == 0 and alone.raw == pytest.approx(tp_weight(300, 100, 400))
    first = np.zeros(n)
    first[600] = 1.0
    both = corpus_score([FileRows(first, [(600, 700)]), FileRows(s, [(100, 400), (120, 140)])])
    assert both is not None and both.windows == 2 and both.detected == 2 and both.false_positives == 0
    assert both.raw == pytest.approx(1.0 + tp_weight(300, 100, 400))


def test_no_windows_no_score() -> None:
    assert corpus_score([FileRows(np.ones(10), [])]) is None


def test_timestamps_in_both_forms() -> None:
    t = parse_times(["2026-03-01 00:05:00", "2026-03-01T00:10:00"])
    assert t.tolist() == [START.timestamp() + 300, START.timestamp() + 600]
    t = parse_times(["2026-03-01T00:05:00Z", "2026-03-01T02:10:00+02:00"])
    assert t.tolist() == [START.timestamp() + 300, START.timestamp() + 600]


def test_the_harness_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    n = 2000
    rng = np.random.default_rng(5)
    values = 50.0 + rng.normal(0.0, 1.0, n)
    values[1500] += 60.0
    write_csv(data / "a" / "deep" / "spike.csv", [stamp(i) for i in range(n)], [f"{v:.3f}" for v in values])
    # ISO stamps, no header, a repeated and a backwards timestamp, a missing value: rows stay in order
    stamps = [stamp(i, iso=True) for i in range(300)]
    stamps[100] = stamps[99]
    stamps[200] = stamps[10]
    texts = [f"{v:.2f}" for v in rng.normal(0, 1, 300)]
    texts[150] = ""
    write_csv(data / "quiet.csv", stamps, texts, header=False)
    labels = {"a/deep/spike.csv": [[stamp(1400), stamp(1600)]], "quiet.csv": []}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "out"
    assert main([str(data), str(tmp_path / "labels.json"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = 50.0 * (1.0 + tp_weight(1500, 1400, 1600))
    assert f"score {expected:.1f}" in printed, printed
    written = (out / "quiet.csv").read_text().splitlines()
    assert written[0] == "timestamp,value,anomaly_score"
    assert [r.split(",")[0] for r in written[1:]] == stamps
    assert written[151].split(",")[1:] == ["", "0.000000"]
    scored = read_series(out / "a" / "deep" / "spike.csv")
    assert len(scored.stamps) == n
    assert math.isclose(float(scored.texts[1500]), round(values[1500], 3))


def test_the_harness_without_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write_csv(data / "x.csv", [stamp(i) for i in range(50)], ["1"] * 50)
    (tmp_path / "labels.json").write_text("{}")
    assert main([str(data), str(tmp_path / "labels.json"), "--out", str(tmp_path / "out")]) == 0
    assert "no score" in capsys.readouterr().out
    assert (tmp_path / "out" / "x.csv").is_file()


def test_an_unreadable_file_fails_the_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad.csv").write_bytes(b"\xff\xfe\x00garbage")
    write_csv(data / "ok.csv", [stamp(i) for i in range(50)], ["1"] * 50)
    (tmp_path / "labels.json").write_text("{}")
    assert main([str(data), str(tmp_path / "labels.json"), "--out", str(tmp_path / "out")]) == 1


@pytest.mark.parametrize("header", [True, False])
def test_a_byte_order_mark_is_not_a_header(tmp_path: Path, header: bool) -> None:
    """A CSV saved with a byte-order mark (as spreadsheet programs save UTF-8) and no header: the
    mark made the first row unreadable as a time, so it was taken for a header and lost."""
    path = tmp_path / "bom.csv"
    stamps = [stamp(i) for i in range(5)]
    lines = (["timestamp,value"] if header else []) + [f"{a},{i}" for i, a in enumerate(stamps)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    series = read_series(path)
    assert series.stamps == stamps
    assert series.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_epoch_timestamps_and_a_first_row_that_is_data(tmp_path: Path) -> None:
    """Epoch seconds (or milliseconds) are times too, and a first row whose value is a number is
    data, not a header (a first row whose time could not be read was dropped as one)."""
    assert parse_times(["1396310400", "1396310700.5"]).tolist() == [1396310400.0, 1396310700.5]
    assert parse_times(["1396310400000"]).tolist() == [1396310400.0]
    path = tmp_path / "epoch.csv"
    path.write_text("1396310400,5\n1396310700,6\nnot a time,7\n")
    series = read_series(path)
    assert series.values.tolist() == [5.0, 6.0, 7.0]
    assert series.times[:2].tolist() == [1396310400.0, 1396310700.0] and math.isnan(series.times[2])
    path.write_text("time,value\n1396310400,5\n")
    assert read_series(path).values.tolist() == [5.0]


def test_numbers_among_dates_and_odd_first_rows_keep_their_rows(tmp_path: Path) -> None:
    """A review's cases: numbers or an empty stamp among dates were read by numpy as years or as
    NaT's integer; a number that is also a basic ISO date (10020120) was read as the year 1002; a
    first data row with an unreadable time and no value was dropped as a header; a quoted value
    with a comma split into two columns in the output."""
    t = parse_times(["2026-03-01 00:05:00", "1396310460", "", "60", "2026-03-01 00:10:00"])
    assert t[[0, 1, 3, 4]].tolist() == [START.timestamp() + 300, 1396310460.0, 60.0, START.timestamp() + 600]
    assert math.isnan(t[2])
    assert parse_times(["10020120"]).tolist() == [10020120.0]
    data = tmp_path / "data"
    data.mkdir()
    (data / "odd.csv").write_text(f'04/01/2014 00:00,\n{stamp(1)},"1,5"\n{stamp(2)},3\n')
    (tmp_path / "labels.json").write_text("{}")
    assert main([str(data), str(tmp_path / "labels.json"), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.reader((tmp_path / "out" / "odd.csv").open()))
    assert [r[:2] for r in rows] == [
        ["timestamp", "value"],
        ["04/01/2014 00:00", ""],
        [stamp(1), "1,5"],
        [stamp(2), "3"],
    ]


@pytest.mark.parametrize(
    "text",
    [
        "timestamp,value\r\n2026-03-01 00:00:00,1\r\n2026-03-01 00:05:00,2\r\n",  # Windows lines
        "2026-03-01 00:00:00,1\r2026-03-01 00:05:00,2\r",  # old Mac lines
        "timestamp,value\n\n2026-03-01 00:00:00,1\n\n\n2026-03-01 00:05:00,\n",  # blank rows, no value
        "2026-03-01 00:00:00,1,x\n2026-03-01 00:05:00\n",  # a third field, and none: commas add up
        "2026-03-01 00:00:00,1\n2026-03-01 00:05:00,2,3\n2026-03-01 00:10:00,4\n",
        "today,1\n2026-03-01 00:05:00,2\n1396310400,3\n",  # words and numbers among dates
        "abcd-03-01 00:00:00,1\n2026-03-01 00:05:00,2\n",  # one width, not a date
        " 2026-03-01 00:00:00 ,1\n2026-03-01T00:05:00Z,2\n",  # spaces, a zone
    ],
)
def test_rows_are_read_as_the_csv_module_reads_them(tmp_path: Path, text: str) -> None:
    """Files without quotes are split by hand (five times as fast as the csv module), and their
    times read by numpy as written when they are all dates of one width: the rows, texts and
    times are those the csv module and the row-by-row reader give."""
    path = tmp_path / "odd.csv"
    path.write_bytes(text.encode())
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if rows[0][0] == "timestamp":
        rows = rows[1:]
    series = read_series(path)
    assert series.stamps == [r[0] for r in rows]
    assert series.texts == [r[1] if len(r) > 1 else "" for r in rows]
    one_by_one = [_one_time(r[0]) for r in rows]
    np.testing.assert_array_equal(series.times, one_by_one)


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"\r\n", b"\xef\xbb\xbf"])
def test_an_empty_file_has_no_rows(tmp_path: Path, raw: bytes) -> None:
    """A review: an empty file (or only blank lines, or only a byte-order mark) failed with an
    IndexError when rows were split by hand; the csv module reads no rows, and so does the harness."""
    path = tmp_path / "empty.csv"
    path.write_bytes(raw)
    series = read_series(path)
    assert series.stamps == [] and series.values.shape == (0,)


def test_a_quoted_line_end_is_kept(tmp_path: Path) -> None:
    """A review: the file was read with newlines translated, so a CRLF inside a quoted field came
    back as LF; the csv module keeps it."""
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'timestamp,value\r\n2026-03-01 00:00:00,"a\r\nb"\r\n')
    assert read_series(path).texts == ["a\r\nb"]


def test_the_irregular_rows_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m bench.anomaly_irregular`` at a tiny size prints a line per kind of sampling (the
    figures are in docs/BENCHMARKS.md, not asserted), and its series are what it says: rows 2 to 20
    minutes apart, an accident 30 mph slower for 12 rows."""
    from bench.anomaly_irregular import SAMPLINGS, main, speeds  # noqa: PLC0415 - the benchmark, only here

    assert main(["--series", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SAMPLINGS)
    t, x, a = speeds(np.random.default_rng(3), "traffic")
    steps = np.diff(t)
    assert steps.min() >= 220 and steps.max() <= 920 and len(set(steps.tolist())) > 10
    assert np.median(x[a : a + 12]) < np.median(x[a - 24 : a]) - 15
