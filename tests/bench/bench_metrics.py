#!/usr/bin/python3
"""Benchmark (prints figures, not pass/fail): path-down detection time and load-change
reaction time at the CPE, in the fig4 lab with the real daemons.

  sudo python3 tests/bench/bench_metrics.py [--trials 20]

1. Path-down detection: blackhole WAN1 (impair --loss 100) and time until the CPE's
   `paths` shows both WAN1 paths' probes down; restore and wait until the probes say up. Median, p95, max over N.
   Baseline in the same run: the probe interval (the floor is 3 probes' worth of timeouts).
2. Load reaction: set cloud1's app background load (alternating 20% / 80%) and time until
   the CPE's `instances` shows it (±0.1). Median, p95, max over N.
Polling the control API every 10 ms adds up to 10 ms plus a catsctl run (~5 ms) to each
figure.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from labtest import LabSession, wait_until  # noqa: E402


def q(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def get(s, what):
    cp = s.lab.catsctl("cpe", what, "--json")
    return json.loads(cp.stdout)


def wan1_states(s):
    # What the probes say (probe_state): with flap damping, back-to-back trials are flaps,
    # and a held path's steered `state` is already down when the next blackhole starts.
    # A path that is not held goes down in both at the same instant (down is never delayed).
    return {p["vcpe"]: p.get("probe_state", p["state"]) for p in get(s, "paths") if p["wan"] == "wan1"}


def cloud1_util(s):
    return next(i["utilization"] for i in get(s, "instances") if i["vcpe"] == "cloud1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--scenario", default="fig4", help="scenario name or file (e.g. a copy of fig4 with [cpe.probing])")
    a = ap.parse_args()
    down_ms, load_ms = [], []
    with LabSession(a.scenario, daemons=True, verbose=False) as s:
        wait_until(lambda: set(wan1_states(s).values()) == {"up"} and len(get(s, "paths")) == 4, 30,
                   "every path up")
        wait_until(lambda: any(i["vcpe"] == "cloud1" for i in get(s, "instances")), 30, "cloud1's instance")
        for _ in range(a.trials):
            s.impair("wan1", clear=True, loss=100)
            t0 = time.monotonic()
            wait_until(lambda: set(wan1_states(s).values()) == {"down"}, 5, "WAN1 paths down", interval=0.01)
            down_ms.append((time.monotonic() - t0) * 1000)
            s.impair("wan1", clear=True)
            wait_until(lambda: set(wan1_states(s).values()) == {"up"}, 10, "WAN1 paths up", interval=0.05)
        for i in range(a.trials):
            target = 0.8 if i % 2 == 0 else 0.2
            s.lab.set_app_load("cloud1", target)
            t0 = time.monotonic()
            wait_until(lambda: abs(cloud1_util(s) - target) <= 0.1, 5, f"cloud1 at {target}", interval=0.01)
            load_ms.append((time.monotonic() - t0) * 1000)
            time.sleep(1.2)  # let the app's 1 s utilisation window settle before the next change
    print(f"{'figure':44} {'median':>8} {'p95':>8} {'max':>8}")
    print(f"{'path-down detection (ms), ' + str(len(down_ms)) + ' trials':44} "
          f"{statistics.median(down_ms):8.0f} {q(down_ms, .95):8.0f} {max(down_ms):8.0f}")
    print(f"{'load change -> CPE view (ms), ' + str(len(load_ms)) + ' trials':44} "
          f"{statistics.median(load_ms):8.0f} {q(load_ms, .95):8.0f} {max(load_ms):8.0f}")
    print("reference (defaults): probe interval 50 ms, loss deadline srtt + 4 x jitter + 50 ms within 50..300 ms, "
          "down after 2 losses -> expected 100..150 ms on a short path; reports: sampling and min interval 100 ms; "
          "the lab app measures utilisation over 0.5 s (--window-ms 500)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
