#!/usr/bin/python3
"""Short HTTP connections to HOST:PORT; counts replies per instance (X-Cats-Instance).

  http_count.py 10.255.0.1:80 -n 200 [--parallel 4] [--timeout 3] [--json]
  http_count.py 10.255.0.1:80 --duration 5 --interval-ms 20 --jsonl   # paced, live lines

Each connection: connect, GET (Connection: close), read the reply, close; a new source
port each time, so each is a new flow for the CPE. Errors are counted by kind (see
httpc.py: refused, reset, timeout, eof, unreachable, http, ...), never raised.

Output (--json, one object): target, total, ok, counts {instance: n}, errors {kind: n},
first_error, elapsed_s, rate_per_s (completed connections per second, ok or not),
latency_ms {median, p95, max} of ok connections, and with --records, records: [[t_start,
t_end, instance|null, error_kind|null, local_port]] (t: CLOCK_MONOTONIC seconds, the
same clock as time.monotonic() in any process on the host). --jsonl prints one such
record per connection as it completes ({"t0","t1","instance","error","port"}), then the
summary as {"summary": {...}}. Without either, a human summary.
Stops early (summary still printed) on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpc import HttpError, get_once, parse_target, quantile  # noqa: E402

_stop = threading.Event()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="HOST:PORT")
    ap.add_argument("-n", type=int, default=0, help="connections (0 with --duration: unbounded)")
    ap.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    ap.add_argument("--parallel", type=int, default=1, help="concurrent connections")
    ap.add_argument("--interval-ms", type=float, default=0, help="pause per worker between connections")
    ap.add_argument("--timeout", type=float, default=3.0, help="per connection (connect + reply), seconds")
    ap.add_argument("--path", default="/")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--records", action="store_true", help="include every connection in --json")
    a = ap.parse_args()
    if a.n <= 0 and a.duration <= 0:
        ap.error("give -n N and/or --duration S")
    target = parse_target(a.target)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: _stop.set())

    lock = threading.Lock()
    records: list[list] = []
    issued = 0
    t_begin = time.monotonic()
    t_end = t_begin + a.duration if a.duration > 0 else None

    def take() -> bool:
        nonlocal issued
        with lock:
            if _stop.is_set() or (a.n > 0 and issued >= a.n) or (t_end and time.monotonic() >= t_end):
                return False
            issued += 1
            return True

    def worker():
        while take():
            t0 = time.monotonic()
            inst = err = None
            port = 0
            try:
                reply, port = get_once(target, a.path, a.timeout, stop=_stop.is_set)
                inst = reply.instance or "?"
            except HttpError as e:
                if e.kind == "stopped":
                    return
                err = e.kind
            rec = [round(t0, 6), round(time.monotonic(), 6), inst, err, port]
            with lock:
                records.append(rec)
                if a.jsonl:
                    print(json.dumps({"t0": rec[0], "t1": rec[1], "instance": inst, "error": err, "port": port}),
                          flush=True)
            if a.interval_ms > 0:
                _stop.wait(a.interval_ms / 1000.0)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, a.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    elapsed = time.monotonic() - t_begin
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    lat = []
    first_error = None
    for t0, t1, inst, err, _ in sorted(records):
        if err:
            errors[err] = errors.get(err, 0) + 1
            first_error = first_error or err
        else:
            counts[inst] = counts.get(inst, 0) + 1
            lat.append((t1 - t0) * 1000)
    summary = {"target": a.target, "total": len(records), "ok": sum(counts.values()), "counts": counts,
               "errors": errors, "first_error": first_error, "elapsed_s": round(elapsed, 3),
               "rate_per_s": round(len(records) / elapsed, 1) if elapsed > 0 else 0.0,
               "latency_ms": {"median": round(statistics.median(lat), 2) if lat else None,
                              "p95": round(quantile(lat, 0.95), 2) if lat else None,
                              "max": round(max(lat), 2) if lat else None}}
    if a.records:
        summary["records"] = sorted(records)
    if a.jsonl:
        print(json.dumps({"summary": summary}), flush=True)
    elif a.json:
        print(json.dumps(summary))
    else:
        print(f"{a.target}: {summary['ok']}/{summary['total']} ok in {elapsed:.2f}s "
              f"({summary['rate_per_s']}/s), latency median {summary['latency_ms']['median']} ms")
        for k, v in sorted(counts.items()):
            print(f"  {k:<24} {v:6d}  {100.0 * v / max(1, summary['ok']):5.1f} %")
        for k, v in sorted(errors.items()):
            print(f"  error {k:<18} {v:6d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
