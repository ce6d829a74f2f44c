#!/usr/bin/python3
"""Lab test: the draft's use case 4.1 (computing-aware AR/VR, figure 3) in scenario `fig3`.

One branch (clients c1, c2 behind the CPE, one WAN) and three edge sites. Each site's
access link has the draft's network delay (site1 9 ms, site2 4 ms, site3 5 ms, one way
core -> site) and its app the draft's computing delay per request (site1 4 ms, site2
10 ms, site3 5 ms). The draft (section 4.1): by computing delay alone the choice is site1,
by network delay alone site2, by both site3, the only one within the budget.

1. The CPE's choice: from what it measured itself (probed RTTs) and what the vCPEs report
   (computing delays), the network order is site2 < site3 < site1 (by each path's minimum
   RTT over the CPE's probe window: the propagation delay the draft's figure gives; an
   instant's smoothed RTT carries the lab impairer's scheduling noise, up to ~1.5 ms on a
   busy host, more than the 1 ms between site2 and site3), the computing order
   site1 < site3 < site2, and the joint cost puts site3 first: all of the service's weight.
2. Measured end to end by the clients, in one run: every connection through the VIP is
   served by site3, and its median latency is that of site3 reached directly, lower than
   the nearest site's (site2, the network-only choice) and the least-loaded site's (site1,
   the computing-only choice). The figures go in docs/BENCHMARKS.md "Use cases".
3. Sticky for the session until the site becomes unreachable, then a fast move: c1's
   connections all stay on site3; site3's access link is cut; within 1 s the CPE has
   taken site3's weight away, and every connection c1 starts after that lands on one other
   site (sticky again). When site3 comes back, the weights return to it all the way (1000:
   new clients go there), while c1 keeps its new site (its session is not bounced back).
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.clients import Series  # noqa: E402
from catslab import steering as st_  # noqa: E402

SERVICE = "arvr"
VIP = "10.255.0.1:80"
SITES = ("site1", "site2", "site3")
INSTANCE = {v: f"app1-{v}" for v in SITES}  # the names cats-app answers with (X-Cats-Instance)
SITE_OF = {v: k for k, v in INSTANCE.items()}
DIRECT = {v: f"10.2.{n}.10:8080" for n, v in enumerate(SITES, start=1)}
MOVE_S = 1.0          # after site3 becomes unreachable, every new connection is elsewhere
MEASURE_S = 8.0       # client traffic per target in the latency comparison


def paths(s) -> dict[str, dict]:
    return {x["vcpe"]: x for x in st_.ctl_json(s.lab, "paths")}


def rtt_by_site(s) -> dict[str, float]:
    p = paths(s)
    bad = [f"{v}={x['state']}" for v, x in p.items() if x["state"] != "up" or x.get("rtt_ms") is None]
    assert set(p) == set(SITES) and not bad, f"paths: {bad or p}"
    return {v: float(x["rtt_ms"]) for v, x in p.items()}


MIN_SAMPLES = 20  # probes received in the window (1 s at the CPE's 50 ms) before comparing


def min_rtt_by_site(s) -> dict[str, float] | None:
    """Each path's minimum RTT over the CPE's probe window, once every window holds
    MIN_SAMPLES replies (None before)."""
    p = paths(s)
    if any(x.get("received", 0) < MIN_SAMPLES or x.get("rtt_min_ms") is None for x in p.values()):
        return None
    return {v: float(x["rtt_min_ms"]) for v, x in p.items()}


def weights(s) -> dict[str, int]:
    return st_.weights_by_vcpe(s.lab, SERVICE)


def setup(s: LabSession):
    wait_until(lambda: rtt_by_site(s), 30, "the three paths up with an RTT")

    def on_site3():
        ds = st_.decisions(s.lab, SERVICE)
        w = st_.weights_by_vcpe(s.lab, SERVICE, ds)
        assert st_.outcome(s.lab, SERVICE, ds) == "ok" and w.get("site3") == 1000, st_.describe(ds)
        return ds
    wait_until(on_site3, 20, f"{SERVICE} decided with all weight on site3")


def ordered(d: dict[str, float]) -> list[str]:
    return sorted(d, key=d.get)


# ------------------------------------------------------------------ 1. the choice

def test_joint_cost_chooses_site3(s: LabSession):
    rtt = rtt_by_site(s)
    min_rtt = wait_until(lambda: min_rtt_by_site(s), 10, f"{MIN_SAMPLES} probe replies on every path")
    ins = {x["vcpe"]: x for x in st_.ctl_json(s.lab, "instances") if x.get("service") == SERVICE}
    assert set(ins) == set(SITES), f"instances at the CPE: {sorted(ins)}"
    compute = {}
    for v, x in ins.items():
        assert x["measured"] and x["service_time_ms"] is not None, f"{v}: no computing delay reported: {x}"
        compute[v] = float(x["service_time_ms"])
    cost = {x["vcpe"]: x.get("cost_ms") for x in st_.decisions(s.lab, SERVICE)}
    print("  network (probed RTT): " + ", ".join(f"{v} {rtt[v]:.1f} ms (min {min_rtt[v]:.2f})" for v in ordered(min_rtt)))
    print("  computing (reported): " + ", ".join(f"{v} {compute[v]:g} ms" for v in ordered(compute)))
    print("  joint cost:           " + ", ".join(f"{v} {cost[v]:.1f} ms" for v in ordered(cost)))
    assert ordered(min_rtt) == ["site2", "site3", "site1"], f"network order is not the draft's: min {min_rtt}, smoothed {rtt}"
    assert ordered(compute) == ["site1", "site3", "site2"], f"computing order is not the draft's: {compute}"
    assert all(c is not None for c in cost.values()) and ordered(cost)[0] == "site3", f"joint cost: {cost}"
    w = weights(s)
    assert w.get("site3") == 1000, f"site3 should carry the whole service: {w}"


# ------------------------------------------------------------------ 2. end to end

def median_ms(recs: list[dict]) -> float:
    return statistics.median([(r["t1"] - r["t0"]) * 1000 for r in recs])


def test_clients_measure_site3_best(s: LabSession):
    # c1 through the VIP; c2 directly to each site's instance (the baselines) at the same
    # time, so all four see the same lab. Connect + GET: two round trips + processing.
    runs = {"VIP": Series(s.lab, "c1", VIP, interval_ms=40, timeout=3, duration=MEASURE_S)}
    runs.update({v: Series(s.lab, "c2", DIRECT[v], interval_ms=40, timeout=3, duration=MEASURE_S) for v in SITES})
    for r in runs.values():
        r.start()
    try:
        def finished():
            return all(not r.running for r in runs.values()) or None
        wait_until(finished, MEASURE_S + 20, "the client runs to finish", interval=0.5)
    finally:
        for r in runs.values():
            r.stop()
    recs = {k: r.records() for k, r in runs.items()}
    for k, rs in recs.items():
        errors = [r["error"] for r in rs if r["error"]]
        assert len(rs) >= 50 and not errors, f"{k}: {len(rs)} connections, errors {errors[:5]}"
    served = {}
    for r in recs["VIP"]:
        served[r["instance"]] = served.get(r["instance"], 0) + 1
    assert served == {INSTANCE["site3"]: len(recs["VIP"])}, f"VIP connections served by {served}"
    for v in SITES:
        assert {r["instance"] for r in recs[v]} == {INSTANCE[v]}, f"direct {v} answered by someone else"
    med = {k: median_ms(rs) for k, rs in recs.items()}
    print("  median end-to-end (connect + request), ms: " +
          ", ".join(f"{k} {med[k]:.1f} ({len(recs[k])})" for k in ("VIP", "site3", "site2", "site1")))
    print(f"  nearest site (site2) / VIP = {med['site2'] / med['VIP']:.2f}; "
          f"least loaded (site1) / VIP = {med['site1'] / med['VIP']:.2f}")
    # Each site's true end-to-end delay differs by 3-7 ms of impairment and processing;
    # the clients must see the choice pay off against both single-criterion baselines.
    assert med["VIP"] < med["site2"] and med["VIP"] < med["site1"], f"VIP not the fastest: {med}"
    assert abs(med["VIP"] - med["site3"]) < 0.5 * (min(med["site1"], med["site2"]) - med["site3"]), \
        f"VIP should cost what site3 costs directly: {med}"


# ------------------------------------------------------------------ 3. sticky, then a fast move

def test_sticky_then_fast_move(s: LabSession):
    # Four connections at a time, each worker pausing 60 ms; a connection caught by the cut
    # hangs until its 0.5 s timeout.
    c1 = Series(s.lab, "c1", VIP, interval_ms=60, timeout=0.5, duration=120, parallel=4).start()
    try:
        def n_on(site: str, after: float = 0.0):
            return [r for r in c1.records() if r["t0"] >= after and r["instance"] == INSTANCE[site]]
        wait_until(lambda: len(n_on("site3")) >= 30 or None, 15, "30 of c1's connections on site3")
        before = c1.records()
        assert {r["instance"] for r in before} == {INSTANCE["site3"]}, \
            f"c1 not sticky on site3: {sorted({r['instance'] for r in before if r['instance']})}"

        t_cut = time.monotonic()
        s.impair("site3", loss=100)

        # The CPE's move: site3's weight gone (path down, candidate dead, its sticky
        # entries forgotten in the packet path). Timed here rather than by the clients:
        # connections caught by the cut hang until their timeout and delay their workers.
        def site3_off():
            w = weights(s)
            assert w.get("site3", 0) == 0, f"weights {w}"
            return time.monotonic()
        t_off = wait_until(site3_off, 5, "site3's weight gone after the cut", interval=0.02)
        print(f"  site3 cut: its weight gone after {1000 * (t_off - t_cut):.0f} ms")
        assert t_off - t_cut <= MOVE_S, f"the CPE took {t_off - t_cut:.2f}s to move off site3"

        def moved():
            after = [r for r in c1.records() if r["t0"] >= t_off + 0.1]
            return after if len(after) >= 30 else None
        after = wait_until(moved, 15, "30 of c1's connections started after the move")
        bad = [r for r in after if r["error"] or r["instance"] == INSTANCE["site3"]]
        assert not bad, f"{len(bad)} of c1's connections after the move failed or reached site3: {bad[:5]}"
        new_sites = {r["instance"] for r in after}
        assert len(new_sites) == 1, f"c1 not sticky after the move: {new_sites}"
        new_site = SITE_OF[new_sites.pop()]
        lost = [r for r in c1.records() if t_cut - 0.5 <= r["t0"] < t_off + 0.1 and r["error"]]
        print(f"  c1 moved to {new_site}; {len(lost)} connection(s) caught by the cut (0.5 s client timeout)")

        # site3 back: new clients go there again, c1 keeps its session's site.
        s.impair("site3", loss=0)
        # Damped steps back (docs/SELECTION.md), ending exactly on the target: site1 and
        # site2 are outside the spread window, so they end at 0, not at a deadband residual.
        def readmitted():
            w = weights(s)
            assert w.get("site3") == 1000, f"weights {w}"
            return w
        wait_until(readmitted, 30, "site3 readmitted with all weight", interval=0.25)
        t_back = time.monotonic()
        wait_until(lambda: len([r for r in c1.records() if r["t0"] >= t_back]) >= 30 or None, 15,
                   "30 of c1's connections after site3 came back")
        later = [r for r in c1.records() if r["t0"] >= t_back]
        assert {r["instance"] for r in later} == {INSTANCE[new_site]} and not any(r["error"] for r in later), \
            f"c1's session should stay on {new_site}: {sorted({str(r['instance']) for r in later})}"
    finally:
        c1.stop()
        s.impair("site3", loss=0)


if __name__ == "__main__":
    sys.exit(main([test_joint_cost_chooses_site3, test_clients_measure_site3_best, test_sticky_then_fast_move],
                  scenario="fig3", daemons=True, services=True, setup=setup))
