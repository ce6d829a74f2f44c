#!/usr/bin/python3
"""Lab test (issue: metrics and probing) in the fig4 lab with the real daemons.

STAMP over every (WAN x vCPE) tunnel: +40 ms on WAN1 shows on both WAN1 paths within 2 s
and not on WAN2; 100% loss takes the WAN1 paths down within 0.5 s and they come back.
Signed reports: cloud1's app load set to 80% shows at the CPE within 1 s; stopping a vCPE
makes its instances unavailable within 3 x max-interval; forged, unsigned, bit-flipped,
replayed and garbage reports sent into the tunnel are rejected, counted, and change nothing.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402

MAX_INTERVAL_S = 1.0  # reporting.max_interval_ms in the lab's configs (the default)


def paths(s: LabSession) -> dict:
    cp = s.lab.catsctl("cpe", "paths", "--json")
    assert cp.returncode == 0, cp.stderr
    import json
    return {(p["wan"], p["vcpe"]): p for p in json.loads(cp.stdout)}


def instances(s: LabSession) -> dict:
    cp = s.lab.catsctl("cpe", "instances", "--json")
    assert cp.returncode == 0, cp.stderr
    import json
    return {(i["vcpe"], i["service"], i["instance"]): i for i in json.loads(cp.stdout)}


def reports(s: LabSession) -> dict:
    cp = s.lab.catsctl("cpe", "reports", "--json")
    assert cp.returncode == 0, cp.stderr
    import json
    return json.loads(cp.stdout)


def counter(s: LabSession, verdict: str) -> int:
    r = reports(s)
    counts = r.get("counters", r)
    return int(counts.get(verdict, 0))


def all_paths_up(s: LabSession):
    p = paths(s)
    bad = {k: v["state"] for k, v in p.items() if v["state"] != "up"}
    # Raising (not returning a message) keeps wait_until polling and shows what was seen.
    assert len(p) == 4 and not bad, f"paths not up: {bad or p}"
    return True


def rtt(s: LabSession, wan: str, vcpe: str) -> float:
    return float(paths(s)[(wan, vcpe)]["rtt_ms"])


def test_every_path_is_probed(s: LabSession):
    wait_until(lambda: all_paths_up(s), 20, "every (WAN x vCPE) path up")
    p = paths(s)
    for k, v in p.items():
        for key in ("rtt_ms", "jitter_ms", "loss_pct", "state"):
            assert key in v, (k, v)
        assert v["rtt_ms"] is not None and 0 < v["rtt_ms"] < 50, f"{k}: implausible lab RTT {v}"
    plain = s.lab.catsctl("cpe", "paths").stdout
    assert "wan1" in plain and "cloud2" in plain, plain


SETTLED_REPLIES = 20  # 1 s of probes at the CPE's 50 ms


def settled_rtts(s: LabSession) -> dict | None:
    """Every path's smoothed RTT once each has SETTLED_REPLIES replies (None before): the
    first samples after the lab comes up carry its start-up (daemons, tunnels, the first
    packets through the impairer) and a smoothed value takes a second to forget them, so a
    base read then can sit several ms above the path's."""
    p = paths(s)
    if len(p) != 4 or any(v.get("received", 0) < SETTLED_REPLIES or v.get("rtt_ms") is None for v in p.values()):
        return None
    return {k: float(v["rtt_ms"]) for k, v in p.items()}


def test_delay_on_wan1_shows_within_2s(s: LabSession):
    base = wait_until(lambda: settled_rtts(s), 10, f"{SETTLED_REPLIES} probe replies on every path")
    s.impair("wan1", clear=True, delay=40)
    t0 = time.monotonic()
    try:
        def risen():
            now = {k: rtt(s, *k) for k in base}
            ok = all(35 <= now[k] - base[k] <= 45 for k in base if k[0] == "wan1")
            return ok and now or None
        now = wait_until(risen, 2.0, "WAN1 paths' RTT to rise by 40±5 ms", interval=0.05)
        took = time.monotonic() - t0
        for k in base:
            if k[0] == "wan2":
                assert abs(now[k] - base[k]) < 5, f"{k} changed by {now[k] - base[k]:.1f} ms"
        print(f"  WAN1 +40 ms seen after {took:.2f} s: " +
              ", ".join(f"{k[0]}/{k[1]} {base[k]:.1f}->{now[k]:.1f}" for k in sorted(base)))
    finally:
        s.impair("wan1", clear=True)
    wait_until(lambda: all(rtt(s, "wan1", v) < 20 for v in ("cloud1", "cloud2")), 10, "WAN1 RTT back")


