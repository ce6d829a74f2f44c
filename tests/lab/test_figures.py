#!/usr/bin/python3
"""Lab test (issue 8, item 5: instances known by their own figures) in scenario `figures`.

Three sites, one WAN: `far` (one-way 16 ms, 2 ms per request), `mid` (10 ms, 20 ms) and
`near` (2 ms, 70 ms). far's and mid's vCPEs have their service time configured; near's
is configured nowhere, so at the start the CPE can only price near with the service's
service_time_ms (5 ms), which makes it look best (~8 ms against ~19 and ~31).

1. At start (no client traffic yet): near has given no figure of its own (not measured,
   no service time), far and mid carry their configured ones, and near's cost is the
   lowest: the trap the issue describes.
2. With client traffic (~20 new connections/s): near gets measured (exploration), its
   vCPE learns its service time; over the whole run, most new connections go to the
   site with the lowest true total delay (probed RTT + per-request time), and the fewest
   to the site with the highest. Both orders are asserted, and near never got most of
   the new connections of any one second (not even at the start, when it looked best).
3. Once near gets no more traffic, its last measured delay stays known with a growing
   age, and its learned service time keeps pricing it (never the service's 5 ms again).

The true total delays are computed from the probed RTTs (catsctl paths) and the apps'
per-request times; the test first checks that they are ordered far < mid < near, i.e.
that the scenario is the one described, and afterwards that the clients' own median
latencies (two round trips + processing per connection) are in the same order.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.clients import Series  # noqa: E402
from catslab import steering as st_  # noqa: E402

SERVICE = "app1"
VIP = "10.255.0.1:80"
SITES = ("far", "mid", "near")
INSTANCE = {v: f"app1-{v}" for v in SITES}  # the names cats-app answers with (X-Cats-Instance)
VCPE_OF = {v: k for k, v in INSTANCE.items()}
SERVICE_WIDE_MS = 5.0        # figures.toml [[cpe.service]] service_time_ms
RUN_S = 25.0                 # client traffic after near was first measured
MEASURED_DEADLINE_S = 30.0   # near measured (exploration) and its figure learned


def instances(s) -> dict[str, dict]:
    """catsctl instances --json, by vCPE (service app1)."""
    return {x["vcpe"]: x for x in st_.ctl_json(s.lab, "instances") if x.get("service") == SERVICE}


def paths_up(s) -> dict[str, float]:
    p = st_.ctl_json(s.lab, "paths")
    bad = [f"{x['wan']}/{x['vcpe']}={x['state']}" for x in p if x["state"] != "up" or x.get("rtt_ms") is None]
    assert len(p) == 3 and not bad, f"paths: {bad or p}"
    return {x["vcpe"]: float(x["rtt_ms"]) for x in p}


def cost_by_vcpe(ds: list[dict]) -> dict[str, float | None]:
    return {x["vcpe"]: x.get("cost_ms") for x in ds}


def true_totals(s) -> dict[str, float]:
    """Probed RTT + the app's per-request time, per site: what a request really costs."""
    rtt = paths_up(s)
    service = {v.name: float(v.app.service_ms) for v in s.scenario.vcpes}
    return {v: rtt[v] + service[v] for v in SITES}


def setup(s: LabSession):
    wait_until(lambda: paths_up(s), 30, "the three paths up with an RTT")

    def weighted():
        ds = st_.decisions(s.lab, SERVICE)
        assert st_.outcome(s.lab, SERVICE, ds) == "ok" and sum(int(x.get("weight") or 0) for x in ds) == 1000, \
            st_.describe(ds)
        return ds
    wait_until(weighted, 20, f"{SERVICE} decided (weights summing to 1000)")


# ------------------------------------------------------------------ 1. at start

