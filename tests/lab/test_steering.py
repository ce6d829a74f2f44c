#!/usr/bin/python3
"""Lab test (issue 4: steering) in the fig4 lab with services and the real daemons.

Clients reach app1 at VIPs; the CPE DNATs each new flow to an (instance, WAN path):
1. fig4 (6 vCPUs each, 50 % vs 20 % load): most new connections go to cloud2, and the
   observed shares per (instance, WAN) match the published weights.
2. cloud2's load to 95 %: new connections shift to cloud1 within 1 s (8 of 10 consecutive
   ones on cloud1; at most 20 % still on cloud2 in the 2 s after: the selector moves
   weights in damped steps), while a long-lived connection on cloud2 stays there
   without an error.
3. WAN1 blackholed: a keep-alive stream on WAN1 continues over WAN2 (gap measured; goal
   0.25 s median, issue 8; the test fails only over 2 s), same instance, no error.
4. cloud2's vCPE stopped: its long-lived connection fails fast (reset, not a hang), the
   client's reconnect and every new flow go to cloud1.
5. cats-cpe restarted (SIGUSR2 in place, kill -9 + start): a long-lived connection
   survives without error; nft table inet cats, ip rules and proto-201 routes identical.
   A rule of table inet cats flushed or replaced by hand (comment kept) is restored within
   2 reconcile intervals (issue 14), and VIP connections work after.
6. sticky (app1s, 4 s): a client keeps its instance across connections, even when the
   weights move away from it; its entry in the sticky map expires 4 s after its last
   connection (not before), then it draws again and sticks to that.
7. SLA unmet (+25 ms on both WANs, max_rtt_ms 15): app1r refuses new connections at once
   (TCP RST) and logs a weights event; app1b still serves with outcome best_effort.
8. Steady client traffic (20 new connections/s to app1 for 60 s, loads unchanged): at most
   2 weight publications after the first 10 s (issue 8: weights settle; the deadband keeps
   noise from moving them).
Every test restores what it changed (impairment, loads, daemons).
"""
import math
import re
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.clients import Series, Stream, count_instances, gaps  # noqa: E402
from catslab import steering as st_  # noqa: E402

VIP = {"app1": "10.255.0.1:80", "app1s": "10.255.0.2:80", "app1r": "10.255.0.3:80", "app1b": "10.255.0.4:80"}
CLIENT_IP = {"c1": "10.1.0.11", "c2": "10.1.0.12", "c3": "10.1.0.13"}
APP = {"cloud1": "app1-cloud1", "cloud2": "app1-cloud2"}  # the instance names cats-app answers
VCPE_OF = {v: k for k, v in APP.items()}
LOAD = {"cloud1": 0.5, "cloud2": 0.2}  # fig4.toml's background loads
SHIFT_BUDGET_S = 1.0          # load change -> new connections elsewhere (issue 4)
FAILOVER_GOAL_S = 0.25        # WAN blackhole -> stream continues (issue 8 median goal, printed)
FAILOVER_LIMIT_S = 2.0        # what fails the test
FAIL_FAST_S = 5.0             # vCPE gone -> its connection errors (a hang = stream timeout 12 s)
MAX_INTERVAL_S = 1.0          # reporting.max_interval_ms (the default)


# ------------------------------------------------------------------ helpers

def all_paths_up(s):
    p = st_.ctl_json(s.lab, "paths")
    bad = [f"{x['wan']}/{x['vcpe']}={x['state']}" for x in p if x["state"] != "up"]
    assert len(p) == 4 and not bad, f"paths: {bad or p}"
    return True


def both_weighted(s, service):
    ds = st_.decisions(s.lab, service)
    w = st_.weights_by_vcpe(s.lab, service, ds)
    assert st_.outcome(s.lab, service, ds) == "ok" and w.get("cloud1", 0) > 0 and w.get("cloud2", 0) > 0, \
        f"{service}: {st_.describe(ds)}"
    return w