def test_loss_on_wan1_takes_paths_down_fast(s: LabSession):
    wait_until(lambda: all_paths_up(s), 10, "all paths up before the test")
    s.impair("wan1", clear=True, loss=100)
    t0 = time.monotonic()
    try:
        wait_until(lambda: all(paths(s)[("wan1", v)]["state"] == "down" for v in ("cloud1", "cloud2")),
                   0.5, "WAN1 paths down within 0.5 s", interval=0.02)
        took = time.monotonic() - t0
        p = paths(s)
        assert all(p[("wan2", v)]["state"] == "up" for v in ("cloud1", "cloud2")), p
        print(f"  WAN1 paths down {took * 1000:.0f} ms after the blackhole")
    finally:
        s.impair("wan1", clear=True)
    wait_until(lambda: all_paths_up(s), 10, "WAN1 paths back up after recovery")


def test_app_load_shows_within_1s(s: LabSession):
    key = next(k for k in instances(s) if k[0] == "cloud1")
    s.lab.set_app_load("cloud1", 0.8)
    t0 = time.monotonic()
    try:
        wait_until(lambda: abs(instances(s)[key]["utilization"] - 0.8) <= 0.1, 1.0,
                   "cloud1's 80% load at the CPE within 1 s", interval=0.05)
        print(f"  load change seen after {(time.monotonic() - t0) * 1000:.0f} ms")
    finally:
        s.lab.set_app_load("cloud1", 0.5)


def test_bad_reports_are_rejected_and_counted(s: LabSession):
    info = s.lab.state()["daemon_configs"]["cloud1"]
    forge = str(s.lab.build_dir / "tests" / "lab" / "cats-report-forge")
    common = ["--vcpe", "cloud1", "--key", f"{info['state_dir']}/report.key", "--to", "10.1.0.1:8620",
              "--from", "10.2.1.1", "--dev", "cats-c1-wan1", "--instance", "app1-forged"]
    before = instances(s)
    cases = [("wrong-key", "bad_signature"), ("unsigned", None), ("flip", None), ("garbage", "malformed"),
             ("valid-replay", "replay")]
    for mode, verdict in cases:
        counts_before = reports(s)
        args = ["--mode", "valid", "--seq", "1"] if mode == "valid-replay" else ["--mode", mode]
        cp = s.exec("cloud1", forge, *args, *common)
        assert "sent" in cp.stdout, cp
        def counted():
            now = reports(s)
            a, b = counts_before.get("counters", counts_before), now.get("counters", now)
            grew = {k: b[k] - a.get(k, 0) for k in b if isinstance(b[k], int) and b[k] != a.get(k, 0)}
            grew.pop("accepted", None)
            if verdict:
                return grew.get(verdict, 0) >= 1 and grew
            return sum(grew.values()) >= 1 and grew
        grew = wait_until(counted, 3, f"the {mode} report to be counted as a rejection")
        print(f"  {mode}: counted as {grew}")
    after = instances(s)
    assert not any(k[2] == "app1-forged" for k in after), f"a forged instance got in: {after.keys()}"
    assert set(after) == set(before), (before.keys(), after.keys())


def test_stopped_vcpe_becomes_unavailable(s: LabSession):
    keys = [k for k in instances(s) if k[0] == "cloud2"]
    assert keys and all(instances(s)[k]["available"] for k in keys), instances(s)
    s.lab.stop_daemon("cloud2")
    t0 = time.monotonic()
    try:
        wait_until(lambda: all(not instances(s)[k]["available"] for k in keys), 3 * MAX_INTERVAL_S + 1.0,
                   "cloud2's instances unavailable within 3 x max-interval", interval=0.05)
        print(f"  cloud2 unavailable after {time.monotonic() - t0:.2f} s")
    finally:
        s.lab.start_daemon("cloud2")
    wait_until(lambda: all(instances(s)[k]["available"] for k in keys), 10, "cloud2 available again")


if __name__ == "__main__":
    sys.exit(main([
        test_every_path_is_probed,
        test_delay_on_wan1_shows_within_2s,
        test_loss_on_wan1_takes_paths_down_fast,
        test_app_load_shows_within_1s,
        test_bad_reports_are_rejected_and_counted,
        test_stopped_vcpe_becomes_unavailable,
    ], scenario="fig4", daemons=True))
