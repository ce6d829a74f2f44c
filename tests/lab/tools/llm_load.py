#!/usr/bin/python3
"""Open-loop LLM clients: requests arrive as a Poisson process (exponential gaps at
--rate per second, whatever the answers do, as independent users would), each on a new
TCP connection (a new flow, steered on its own), and each request's time to first token
is measured as a client sees it: from the connect to the first byte of the streamed body
(cats-app --llm sends headers and the first token together). Stdlib only.

    llm_load.py 10.255.0.1:80 --rate 32 --duration 8 --json
    llm_load.py --target-file /run/x --rate 32 ...   # targets read from the file

--target-file: whitespace-separated ip:port targets, read again at each arrival, one of
them picked at random per request (a policy outside can change them while this runs).

Output (--json): {"records": [{"t0", "target", "instance", "ttft_ms", "total_ms",
"tokens", "error"}...], "summary": {...}}; ttft_ms and total_ms are null on an error.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time


def one(target: str, timeout: float, rec: dict) -> None:
    host, _, port = target.rpartition(":")
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/v1/completions", headers={"Connection": "close"})
        resp = conn.getresponse()
        first = resp.read(1)  # chunked: http.client returns body bytes, not chunk headers
        t1 = time.monotonic()
        rest = resp.read()
        t2 = time.monotonic()
        if resp.status != 200 or not first:
            rec["error"] = f"status {resp.status}"
            return
        rec.update(instance=resp.getheader("X-Cats-Instance"), ttft_ms=(t1 - t0) * 1000,
                   total_ms=(t2 - t0) * 1000, tokens=len((first + rest).split()))
    except (OSError, http.client.HTTPException) as e:
        rec["error"] = type(e).__name__ + (f": {e}" if str(e) else "")
    finally:
        conn.close()


def read_targets(path: str) -> list[str]:
    with open(path) as f:
        return f.read().split()


def pct(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile (an error counts as +inf: it is the slowest answer)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?", help="ip:port")
    ap.add_argument("--target-file")
    ap.add_argument("--rate", type=float, required=True, help="requests per second (Poisson)")
    ap.add_argument("--duration", type=float, required=True, help="seconds of arrivals")
    ap.add_argument("--timeout", type=float, default=5.0, help="per request, each socket operation")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-inflight", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if bool(a.target) == bool(a.target_file):
        ap.error("give a target or --target-file, not both")
    if not (0 < a.rate <= 1000 and 0 < a.duration <= 600 and 0 < a.timeout <= 60):
        ap.error("--rate 0..1000, --duration 0..600, --timeout 0..60")
    rng = random.Random(a.seed)
    records: list[dict] = []
    threads: list[threading.Thread] = []
    start = time.monotonic()
    t_next = start
    skipped = 0
    while True:
        t_next += rng.expovariate(a.rate)
        if t_next - start > a.duration:
            break
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        targets = [a.target] if a.target else read_targets(a.target_file)
        rec = {"t0": time.monotonic() - start, "target": rng.choice(targets), "instance": None, "ttft_ms": None,
               "total_ms": None, "tokens": 0, "error": None}
        records.append(rec)
        threads = [t for t in threads if t.is_alive()]
        if len(threads) >= a.max_inflight:
            rec["error"] = "client: too many in flight"
            skipped += 1
            continue
        t = threading.Thread(target=one, args=(rec["target"], a.timeout, rec), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(a.timeout * 3 + 5)
    ttft = [r["ttft_ms"] if r["ttft_ms"] is not None else float("inf") for r in records]
    by_instance: dict[str, int] = {}
    for r in records:
        if r["instance"]:
            by_instance[r["instance"]] = by_instance.get(r["instance"], 0) + 1
    summary = {"requests": len(records), "errors": sum(1 for r in records if r["error"]),
               "rate": len(records) / a.duration, "p50_ttft_ms": pct(ttft, 0.5), "p99_ttft_ms": pct(ttft, 0.99),
               "by_instance": by_instance, "client_skipped": skipped}
    if a.json:
        # +inf (an error) is not JSON: null.
        for k in ("p50_ttft_ms", "p99_ttft_ms"):
            if summary[k] == float("inf"):
                summary[k] = None
        json.dump({"records": records, "summary": summary}, sys.stdout)
        print()
    else:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