def weight_of(s, service, vcpe, pred, what):
    def check():
        ds = st_.decisions(s.lab, service)
        w = st_.weights_by_vcpe(s.lab, service, ds)
        assert pred(w.get(vcpe, 0)), f"{service}: {vcpe} weight {w.get(vcpe, 0)} ({what}); {st_.describe(ds)}"
        return w
    return check


def restore_loads(s):
    for v, f in LOAD.items():
        s.lab.set_app_load(v, f)


def fig4_weights_back(s, timeout=None):
    """After a test moved loads/paths: app1 back to the fig4 preference."""
    timeout = timeout or 30
    wait_until(lambda: all_paths_up(s), 15, "every path up")

    def ok():
        ds = st_.decisions(s.lab, "app1")
        w = both_weighted(s, "app1")
        assert w["cloud2"] > w["cloud1"], f"app1 weights {w}: {st_.describe(ds)}"
        return w
    return wait_until(ok, timeout, "app1 weights back to the fig4 preference (cloud2 > cloud1)", interval=0.2)


def setup(s: LabSession):
    wait_until(lambda: all_paths_up(s), 30, "every (WAN x vCPE) path up")
    sv = st_.services(s.lab)
    assert set(VIP) | {"bulk"} <= set(sv), f"services at the CPE: {sorted(sv)}"
    for sid in VIP:
        wait_until(lambda: both_weighted(s, sid), 20, f"{sid} weighted on both instances")


# ------------------------------------------------------------------ 1. fig4

def weights_in_force(s: LabSession, service: str) -> list[tuple[float, dict[tuple[str, str], int]]]:
    """(monotonic time, weights by (vcpe, wan)) of every publication of `service`, oldest
    first, from the CPE's "weights" events (wall clock mapped to this host's monotonic)."""
    offset = time.time() - time.monotonic()
    out = []
    for e in sorted(st_.weight_events(s.lab, service), key=lambda e: float(e.get("ts_ms") or 0)):
        detail = str(e.get("detail", ""))
        tail = detail.rsplit("; weights", 1)[-1] if "; weights" in detail else ""
        w = {(v, wan): int(x) for v, wan, x in re.findall(r"(\S+?)/\S+/(\S+?)=(\d+)", tail)}
        out.append((float(e["ts_ms"]) / 1000.0 - offset, w))
    return out


