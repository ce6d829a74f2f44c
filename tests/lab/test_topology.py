#!/usr/bin/python3
"""Lab test: fig4 topology without daemons — underlay reachability through each ISP,
run-time impairment of one WAN (delay, loss, clear, rate), and a clean `down`."""
import os
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.common import list_lab_namespaces  # noqa: E402
from catslab import procs  # noqa: E402

CLIENTS = ["c1", "c2", "c3"]
VCPES = {"cloud1": "203.0.113.2", "cloud2": "203.0.113.6"}
WAN_SRC = {"wan1": "192.0.2.2", "wan2": "192.0.2.6"}
seen_pids: set[int] = set()


def wan_rtt(s: LabSession, wan: str, count: int = 12) -> float:
    """Median RTT (ms) from the CPE's WAN address to cloud1, i.e. across that WAN."""
    r = s.ping("cpe", VCPES["cloud1"], count=count, interval=0.03, source=WAN_SRC[wan])
    assert r["received"] >= count - 1, f"ping across {wan} lost packets: {r}"
    return statistics.median(r["rtt_ms"])


def test_clients_reach_vcpes_through_each_isp(s: LabSession):
    for wan in ("wan1", "wan2"):
        s.lab.set_default_wan(wan)
        for link in ("wan1", "wan2"):
            s.impair_reset_stats(link)
        jobs = [(c, v, a) for c in CLIENTS for v, a in VCPES.items()]
        with ThreadPoolExecutor(len(jobs)) as ex:
            results = list(ex.map(lambda j: (j, s.ping(j[0], j[2], count=2, interval=0.05)), jobs))
        bad = [f"{c}->{v}: {r['received']}/{r['sent']}" for (c, v, _), r in results if r["received"] != r["sent"]]
        assert not bad, f"via {wan}: unreachable: {bad}"
        other = "wan2" if wan == "wan1" else "wan1"
        used, unused = s.impair_stats(wan)["received"], s.impair_stats(other)["received"]
        assert used >= len(jobs) * 2, f"via {wan}: only {used} packets crossed {wan}'s ISP"
        assert unused == 0, f"via {wan}: {unused} packets crossed {other}'s ISP"
    s.lab.set_default_wan("wan1")


def test_delay_raises_rtt_on_wan1_only(s: LabSession):
    base1, base2 = wan_rtt(s, "wan1"), wan_rtt(s, "wan2")
    r = s.impair("wan1", delay=40)
    assert r["params"]["delay"] == 40, r
    d1, d2 = wan_rtt(s, "wan1") - base1, wan_rtt(s, "wan2") - base2
    assert 35 <= d1 <= 45, f"wan1 RTT rose by {d1:.1f} ms (expected 40±5)"
    assert abs(d2) < 5, f"wan2 RTT changed by {d2:.1f} ms (expected ~0)"
    # Clients whose breakout is wan1 see it too.
    c = s.ping("c1", VCPES["cloud2"], count=5, interval=0.03)
    assert c["received"] == 5 and 35 <= statistics.median(c["rtt_ms"]) - base1 <= 46, c
    print(f"  base wan1 {base1:.2f} ms, wan2 {base2:.2f} ms; +delay 40: wan1 +{d1:.1f} ms, wan2 {d2:+.1f} ms")


def test_loss_100_blackholes_wan1_only(s: LabSession):
    s.impair("wan1", clear=True, loss=100)
    s.impair_reset_stats("wan1")
    r1 = s.ping("cpe", VCPES["cloud1"], count=5, interval=0.03, timeout=0.5, source=WAN_SRC["wan1"])
    r2 = s.ping("cpe", VCPES["cloud1"], count=5, interval=0.03, source=WAN_SRC["wan2"])
    assert r1["received"] == 0, f"wan1 should be blackholed: {r1}"
    assert r2["received"] == 5, f"wan2 should be untouched: {r2}"
    st = s.impair_stats("wan1")
    assert st["dropped_loss"] >= 5 and st["accepted"] == 0, st


def test_clear_restores(s: LabSession):
    s.impair("wan1", clear=True)
    rtt = wait_until(lambda: (r := s.ping("cpe", VCPES["cloud1"], count=5, interval=0.03,
                                           source=WAN_SRC["wan1"]))["received"] == 5 and r,
                     timeout=5, describe="wan1 to answer again after --clear")
    assert statistics.median(rtt["rtt_ms"]) < 5, f"wan1 RTT still high after clear: {rtt}"


def test_rate_limits_wan1(s: LabSession):
    if not shutil.which("iperf3"):
        print("  (iperf3 not installed: skipped)")
        return
    s.impair("wan1", rate=20)
    srv = s.lab.run_in("cloud1", ["iperf3", "-s", "-1", "-D", "-p", "5299"], check=True)
    assert srv.returncode == 0
    import json

    def run_client():
        cp = s.exec("cpe", "iperf3", "-c", VCPES["cloud1"], "-B", WAN_SRC["wan1"], "-p", "5299",
                    "-t", "2", "-J", check=False, timeout=20)
        return cp.returncode == 0 and json.loads(cp.stdout)

    res = wait_until(run_client, timeout=10, describe="iperf3 across wan1")
    mbit = res["end"]["sum_received"]["bits_per_second"] / 1e6
    s.impair("wan1", clear=True)
    assert 12 <= mbit <= 22, f"rate 20 Mbit/s gave {mbit:.1f} Mbit/s"
    print(f"  --rate 20: iperf3 TCP {mbit:.1f} Mbit/s")


def test_record_processes(s: LabSession):
    from catslab.topology import namespace_pids
    for ns in list_lab_namespaces():
        seen_pids.update(namespace_pids(ns))
    seen_pids.update(p["pid"] for p in (s.lab.state() or {}).get("processes", []))
    assert seen_pids, "expected the impairers to be running"


def check_clean(what: str) -> list[str]:
    errs = []
    left = list_lab_namespaces()
    if left:
        errs.append(f"{what}: namespaces left: {left}")
    alive = [p for p in seen_pids if procs.alive(p)]
    if alive:
        errs.append(f"{what}: processes left: {alive}")
    if os.path.exists("/run/cats-lab"):
        errs.append(f"{what}: /run/cats-lab left")
    return errs


if __name__ == "__main__":
    rc = main([test_clients_reach_vcpes_through_each_isp, test_delay_raises_rtt_on_wan1_only,
               test_loss_100_blackholes_wan1_only, test_clear_restores, test_rate_limits_wan1,
               test_record_processes], scenario="fig4", daemons=False)
    errs = check_clean("after down")
    # A second up/down cycle must work as well.
    try:
        with LabSession("fig4", daemons=False, verbose=False) as s2:
            r = s2.ping("c2", VCPES["cloud2"], count=2)
            if r["received"] != 2:
                errs.append(f"second cycle: c2 cannot reach cloud2: {r}")
    except Exception as e:  # noqa: BLE001
        errs.append(f"second cycle failed: {e}")
    errs += check_clean("after second down")
    for e in errs:
        print("FAIL " + e)
    print("PASS clean down, two cycles" if not errs else "")
    sys.exit(rc or (1 if errs else 0))