def test_near_unmeasured_at_start(s: LabSession):
    # No client has connected yet: no app has served a request.
    served = {v: int(s.lab.app_load(v).get("requests_total", -1)) for v in SITES}
    assert served == {v: 0 for v in SITES}, f"requests served before any client traffic: {served}"

    def figures_known():
        ins = instances(s)
        assert set(ins) == set(SITES), f"instances at the CPE: {sorted(ins)}"
        for v, ms in (("far", 2.0), ("mid", 20.0)):
            x = ins[v]
            assert x["measured"] and x["service_time_ms"] == ms and x["service_time_source"] == "nominal", \
                f"{v}: configured service time not reported: {x}"
        return ins
    ins = wait_until(figures_known, 10, "far's and mid's configured service times at the CPE")
    near = ins["near"]
    assert not near["measured"] and near["service_time_ms"] is None and near["last_processing_delay_ms"] is None, \
        f"near must have given no figure of its own yet: {near}"
    # The trap: priced with the service's 5 ms, near looks the cheapest of the three.
    cost = cost_by_vcpe(st_.decisions(s.lab, SERVICE))
    assert all(c is not None for c in cost.values()), f"costs: {cost}"
    assert cost["near"] < cost["far"] and cost["near"] < cost["mid"], \
        f"near should look best before it is measured (service-wide {SERVICE_WIDE_MS:g} ms): {cost}"
    print(f"  at start: costs {cost}; near {near}")


# ------------------------------------------------------------------ 2. with traffic

def test_flows_follow_true_total_delay(s: LabSession):
    truth = true_totals(s)
    order = sorted(SITES, key=truth.get)
    print("  true total (RTT + per-request time): " + ", ".join(f"{v} {truth[v]:.1f} ms" for v in order))
    assert order == ["far", "mid", "near"], f"the scenario is not what it claims: {truth}"
    lowest, highest = order[0], order[-1]

    series = Series(s.lab, "c1", VIP, interval_ms=60, timeout=3, duration=600, parallel=2).start()
    try:
        t_start = time.monotonic()

        def near_learned():
            x = instances(s)["near"]
            assert x["measured"] and x["service_time_ms"] is not None, f"near: {x}"
            assert x["service_time_source"] == "estimated", f"near's service time should be learned: {x}"
            return x
        near = wait_until(near_learned, MEASURED_DEADLINE_S, "near measured and its service time learned",
                          interval=0.25)
        t_learned = time.monotonic() - t_start
        print(f"  near measured and learned after {t_learned:.1f}s: {near}")

        def enough():
            return time.monotonic() - t_start >= t_learned + RUN_S or None
        wait_until(enough, RUN_S + 5, f"{RUN_S:g}s more of client traffic", interval=0.5)
        final = st_.decisions(s.lab, SERVICE)
    finally:
        series.stop()
    recs = series.records()
    ok = [r for r in recs if not r["error"]]
    errors = [r["error"] for r in recs if r["error"]]
    counts = {v: 0 for v in SITES}
    for r in ok:
        site = VCPE_OF.get(r["instance"], r["instance"])
        counts[site] = counts.get(site, 0) + 1
    latency = {v: statistics.median([(r["t1"] - r["t0"]) * 1000 for r in ok if r["instance"] == INSTANCE[v]])
               for v in SITES if counts[v]}
    print(f"  {len(recs)} connections, counts {counts}, errors {len(errors)}; client median latency (2 RTT + "
          f"processing) " + ", ".join(f"{v} {ms:.0f} ms" for v, ms in latency.items()))
    print(f"  final decisions: {st_.describe(final)}")
    assert len(ok) >= 200, f"too little client traffic to judge: {len(ok)} ok of {len(recs)}"
    # What the clients saw agrees with the truth computed from the scenario (sites with a
    # few connections; near may have had very few).
    seen = [v for v in order if counts[v] >= 5]
    assert sorted(seen, key=latency.get) == seen, \
        f"client latencies {latency} are not in the order of the true totals {truth}"
    assert len(errors) <= 0.01 * len(recs), f"connection errors: {errors[:10]} ({len(errors)})"
    assert set(counts) == set(SITES), f"replies from unknown instances: {counts}"

    # Both orders, over the whole run (the start included).
    most = max(SITES, key=counts.get)
    fewest = min(SITES, key=counts.get)
    assert most == lowest and all(counts[lowest] > counts[v] for v in SITES if v != lowest), \
        f"most new connections should go to {lowest} (lowest true total {truth[lowest]:.1f} ms): {counts}"
    assert fewest == highest and all(counts[highest] < counts[v] for v in SITES if v != highest), \
        f"fewest new connections should go to {highest} (highest true total {truth[highest]:.1f} ms): {counts}"

    # Once measured, near (~73 ms against ~19) is outside the spread window for good: it
    # only had its exploration share before its first measurement came back. Flapping
    # between "measured" (fresh delay: expensive) and "idle" (priced with the service's
    # 5 ms again: the best) gave it ~8 % of the connections of this run; its own figure
    # keeps it near 0.
    assert counts[highest] <= 0.05 * len(ok), \
        f"{highest} got {counts[highest]} of {len(ok)} new connections (> 5 %): priced by a guess again? {counts}"

    # Not even at the start did most new connections go to the unmeasured near (it looked
    # best): in every second of the run with a few connections, near had less than half.
    # Without a bounded exploration share, everything went to near until its first
    # measurement came back.
    buckets: dict[int, list[int]] = {}
    for r in ok:
        b = buckets.setdefault(int(r["t0"] - t_start), [0, 0])
        b[0] += 1
        b[1] += r["instance"] == INSTANCE[highest]
    timeline = " ".join(f"{k}s:{n_near}/{n}" for k, (n, n_near) in sorted(buckets.items()))
    print(f"  {highest} per second (of all): {timeline}")
    bad = [k for k, (n, n_near) in buckets.items() if n >= 5 and 2 * n_near >= n]
    assert not bad, f"most new connections went to {highest} in second(s) {sorted(bad)}: {timeline}"

    # near is now priced as itself: its learned figure is about its real per-request time
    # (70 ms plus the app's overhead), and its cost is the highest.
    near = instances(s)["near"]
    assert 50.0 <= near["service_time_ms"] <= 110.0, f"near's learned service time: {near}"
    cost = cost_by_vcpe(final)
    assert cost["near"] is not None and cost["near"] > max(cost["far"], cost["mid"]), \
        f"near should now cost the most: {st_.describe(final)}"