def test_fig4_prefers_cloud2(s: LabSession):
    sv = st_.services(s.lab)["app1"]
    assert sv["vip"] == "10.255.0.1" and sv["ports"] == [80] and sv["affinity"] == "flow", sv
    n = 400
    before = st_.decisions(s.lab, "app1")
    r = count_instances(s.lab, "c1", VIP["app1"], n, parallel=4, records=True)
    assert len(before) == 4, f"app1 must have 2 instances x 2 WANs = 4 candidates: {st_.describe(before)}"
    w = st_.weights_by_candidate(before)
    assert sum(w.values()) == 1000, f"weights sum to {sum(w.values())}: {st_.describe(before)}"
    assert r["ok"] == n and not r["errors"], f"connections to the VIP: {r['errors']} (ok {r['ok']}/{n})"
    by_vcpe = st_.weights_by_vcpe(s.lab, "app1", before)
    counts = {VCPE_OF.get(k, k): v for k, v in r["counts"].items()}
    print(f"  weights /1000: " + ", ".join(f"{v}/{wan}={x}" for (v, wan), x in sorted(w.items())) +
          f"; observed of {n}: {counts}")
    assert set(counts) <= {"cloud1", "cloud2"}, counts
    assert by_vcpe["cloud2"] >= 550, f"cloud2 should get clearly more weight (~60 %+): {by_vcpe}"
    assert counts.get("cloud2", 0) > counts.get("cloud1", 0), f"most new connections should go to cloud2: {counts}"
    # Per candidate (instance x WAN, from the flows' conntrack marks), against the weights
    # in force when each connection started: the load of the measurement itself may make
    # the selector step mid-way (it is 200 connections/s), and the data plane must follow
    # every publication. Connections within 0.1 s of a publication (apply latency) are
    # left out. Observed count within 4 sigma (+2 %) of the expected.
    history = weights_in_force(s, "app1")
    changes = [t for t, _ in history]
    ct = {e["sport"]: e for e in st_.ct_entries(s.lab, src=CLIENT_IP["c1"], dst="10.255.0.1")}
    seen: dict[tuple[str, str], int] = {}
    expect: dict[tuple[str, str], float] = {}
    var: dict[tuple[str, str], float] = {}
    total = 0
    for t0, t1, inst, err, port in r["records"]:
        e = ct.get(port)
        if e is None or any(abs(t0 - t) < 0.1 for t in changes):
            continue
        in_force = [wt for t, wt in history if t <= t0]
        if not in_force:
            continue
        total += 1
        key = (VCPE_OF.get(inst, inst), st_.wan_name(s.lab, e["wan_index"]))
        seen[key] = seen.get(key, 0) + 1
        for k, x in in_force[-1].items():
            p = x / 1000.0
            expect[k] = expect.get(k, 0.0) + p
            var[k] = var.get(k, 0.0) + p * (1 - p)
    during = sum(1 for t in changes if r["records"] and r["records"][0][0] <= t <= r["records"][-1][1])
    print(f"  {total} of {n} connections checked against the weights in force ({during} publications during)")
    assert total >= 0.75 * n, f"only {total} of {n} connections found in conntrack and away from publications"
    bad = []
    for key in set(expect) | set(seen):
        obs, exp = seen.get(key, 0), expect.get(key, 0.0)
        tol = 4 * math.sqrt(var.get(key, 0.0)) + 0.02 * total
        if abs(obs - exp) > tol:
            bad.append(f"{key}: expected {exp:.0f}, observed {obs} (tolerance {tol:.0f})")
    assert not bad, f"shares differ from the weights in force: {bad}; seen {seen}"


# ------------------------------------------------------------------ 2. load shift

