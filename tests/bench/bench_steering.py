#!/usr/bin/python3
"""Benchmark (prints figures, not pass/fail): steering in the fig4 lab with services and
the real daemons.

  sudo CATS_BUILD_DIR=build python3 tests/bench/bench_steering.py [--trials 20] [--only gap,load,steady,tput,rate]

1. Failover gap: a keep-alive stream (GET /nowork every 10 ms: answered without app work,
   so replies time the network) to app1's VIP whose flow uses WAN1; blackhole WAN1
   (impair --loss 100) and take the longest time between two consecutive replies; then
   restore and wait until WAN1 is weighted again. Median, p95, max over N; errors counted.
2. Load reaction, new connections every 10 ms from a client, 2 x N trials:
   a. app1c (SLA min 20 % free): all weight on one instance (the other at 95 % load is
      excluded); swap the loads (95 % <-> 20 %); time from the change to the first new
      connection answered by the other instance, and to the last one by the old.
   b. app1 (cost only; the selector moves weights in damped steps): from the fig4 steady
      state, cloud2 to 95 %: time until 9 of 10 consecutive new connections go to cloud1
      (~37 % before). Then back to 20 % and wait for the fig4 weights.
   Each trial first waits out the selector's hold-down so the change publishes at once.
2b. Steady: app1 under 20 new connections/s (fig4 loads) for 60 s: weight publications
   per minute after the first 10 s, today's selector against the deadband without rule 9
   (settle_mean_ms = 0) and no deadband at all (deadband_sigmas =
   0), alternating in one run (trials / 10 rounds of each, at least 1).
3. Throughput: iperf3 -t 5 through the bulk VIP (10.255.0.5:5201, sticky) and directly to
   the instance the VIP chose, alternating, 3 runs each: median Mbit/s and the ratio.
4. New-connection rate: http_count (2,000 connections, 8 in parallel, GET /nowork) to
   app1's VIP (flow: every connection drawn over 2 instances x 2 WANs), app1s's VIP
   (sticky: the client's connections all on one candidate) and directly to each
   instance (over WAN1's tunnel), in turn, 3 runs each: median connections/s and the
   ratio to the direct median.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from labtest import LabSession, wait_until  # noqa: E402
from catslab.clients import Series, count_instances, gaps  # noqa: E402
from catslab import steering as st_  # noqa: E402

VIP_APP1 = "10.255.0.1:80"
VIP_BULK = "10.255.0.5"
VIP_APP1C = "10.255.0.6:80"
VIP_APP1S = "10.255.0.2:80"
APP = {"cloud1": "app1-cloud1", "cloud2": "app1-cloud2"}
DIRECT = {"cloud1": "10.2.1.10", "cloud2": "10.2.2.10"}
LOAD = {"cloud1": 0.5, "cloud2": 0.2}


def q(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def paths_up(s):
    p = st_.ctl_json(s.lab, "paths")
    assert len(p) == 4 and all(x["state"] == "up" for x in p), p
    return True


def wan1_weighted(s):
    # Back near its share (damped steps bring a recovered WAN back gradually), so that a
    # stream on WAN1 is found within a few tries.
    ds = st_.decisions(s.lab, "app1")
    assert sum(int(x["weight"]) for x in ds if x["wan"] == "wan1") >= 300, st_.describe(ds)
    return True


def bench_gap(s, trials):
    out, errors = [], 0
    for i in range(trials):
        wait_until(lambda: paths_up(s) and wan1_weighted(s), 60, "WAN1 weighted again")
        try:
            stream, ct = st_.open_stream_on(s.lab, "c3", "10.1.0.13", VIP_APP1, lambda f, c: c["wan_index"] == 1,
                                            interval_ms=10, timeout=15, path="/nowork")
        except AssertionError as e:
            raise AssertionError(f"{e}\nCPE state: {st_.data_plane_dump(s.lab, 'app1')}") from None
        try:
            stream.wait_replies(20, 10)
            t0 = time.monotonic()
            s.impair("wan1", clear=True, loss=100)
            stream.wait_replies_after(t0, 20, 20)
            g = gaps(stream.replies(), t_from=t0 - 0.5)
            out.append(g[0][0] * 1000)
            errors += len(stream.errors())
        finally:
            stream.stop()
            s.impair("wan1", clear=True)
        print(f"  gap trial {i + 1}: {out[-1]:.0f} ms", file=sys.stderr, flush=True)
    return out, errors


def settled_fig4(s):
    """app1 back at the fig4 preference and its last publication older than the hold-down."""
    def pref():
        w = st_.weights_by_vcpe(s.lab, "app1")
        assert w.get("cloud2", 0) > w.get("cloud1", 0) > 0, f"app1 weights {w}"
        return True
    wait_until(pref, 60, "app1 at the fig4 preference", interval=0.2)
    # The goal is for a load change the CPE did not cause (lab.steering's load shift).
    st_.wait_share_not_raised(s.lab, "app1", "cloud2", wait_until)
    st_.wait_hold_down_over(s.lab, "app1", wait_until)


def bench_load_cost(s, trials):
    """app1 (cost-based, damped): from the fig4 steady state, cloud2 to 95 %: time until 9
    of 10 consecutive new connections go to cloud1 (it had ~37 % before)."""
    major_ms = []
    for i in range(trials):
        settled_fig4(s)
        with Series(s.lab, "c1", VIP_APP1, interval_ms=10, timeout=3) as series:
            wait_until(lambda: len(series.records()) >= 5 or None, 10, "series running")
            t0, wall0 = time.monotonic(), time.time()
            s.lab.set_app_load("cloud2", 0.95)
            try:
                wait_until(lambda: st_.shift_timeline(series.records(), t0, APP["cloud1"], need=9)[0] is not None
                           or None, 15, "9 of 10 new connections on cloud1", interval=0.05)
            finally:
                s.lab.set_app_load("cloud2", LOAD["cloud2"])
            t_major, timeline = st_.shift_timeline(series.records(), t0, APP["cloud1"], need=9)
        major_ms.append(t_major * 1000)
        print(f"  app1 load trial {i + 1}: 9 of 10 on cloud1 after {major_ms[-1]:.0f} ms; {timeline}",
              file=sys.stderr, flush=True)
        if t_major > 1.0:  # slower than the goal: what the selector published, and why
            for e in st_.weight_events(s.lab, "app1"):
                at = float(e.get("ts_ms") or 0) / 1000 - wall0
                if -0.5 <= at <= t_major + 0.5:
                    print(f"    {at * 1000:+6.0f} ms {e.get('detail') or e.get('message') or e}", file=sys.stderr)
    return major_ms


def only_on(s, service, vcpe):
    def check():
        w = st_.weights_by_vcpe(s.lab, service)
        assert w.get(vcpe, 0) == 1000, f"{service} weights {w}"
        return True
    return check


def bench_load_exclusion(s, trials):
    """app1c (min 20 % free): all on one instance (the other at 95 % is excluded); swap the
    loads; time to the first new connection answered by the other, and to the last one
    still answered by the old."""
    first_ms, last_ms = [], []
    s.lab.set_app_load("cloud1", 0.95)
    s.lab.set_app_load("cloud2", 0.2)
    try:
        old = "cloud2"
        wait_until(only_on(s, "app1c", old), 30, f"app1c all on {old}", interval=0.2)
        for i in range(trials):
            new = "cloud1" if old == "cloud2" else "cloud2"
            st_.wait_hold_down_over(s.lab, "app1c", wait_until)
            with Series(s.lab, "c1", VIP_APP1C, interval_ms=10, timeout=3) as series:
                wait_until(lambda: len(series.records()) >= 5 or None, 10, "series running")
                t0 = time.monotonic()
                s.lab.set_app_load(new, 0.2)
                s.lab.set_app_load(old, 0.95)
                wait_until(only_on(s, "app1c", new), 15, f"app1c all on {new}", interval=0.05)
                t_pub = time.monotonic()
                wait_until(lambda: any(x["t0"] > t_pub + 0.3 for x in series.records()) or None, 10,
                           "connections after the switch")
                recs = [x for x in series.records() if x["t0"] >= t0 and not x["error"]]
            first = min(x["t0"] for x in recs if x["instance"] == APP[new])
            olds = [x["t0"] for x in recs if x["instance"] == APP[old]]
            first_ms.append((first - t0) * 1000)
            last_ms.append(((max(olds) - t0) if olds else 0.0) * 1000)
            print(f"  app1c load trial {i + 1} ({old} -> {new}): first {first_ms[-1]:.0f} ms, "
                  f"last old {last_ms[-1]:.0f} ms", file=sys.stderr, flush=True)
            old = new
    finally:
        for v, f in LOAD.items():
            s.lab.set_app_load(v, f)
    return first_ms, last_ms


def set_selection(s, key, value):
    cp = s.lab.catsctl("cpe", "config", "set", f"/selection/{key}", f"{value:g}", "--comment",
                       "bench_steering steady", timeout=40)
    if cp.returncode != 0:
        raise AssertionError(f"catsctl config set {key} {value}: {cp.stdout} {cp.stderr}")


# (deadband_sigmas, settle_mean_ms) per selector, switched live in the same lab run.
STEADY_MODES = {
    "deadband, settling to the mean (default)": (4, 5000),
    "deadband, settling to the last target (settle_mean_ms = 0)": (4, 0),
    "no deadband (deadband_sigmas = 0, settle_mean_ms = 0)": (0, 0),
}


def bench_steady(s, rounds, seconds=60.0, warmup=10.0):
    """app1 under steady traffic (20 new connections/s from c1, fig4 loads): weight
    publications per minute after the first `warmup` s, for each of STEADY_MODES: today's
    selector; the deadband without rule 9 (docs/SELECTION.md "Deadband"); no deadband (a
    step whenever the target moves by 10/1000, the rule before issue 8). Alternating in
    the same lab run (live tuning changes)."""
    out = {name: [] for name in STEADY_MODES}
    try:
        for r in range(rounds):
            for name, (sigmas, mean_ms) in STEADY_MODES.items():
                set_selection(s, "deadband_sigmas", sigmas)
                set_selection(s, "settle_mean_ms", mean_ms)
                settled_fig4(s)
                with Series(s.lab, "c1", VIP_APP1, interval_ms=50, duration=seconds + 5) as series:
                    t_start = time.time()
                    wait_until(lambda: len(series.records()) >= 5 or None, 10, "the steady series to start")
                    wait_until(lambda: time.time() - t_start >= seconds or None, seconds + 10, "steady traffic",
                               interval=1.0)
                    evs = [e for e in st_.weight_events(s.lab, "app1")
                           if t_start + warmup <= float(e.get("ts_ms") or 0) / 1000.0 <= t_start + seconds]
                per_min = len(evs) * 60.0 / (seconds - warmup)
                out[name].append(per_min)
                print(f"  steady round {r + 1}, {name}: {len(evs)} app1 publications in {seconds - warmup:g} s "
                      f"({per_min:.1f}/min)", file=sys.stderr, flush=True)
    finally:
        set_selection(s, "deadband_sigmas", 4)
        set_selection(s, "settle_mean_ms", 5000)
    return out


def iperf(s, dst, seconds=5):
    cp = s.lab.run_in("c1", ["iperf3", "-c", dst, "-p", "5201", "-t", str(seconds), "-J"], timeout=seconds + 30)
    if cp.returncode != 0:
        raise AssertionError(f"iperf3 -c {dst}: {cp.stdout[-400:]} {cp.stderr[-400:]}")
    r = json.loads(cp.stdout)
    return r["end"]["sum_received"]["bits_per_second"] / 1e6


def bench_tput(s, runs=3):
    # Which instance does the sticky bulk VIP give c1? Ask with one short test.
    iperf(s, VIP_BULK, 1)
    ct = [e for e in st_.ct_entries(s.lab, src="10.1.0.11", dst=VIP_BULK)]
    assert ct, "no conntrack entry for the bulk VIP"
    target = ct[-1]["target"]
    wan = st_.wan_name(s.lab, ct[-1]["wan_index"])
    vip, direct = [], []
    for _ in range(runs):
        vip.append(iperf(s, VIP_BULK))
        direct.append(iperf(s, target))
    return vip, direct, target, wan


def bench_rate(s, runs=3, n=2000, parallel=8):
    """Connections/s to app1's VIP (a draw per connection: both instances, both WANs), to
    app1s's VIP (sticky: one client, one candidate) and directly to each instance."""
    targets = {"VIP app1 (flow)": VIP_APP1, "VIP app1s (sticky)": VIP_APP1S}
    targets.update({f"direct {v}": f"{addr}:8080" for v, addr in DIRECT.items()})
    out = {k: [] for k in targets}
    for _ in range(runs):
        for k, tgt in targets.items():
            r = count_instances(s.lab, "c2", tgt, n, parallel=parallel, path="/nowork")
            assert not r["errors"], r
            out[k].append(r["rate_per_s"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--scenario", default="fig4", help="scenario name or file (e.g. a copy of fig4 with [cpe.probing])")
    ap.add_argument("--only", default="gap,load,steady,tput,rate")
    a = ap.parse_args()
    which = set(a.only.split(","))
    rows = []
    with LabSession(a.scenario, daemons=True, verbose=False, services=True) as s:
        wait_until(lambda: paths_up(s), 30, "every path up")
        wait_until(lambda: st_.outcome(s.lab, "app1") == "ok" or None, 30, "app1 decided")
        if "gap" in which:
            g, errs = bench_gap(s, a.trials)
            rows.append((f"failover gap, WAN1 blackholed (ms), {len(g)} trials", g, f"stream errors: {errs}"))
        if "load" in which:
            first, last = bench_load_exclusion(s, a.trials)
            rows.append((f"app1c load swap -> first conn on other (ms), {len(first)}", first, "capacity SLA"))
            rows.append((f"app1c load swap -> last conn on old (ms), {len(last)}", last, ""))
            major = bench_load_cost(s, a.trials)
            rows.append((f"app1 cloud2 95% -> 9/10 conns on cloud1 (ms), {len(major)}", major, "cost, damped"))
        if "steady" in which:
            for name, xs in bench_steady(s, max(1, a.trials // 10)).items():
                rows.append((f"app1 publications/min, steady 20 conn/s, {name}", xs, f"{len(xs)} x 50 s"))
        if "tput" in which:
            vip, direct, target, wan = bench_tput(s)
            rows.append(("iperf3 via VIP (Mbit/s), 3 runs", vip, f"instance {target}, {wan}"))
            rows.append(("iperf3 direct (Mbit/s), 3 runs", direct, f"ratio VIP/direct "
                         f"{statistics.median(vip) / statistics.median(direct):.2f}"))
        if "rate" in which:
            rates = bench_rate(s)
            direct = statistics.median([x for k, xs in rates.items() if k.startswith("direct") for x in xs])
            for k, xs in rates.items():
                rows.append((f"new connections/s, {k}, 3 runs", xs,
                             f"/ direct (all) {statistics.median(xs) / direct:.2f}"))
    print(f"{'figure':52} {'median':>9} {'p95':>9} {'max':>9}  note")
    for name, xs, note in rows:
        print(f"{name:52} {statistics.median(xs):9.1f} {q(xs, .95):9.1f} {max(xs):9.1f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