# ------------------------------------------------------------------ 3. idle again

def test_last_delay_kept_with_its_age(s: LabSession):
    # No client traffic now: the apps' own windows drop their delays, the figures stay.
    def aged():
        x = instances(s)["near"]
        assert x["processing_delay_ms"] is None, f"near still has a fresh delay: {x}"
        assert x["last_processing_delay_ms"] is not None and x["last_processing_delay_age_ms"] >= 2000, \
            f"near's last delay and its age: {x}"
        return x
    near = wait_until(aged, 15, "near's last measured delay at least 2 s old", interval=0.25)
    assert near["measured"] and near["service_time_source"] == "estimated" and near["service_time_ms"] > 50.0, \
        f"near's figure must outlive its traffic: {near}"
    assert 50.0 <= near["last_processing_delay_ms"] <= 110.0, f"near's last delay: {near}"
    # Still priced by its own figure (M/M/c with ~70 ms at ~0 %), not the service's 5 ms.
    cost = cost_by_vcpe(st_.decisions(s.lab, SERVICE))
    assert cost["near"] is not None and cost["near"] > max(cost["far"], cost["mid"]), \
        f"idle near priced by the service's constant again? costs {cost}"
    print(f"  idle near: {near}; costs {cost}")


if __name__ == "__main__":
    sys.exit(main([test_near_unmeasured_at_start, test_flows_follow_true_total_delay,
                   test_last_delay_kept_with_its_age],
                  scenario="figures", daemons=True, services=True, setup=setup))