def test_load_shift_keeps_long_lived(s: LabSession):
    # The long-lived connection asks every 50 ms: at every 15 ms its requests alone kept
    # cloud2 22 points busy, so the shift started from ~50 % in a pool ~50 % busy (the
    # selector's quiet-pool threshold, SELECTION.md rules 5, 7-10), not from the 20 % of
    # issue 8's case, and went one way or the other by chance.
    stream, ct = st_.open_stream_on(s.lab, "c2", CLIENT_IP["c2"], VIP["app1"],
                                    lambda first, ct: first["instance"] == APP["cloud2"], interval_ms=50)
    series = None
    try:
        # The goal is for a load change the CPE did not cause: not right after it raised
        # cloud2's share (its first decision is one), when the rise may be its own.
        st_.wait_share_not_raised(s.lab, "app1", "cloud2", wait_until)
        st_.wait_hold_down_over(s.lab, "app1", wait_until)
        series = Series(s.lab, "c1", VIP["app1"], interval_ms=20).start()
        wait_until(lambda: len(series.records()) >= 5 or None, 10, "the series of new connections to start")
        before = {f"{x.get('vcpe')}/{x.get('instance')}": x.get("utilization")
                  for x in st_.ctl_json(s.lab, "instances") if x.get("service") == "app1"}
        t_load = time.monotonic()
        s.lab.set_app_load("cloud2", 0.95)
        # Observe until well after the budget.
        wait_until(lambda: any(x["t0"] > t_load + SHIFT_BUDGET_S + 2.0 for x in series.records()) or None,
                   SHIFT_BUDGET_S + 12, "new connections after the load change")
        recs = [x for x in series.records() if x["t0"] >= t_load]
        errs = [x for x in recs if x["error"]]
        assert not errs, f"new connections failed: {errs[:5]}"
        t_major, timeline = st_.shift_timeline(recs, t_load, APP["cloud1"])
        settled = [x for x in recs if t_load + SHIFT_BUDGET_S <= x["t0"] <= t_load + SHIFT_BUDGET_S + 2.0]
        resid = sum(x["instance"] == APP["cloud2"] for x in settled) / max(1, len(settled))
        last2 = max((x["t0"] - t_load for x in recs if x["instance"] == APP["cloud2"]), default=0.0)
        ds = st_.decisions(s.lab, "app1")
        print(f"  utilisation before the change: {before}")
        print(f"  new connections on cloud1 per 0.5 s after the change: {timeline}")
        print(f"  shifted (8 of 10 on cloud1) after {t_major if t_major is None else round(t_major * 1000)} ms; "
              f"cloud2 share {SHIFT_BUDGET_S:g}-{SHIFT_BUDGET_S + 2:g} s after: {resid:.0%}; "
              f"last to cloud2 at {last2 * 1000:.0f} ms; weights now {st_.weights_by_vcpe(s.lab, 'app1', ds)}")
        assert t_major is not None and t_major <= SHIFT_BUDGET_S, \
            f"new connections did not shift to cloud1 within {SHIFT_BUDGET_S:g}s: {timeline}; {st_.describe(ds)}"
        assert resid <= 0.2, f"{resid:.0%} of new connections still reach cloud2 after the shift: {timeline}"
        # The long-lived connection stays on cloud2, without an error.
        stream.wait_replies_after(time.monotonic(), 10, 10)
        assert not stream.errors(), f"long-lived connection errors: {stream.errors()}"
        insts = {x["instance"] for x in stream.replies()}
        assert insts == {APP["cloud2"]}, f"the long-lived connection moved: {insts}"
        assert len(stream.connects()) == 1, stream.connects()
    finally:
        if series:
            series.stop()
        stream.stop()
        restore_loads(s)
    fig4_weights_back(s)


# ------------------------------------------------------------------ 3. WAN1 blackhole

def test_wan1_blackhole_stream_moves_to_wan2(s: LabSession):
    # /nowork: the app answers at once, so the stream's replies time the network only.
    stream, ct = st_.open_stream_on(s.lab, "c3", CLIENT_IP["c3"], VIP["app1"],
                                    lambda first, ct: ct["wan_index"] == 1,
                                    interval_ms=10, timeout=12, path="/nowork")
    try:
        stream.wait_replies(20, 10)
        inst = stream.replies()[0]["instance"]
        t0 = time.monotonic()
        s.impair("wan1", clear=True, loss=100)
        stream.wait_replies_after(t0, 20, FAILOVER_LIMIT_S + 12)
        g = gaps(stream.replies(), t_from=t0 - 1)
        gap = g[0][0] if g else 0.0
        errs = stream.errors()
        moved = st_.flow_of(s.lab, CLIENT_IP["c3"], ct["sport"])
        print(f"  stream on {inst} over wan1: gap {gap * 1000:.0f} ms (goal {FAILOVER_GOAL_S * 1000:.0f} ms: "
              f"{'met' if gap <= FAILOVER_GOAL_S else 'MISSED'}), now over {st_.wan_name(s.lab, moved['wan_index'])}")
        assert not errs, f"stream errors across the failover: {errs}"
        assert {x["instance"] for x in stream.replies()} == {inst}, "the stream changed instance"
        assert moved["wan_index"] == 2, f"flow not moved to WAN2: {moved}"
        assert gap <= FAILOVER_LIMIT_S, f"gap {gap:.2f}s over the {FAILOVER_LIMIT_S:g}s limit"
    finally:
        stream.stop()
        s.impair("wan1", clear=True)
    fig4_weights_back(s)


# ------------------------------------------------------------------ 4. vCPE down

