"""What a scan's runs take of the worker's memory: the scan activity through the real Prometheus adapter
(HTTP on loopback, a Prometheus-shaped matrix served from another process) and the file store, its first
run (a day back) then steady runs, each measured in a process of its own; and in the same run, as the
raw engine, the peak of only fetching and parsing the first run's answer in one query (httpx + json).

    python -m bench.scan_memory [--series 2000] [--runs 4] [--churn-every 0]

``--churn-every N``: every N runs each series gets a new pod name (a deploy), the replaced pods' states
kept until forgotten. ``whole``: the same runs with the answer asked in one query, as before parts.
Peak is the process's maximum resident set (ru_maxrss), in MiB, interpreter and libraries included.
"""

import argparse
import asyncio
import json
import multiprocessing
import resource
import socket
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from bench.harness import machine, print_result

_STEP = 60.0
_T0 = 1_800_000_000.0


def _serve(port: int, series: int, churn_every: int) -> None:
    rng = np.random.default_rng(1)
    asked = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            start, end, step = (float(query[k][0]) for k in ("start", "end", "step"))
            t = np.arange(start, end + step / 2, step)
            # each point's pod is the one deployed at its time: a deploy every ``churn_every`` runs from _T0
            deploys = np.maximum((t - _T0) // (churn_every * 300), 0).astype(int) if churn_every else 0 * t
            asked[0] += 1
            result = []
            for i in range(series):
                v = 100 + 10 * (i % 7) + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 1, len(t))
                for deploy in np.unique(deploys):
                    at = deploys == deploy
                    result.append(
                        {
                            "metric": {"service": f"svc{i % 40}", "pod": f"pod-{i}-d{deploy}"},
                            "values": [[float(a), f"{b:.3f}"] for a, b in zip(t[at], v[at], strict=True)],
                        }
                    )
            body = json.dumps(
                {"status": "success", "data": {"resultType": "matrix", "result": result}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


async def _scan_runs(url: str, runs: int, whole: bool) -> list[dict[str, Any]]:
    from activities.adapters import prometheus  # noqa: PLC0415
    from activities.scan import ScanActivities, ScanInput, ScanStore  # noqa: PLC0415
    from medic.scan import ScanSpec  # noqa: PLC0415

    if whole:
        prometheus.CHUNK_POINTS = 10**9
    source = prometheus.PrometheusMetrics(url, timeout=300)
    spec = ScanSpec(name="bench", query="q", lookback_seconds=3600, step_seconds=_STEP, every_seconds=300)
    now = [_T0]

    async def deliver(signals: list[Any]) -> list[str]:
        return []

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ScanStore(Path(tmp))
        acts = ScanActivities(
            source=source, specs=lambda: {"bench": spec}, store=store, deliver=deliver, clock=lambda: now[0]
        )
        for run in range(runs):
            started = time.perf_counter()
            result = await acts.scan(ScanInput(name="bench"))
            out.append(
                {
                    "run": run,
                    "s": round(time.perf_counter() - started, 1),
                    "points": result.points,
                    "kept_series": len(store.load("bench").series),
                    "state_mb": round(store.path("bench").stat().st_size / 1e6, 1),
                    "peak_mib": _peak_mib(),
                }
            )
            now[0] += 300
    return out


def _child(mode: str, url: str, runs: int) -> None:
    if mode == "raw":
        import httpx  # noqa: PLC0415

        end = _T0
        params = {"query": "q", "start": f"{end - 86400:.3f}", "end": f"{end:.3f}", "step": "60"}
        answer = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=300).json()
        print(json.dumps({"series": len(answer["data"]["result"]), "peak_mib": _peak_mib()}))
    else:
        print(json.dumps(asyncio.run(_scan_runs(url, runs, whole=mode == "whole"))))


def _measure(mode: str, url: str, runs: int) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scan_memory", "--child", mode, "--url", url, "--runs", str(runs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scan_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--churn-every", type=int, default=0)
    ap.add_argument("--child", choices=("parts", "whole", "raw"))
    ap.add_argument("--url")
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.url, args.runs)
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, args.series, args.churn_every), daemon=True
    )
    server.start()
    time.sleep(2.0)
    url = f"http://127.0.0.1:{port}"
    try:
        raw = _measure("raw", url, 1)
        parts = _measure("parts", url, args.runs)
        whole = _measure("whole", url, args.runs)
    finally:
        server.terminate()
    first_run = max(parts[0]["peak_mib"], 1)
    print_result(
        {
            "machine": machine(),
            "series": args.series,
            "churn_every_runs": args.churn_every,
            "raw_fetch_and_parse_a_day_peak_mib": raw["peak_mib"],
            "first_run_peak_mib": parts[0]["peak_mib"],
            "first_run_peak_mib_one_query": whole[0]["peak_mib"],
            "first_run_s": parts[0]["s"],
            "steady_runs_peak_mib": parts[-1]["peak_mib"],
            "steady_runs_peak_mib_one_query": whole[-1]["peak_mib"],
            "kept_series_last_run": parts[-1]["kept_series"],
            "state_mb_last_run": parts[-1]["state_mb"],
            "first_run_over_raw": round(first_run / max(raw["peak_mib"], 1), 2),
            "runs": parts,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
