"""Redaction time against input size, for inputs built to make regular expressions backtrack.

    python -m bench.redact_linear [--before] [--sizes 1000,10000,100000] [--cap 20]

For each adversarial input (an alert name of ``token-`` repeated, ``password`` repeated, ``a=``
repeated, a long Slack token, ``://`` repeated, BEGIN lines without an END, a key of ``token_``
repeated for the structure check, ...) it prints the time :func:`medic.redact.redact` (or
``redact_data``) takes at each size, the time per character, and the growth ratio: time at the largest
size over time at the smallest, divided by the size ratio (about 1 when linear, the size ratio itself
when quadratic). ``--before`` runs the patterns as they were (``tests.support.redact_reference``); each
measurement runs in a child process and is abandoned after ``--cap`` seconds, with larger sizes of
that input skipped. Figures, never assertions: the tests check the answers, not the clock.
"""

import argparse
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from bench.harness import machine

Build = Callable[[int], Any]


def _repeat(unit: str, tail: str = "") -> Build:
    return lambda size: unit * max(1, size // len(unit)) + tail


INPUTS: dict[str, tuple[str, Build]] = {
    "token- repeated (alertname)": ("text", _repeat("token-")),
    "password repeated": ("text", _repeat("password")),
    "a= repeated": ("text", _repeat("a=", " token")),
    "xoxb- + long token": ("text", lambda size: "xoxb-" + "a1-" * (size // 3)),
    ":// repeated": ("text", _repeat("://")),
    "a. repeated, then ://u:p": ("text", _repeat("a.", "://u:p")),
    "x.token repeated, then =1": ("text", _repeat("x.token", "=1")),
    "token=' repeated, unclosed": ("text", _repeat("token='x ")),
    "bearer + spaces": ("text", lambda size: "bearer" + " " * size + "x"),
    "BEGIN PRIVATE KEY, no END": ("text", _repeat("-----BEGIN RSA PRIVATE KEY-----\n")),
    "key of token_ repeated": ("key", _repeat("token_", "names")),
    "ordinary log text": ("text", _repeat("checkout p99 latency 2.3s on pod checkout-7d9f; ")),
}


def _time_once(before: bool, kind: str, name: str, size: int, out: Any) -> None:
    if before:
        from tests.support import redact_reference as impl  # noqa: PLC0415
    else:
        from medic import redact as impl  # type: ignore[no-redef]  # noqa: PLC0415
    value = INPUTS[name][1](size)

    def call() -> object:
        return impl.redact_data({value: "v"}) if kind == "key" else impl.redact(value)

    best = float("inf")
    for _ in range(7):  # the best of several (other work on the machine only adds), unless slow
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
        if best > 0.5:
            break
    out.put(best)


def measure(before: bool, name: str, size: int, cap: float) -> float | None:
    """Seconds to redact, or None when it took longer than ``cap`` (the child is stopped)."""
    ctx = multiprocessing.get_context("fork")
    queue: Any = ctx.Queue()
    child = ctx.Process(target=_time_once, args=(before, INPUTS[name][0], name, size, queue))
    child.start()
    child.join(cap)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    result: float = queue.get()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--before", action="store_true", help="the patterns as they were")
    parser.add_argument("--sizes", default="1000,2000,4000,10000,30000,100000")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds before a measurement is abandoned")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# redaction time, {'before' if args.before else 'after'} ({machine()})")
    print(f"{'input':<30}" + "".join(f"{size:>12,}" for size in sizes) + "   us/char@max   growth")
    for name in INPUTS:
        cells: list[str] = []
        timed: dict[int, float] = {}
        for size in sizes:
            seconds = measure(args.before, name, size, args.cap) if len(timed) == len(cells) else None
            if seconds is None:
                cells.append(f">{args.cap:.0f} s" if len(timed) == len(cells) else "-")
                continue
            timed[size] = seconds
            cells.append(f"{seconds * 1e3:9.2f} ms")
        line = f"{name:<30}" + "".join(f"{c:>12}" for c in cells)
        if len(timed) >= 2:
            small, large = min(timed), max(timed)
            growth = (timed[large] / max(timed[small], 1e-9)) / (large / small)
            line += f"   {timed[large] / large * 1e6:11.3f}   {growth:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