def test_vcpe_down_resteers(s: LabSession):
    stream, ct = st_.open_stream_on(s.lab, "c1", CLIENT_IP["c1"], VIP["app1"],
                                    lambda first, ct: first["instance"] == APP["cloud2"],
                                    interval_ms=15, timeout=12, reconnect=True)
    stopped = False
    try:
        stream.wait_replies(5, 10)
        t0 = time.monotonic()
        s.lab.stop_daemon("cloud2")
        stopped = True
        err = wait_until(lambda: stream.errors() or None, FAIL_FAST_S + 10, "the cloud2 connection to fail")[0]
        took = err["t"] - t0
        print(f"  cloud2's connection failed after {took * 1000:.0f} ms ({err['kind']}: {err['detail']})")
        assert err["kind"] != "timeout", f"the connection hung until the client's timeout: {err}"
        assert took <= FAIL_FAST_S, f"the connection failed only after {took:.1f}s: {err}"
        # cloud2 out of the weights, then the reconnect and every new flow go to cloud1.
        wait_until(weight_of(s, "app1", "cloud2", lambda w: w == 0, "0 expected"), 3 * MAX_INTERVAL_S + 2,
                   "cloud2 out of app1's weights")
        stream.wait_replies_after(err["t"], 5, 10)
        after = [x for x in stream.replies() if x["t"] > err["t"]]
        assert {x["instance"] for x in after} == {APP["cloud1"]}, f"reconnected to {after[:3]}"
        r = count_instances(s.lab, "c2", VIP["app1"], 60, parallel=3)
        assert r["counts"] == {APP["cloud1"]: 60} and not r["errors"], f"new flows with cloud2 down: {r}"
        print(f"  new flows: {r['counts']}")
    finally:
        stream.stop()
        if stopped:
            s.lab.start_daemon("cloud2")
    wait_until(lambda: both_weighted(s, "app1"), st_.hold_down_s(s.lab) + 15, "cloud2 back in app1's weights")
    fig4_weights_back(s)


# ------------------------------------------------------------------ 5. CPE restart

def _log_count(s, needle):
    log = Path(s.lab.state()["daemon_configs"]["cpe"]["state_dir"]) / "daemon.log"
    return log.read_text(errors="replace").count(needle)


def quiet_all(s, min_age: float):
    ages = {sv: st_.last_publication_age_s(s.lab, sv) for sv in st_.services(s.lab)}
    young = {k: round(v, 1) for k, v in ages.items() if v < min_age}
    assert not young, f"published less than {min_age:g}s ago: {young}"
    return True


def test_cpe_restart_keeps_flows_and_ruleset(s: LabSession):
    stream = Stream(s.lab, "c2", VIP["app1"], interval_ms=15, timeout=12).start()
    try:
        stream.wait_replies(10, 10)
        for how in ("usr2", "kill"):
            # Compare against a settled ruleset: no service republished in the last 2 s
            # (damped steps after the earlier tests' changes would otherwise land mid-way).
            wait_until(lambda: quiet_all(s, 2.0), 30, "every service's weights to settle")
            before = st_.ruleset(s.lab)
            t_wall = time.time()
            t0 = time.monotonic()
            if how == "usr2":
                ready = _log_count(s, "ready;")
                os.kill(s.lab.daemon_entry("cpe")["pid"], signal.SIGUSR2)
                wait_until(lambda: _log_count(s, "ready;") > ready or None, 15, "cats-cpe back after SIGUSR2")
            else:
                s.lab.kill_daemon("cpe")
                s.lab.start_daemon("cpe")
            # The restarted daemon must not touch the kernel once it has its inputs again
            # (paths re-probed, instances reported): compare after that, not before.
            wait_until(lambda: all_paths_up(s), 15, f"paths up after the restart ({how})")
            wait_until(lambda: both_weighted(s, "app1"), 10, f"app1 decided after the restart ({how})")
            stream.wait_replies_after(time.monotonic(), 20, 10)
            after = st_.ruleset(s.lab)
            g = gaps(stream.replies(), t_from=t0)
            print(f"  {how}: stream gap {g[0][0] * 1000 if g else 0:.0f} ms, "
                  f"{len(stream.replies())} replies, errors {len(stream.errors())}")
            assert not stream.errors(), f"long-lived connection broke across the restart ({how}): {stream.errors()}"
            assert len(stream.connects()) == 1
            d = st_.diff_ruleset(before, after)
            if d:
                evs = [f"{e.get('subject')}: {e.get('detail')}" for e in st_.events(s.lab, "weights")
                       if float(e.get("ts_ms") or 0) >= t_wall * 1000]
                raise AssertionError(f"ruleset changed across the restart ({how}):\n{d}\n"
                                     f"weights events since: {evs or 'none'}")
        assert len({x["instance"] for x in stream.replies()}) == 1
    finally:
        stream.stop()
        if not any(p["kind"] == "daemon" and p["node"] == "cpe" for p in s.lab.state()["processes"]):
            s.lab.start_daemon("cpe")


# ------------------------------------------------------------------ 5b. hand edit

RECONCILE_S = 2.0             # cpe/steering.cpp kReconcile


def _nft_cats(s) -> str:
    """table inet cats without its map and set elements (weights, sticky clients: the
    dynamic part, which a replace legitimately resets), as steer::table_content has it."""
    return re.sub(r"[ \t]*elements = \{[^}]*\}\n?", "", st_.ruleset(s.lab)["nft"])


def test_hand_edit_inside_table_repaired(s: LabSession):
    """Issue 14: a rule of table inet cats deleted or changed behind the daemon's back
    (the table comment kept) is restored within the reconcile interval, and steering
    works after: the table was judged by its comment alone, so such an edit stayed."""
    wait_until(lambda: quiet_all(s, 2.0), 30, "every service's weights to settle")
    intact = _nft_cats(s)
    edits = [
        # Every new-flow DNAT gone: no VIP connection would reach an instance.
        ("flush chain steer_dstnat", ["nft", "flush", "chain", "inet", "cats", "steer_dstnat"]),
        # One rule replaced by a harmless one, by handle.
        ("replace a steer_prerouting rule", None),
    ]
    for what, argv in edits:
        if argv is None:
            listing = s.exec("cpe", "nft", "-a", "list", "chain", "inet", "cats", "steer_prerouting").stdout
            handle = re.findall(r"# handle (\d+)", listing)[-1]
            argv = ["nft", "replace", "rule", "inet", "cats", "steer_prerouting", "handle", handle, "meta", "nftrace",
                    "set", "0"]
        repairs = _log_count(s, "its rules differ from what we applied")
        s.exec("cpe", *argv)
        t0 = time.monotonic()
        # That the edit changed the rules is what the daemon logs when it finds them
        # different (neither edit touches the table comment). Reading the table back here
        # instead raced the repair, which comes within one tick of the edit once the
        # ruleset generation moves: the repair was logged before the read-back once in
        # about 5 runs ("changed nothing").
        wait_until(lambda: _log_count(s, "its rules differ from what we applied") > repairs or None, 2 * RECONCILE_S,
                   f"the daemon to find the rules changed after: {what} (if never: the edit changed nothing)",
                   interval=0.05)
        wait_until(lambda: _nft_cats(s) == intact or None, 2 * RECONCILE_S, f"table inet cats restored after: {what}",
                   interval=0.05)
        took = time.monotonic() - t0
        r = count_instances(s.lab, "c1", VIP["app1"], 20, parallel=4)
        print(f"  {what}: restored in {took:.2f} s; then {r['ok']}/20 connections to app1 ({r['counts']})")
        assert r["ok"] == 20 and not r["errors"], f"steering after the repair: {r['errors']}"


# ------------------------------------------------------------------ 6. sticky

def sticky_clients(s) -> str:
    cp = s.exec("cpe", "nft", "list", "map", "inet", "cats", "s_app1s", check=False)
    assert cp.returncode == 0, f"no sticky map s_app1s: {cp.stderr.strip()}"
    return cp.stdout


def test_sticky_client_keeps_instance_until_timeout(s: LabSession):
    timeout_s = s.scenario.cpe.service("app1s").sticky_timeout_s
    sv = st_.services(s.lab)["app1s"]
    assert sv["affinity"] == "sticky" and sv["sticky_timeout_s"] == timeout_s, sv
    first = {}
    for c in CLIENT_IP:
        r = count_instances(s.lab, c, VIP["app1s"], 8)
        assert not r["errors"] and len(r["counts"]) == 1, f"{c}: sticky service answered by {r}"
        first[c] = next(iter(r["counts"]))
    print(f"  each client on one instance: {first}")
    # Stickiness beats the weights: load c1's instance to 95 % so the weights leave it;
    # c1 keeps it while it connects (each connection refreshes its entry).
    mine = VCPE_OF[first["c1"]]
    try:
        s.lab.set_app_load(mine, 0.95)
        deadline = time.monotonic() + 15
        kept = 0
        while True:
            r = count_instances(s.lab, "c1", VIP["app1s"], 1)
            assert r["counts"] == {first["c1"]: 1}, f"c1 lost its sticky instance while active: {r}"
            kept += 1
            w = st_.weights_by_vcpe(s.lab, "app1s")
            if w.get(mine, 0) <= 250 and kept >= 3:
                break
            assert time.monotonic() < deadline, f"app1s weights never left {mine}: {w}"
            time.sleep(0.5)  # pacing of c1's connections (well within the timeout)
        r = count_instances(s.lab, "c1", VIP["app1s"], 6, interval_ms=200)
        assert r["counts"] == {first["c1"]: 6}, f"weights left {mine} ({w}): c1 must keep it while sticky: {r}"
        t_last = time.monotonic()
        assert CLIENT_IP["c1"] in sticky_clients(s), sticky_clients(s)
        print(f"  c1 kept {mine} for {kept + 6} connections while its weight fell to {w.get(mine, 0)}/1000")

        # Without connections the entry expires after the timeout (not before).
        def expired():
            m = sticky_clients(s)
            assert CLIENT_IP["c1"] not in m, f"c1 still in the sticky map: {m.strip()}"
            return time.monotonic()
        gone = wait_until(expired, timeout_s + 3, "c1's sticky entry to expire", interval=0.1)
        print(f"  c1's entry expired {gone - t_last:.1f}s after its last connection (timeout {timeout_s}s)")
        assert gone - t_last >= timeout_s - 0.5, f"sticky entry expired early: {gone - t_last:.1f}s"
        # A new draw by the weights, then sticky again.
        r = count_instances(s.lab, "c1", VIP["app1s"], 5)
        assert not r["errors"] and len(r["counts"]) == 1, f"c1 after expiry: {r}"
        print(f"  after expiry c1 drew {next(iter(r['counts']))} (weights {st_.weights_by_vcpe(s.lab, 'app1s')})")
    finally:
        restore_loads(s)
    wait_until(lambda: both_weighted(s, "app1s"), 25, "app1s weighted on both again")


# ------------------------------------------------------------------ 7. SLA

def test_sla_unmet_reject_and_best_effort(s: LabSession):
    assert st_.outcome(s.lab, "app1r") == "ok" and st_.outcome(s.lab, "app1b") == "ok"
    n_events = len(st_.weight_events(s.lab, "app1r"))
    try:
        t0 = time.time()
        for wan in ("wan1", "wan2"):
            s.impair(wan, clear=True, delay=25)

        def rejected():
            ds = st_.decisions(s.lab, "app1r")
            assert st_.outcome(s.lab, "app1r", ds) == "rejected", st_.describe(ds)
            assert all(int(x["weight"]) == 0 for x in ds), st_.describe(ds)
            return ds
        wait_until(rejected, 5, "app1r rejected once the RTT exceeds 15 ms")
        print(f"  app1r rejected {time.time() - t0:.2f}s after +25 ms on both WANs")
        r = count_instances(s.lab, "c1", VIP["app1r"], 5, timeout=3, records=True)
        worst = max(t1 - t0_ for t0_, t1, *_ in r["records"])
        assert r["errors"] == {"refused": 5}, f"app1r should refuse (TCP RST): {r}"
        assert worst < 1.0, f"refusal took {worst:.2f}s (should be immediate)"
        evs = st_.weight_events(s.lab, "app1r")
        assert len(evs) > n_events, f"no weights event for app1r: {evs[-3:]}"
        print(f"  refused in {worst * 1000:.0f} ms; event: {evs[-1].get('detail')}")
        ds = st_.decisions(s.lab, "app1b")
        assert st_.outcome(s.lab, "app1b", ds) == "best_effort", st_.describe(ds)
        r = count_instances(s.lab, "c1", VIP["app1b"], 10)
        assert r["ok"] == 10, f"app1b should still serve: {r}"
    finally:
        for wan in ("wan1", "wan2"):
            s.impair(wan, clear=True)
    wait_until(lambda: st_.outcome(s.lab, "app1r") == "ok" or None, st_.hold_down_s(s.lab) + 10, "app1r back to ok")


# ------------------------------------------------------------------ 8. steady traffic

STEADY_S, STEADY_WARMUP_S, STEADY_MAX_PUBLICATIONS = 60.0, 10.0, 2


def test_steady_traffic_weights_settle(s: LabSession):
    fig4_weights_back(s)
    # Steady inputs: the earlier tests' impairments and loads are gone and app1 has not
    # republished for 3 s (paths re-converge from the SLA test's +25 ms).
    wait_until(lambda: st_.last_publication_age_s(s.lab, "app1") >= 3.0 or None, 30, "app1 quiet for 3 s",
               interval=0.5)
    series = Series(s.lab, "c1", VIP["app1"], interval_ms=50, duration=STEADY_S + 5).start()
    try:
        t_start = time.time()
        wait_until(lambda: len(series.records()) >= 5 or None, 10, "the steady series to start")
        wait_until(lambda: time.time() - t_start >= STEADY_S or None, STEADY_S + 10, "60 s of steady traffic",
                   interval=1.0)
        recs = series.records()
        errs = [x for x in recs if x["error"]]
        assert not errs, f"steady connections failed: {errs[:5]}"
        evs = [e for e in st_.weight_events(s.lab, "app1")
               if t_start + STEADY_WARMUP_S <= float(e.get("ts_ms") or 0) / 1000.0 <= t_start + STEADY_S]
        print(f"  {len(recs)} connections in {STEADY_S:g} s; app1 publications after the first "
              f"{STEADY_WARMUP_S:g} s: {len(evs)}" + "".join(f"\n    {e.get('detail')}" for e in evs))
        assert len(evs) <= STEADY_MAX_PUBLICATIONS, \
            f"{len(evs)} publications under steady traffic (at most {STEADY_MAX_PUBLICATIONS})"
    finally:
        series.stop()


if __name__ == "__main__":
    sys.exit(main([
        test_fig4_prefers_cloud2,
        test_load_shift_keeps_long_lived,
        test_wan1_blackhole_stream_moves_to_wan2,
        test_vcpe_down_resteers,
        test_cpe_restart_keeps_flows_and_ruleset,
        test_hand_edit_inside_table_repaired,
        test_sticky_client_keeps_instance_until_timeout,
        test_sla_unmet_reject_and_best_effort,
        test_steady_traffic_weights_settle,
    ], scenario="fig4", daemons=True, services=True, setup=setup))
