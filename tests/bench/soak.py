#!/usr/bin/env python3
"""Soak under faults (issue 14; docs/BENCHMARKS.md "Soak"): the fig4 lab with the real
daemons for a chosen duration. Clients open and close connections continuously through
every app VIP, a few long flows stay open, and every few seconds one random fault is
injected, held, then removed:

  wan_blackhole   a WAN drops everything (impairer loss 100 %) for 2 s
  wan_loss        a WAN loses 20 % for 3 s
  overload        an instance's app at 95 % load for 5 s
  vcpe_restart    a vCPE stopped (SIGTERM: its tunnels go) and started again
  vcpe_inplace    a vCPE restarted in place (SIGUSR2)
  cpe_kill9       cats-cpe killed (SIGKILL) and started again: it adopts the kernel state
  cpe_inplace     cats-cpe restarted in place (SIGUSR2)
  garbage         garbage datagrams on the CPE's report port, from inside a tunnel
  nft_rule_del    one rule of `table inet cats` deleted behind the daemon's back

After each fault it waits (deadline 30 s) until the lab has converged: every path up,
every instance available, and the steering table's rules (not its weights) as before the
fault. What it reports (JSON with --json, and a summary):
  * connections attempted and failed, by cause, split into inside a fault's window (from
    its start to convergence + 1 s) and outside any;
  * long flows lost, each with the fault in force and whether that fault touched its
    candidate (its vCPE or WAN): a flow lost to a fault that did not touch it is a defect;
  * weight publications, and RSS and fd count of every daemon (after warm-up, at the end);
  * every fault with its time to converge, or the problem when it did not.

Not a CI test: a benchmark with figures. Run under the lab lock, e.g.
  flock /tmp/cats-lab.lock python3 tests/bench/soak.py --duration 1800 --json soak.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from labtest import LabSession, wait_until  # noqa: E402
from catslab.clients import Series, Stream  # noqa: E402
from catslab import steering as st_  # noqa: E402
from catslab import LabError  # noqa: E402

APPS = ["app1", "app1s", "app1r"]  # fig4's app services (bulk is iperf3)
CLIENTS = {"c1": "10.1.0.11", "c2": "10.1.0.12", "c3": "10.1.0.13"}
VCPES = ["cloud1", "cloud2"]
WANS = ["wan1", "wan2"]
LOAD = {"cloud1": 0.5, "cloud2": 0.2}  # fig4.toml's background loads
DAEMONS = ["cpe", "cloud1", "cloud2"]
CONVERGE_S = 30.0
GRACE_S = 1.0


def proc_figures(pid: int) -> dict:
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"rss_kib": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def daemon_figures(s: LabSession) -> dict:
    out = {}
    for node in DAEMONS:
        try:
            out[node] = proc_figures(s.lab.daemon_entry(node)["pid"])
        except (OSError, KeyError, AssertionError):
            out[node] = None
    return out


def table_rules(s: LabSession) -> str:
    """table inet cats without its map elements and counters: its structure."""
    nft = st_.ruleset(s.lab)["nft"]
    return re.sub(r"\s*elements = \{[^}]*\}", "", nft, flags=re.S)


def converged(s: LabSession, rules: str):
    paths = st_.ctl_json(s.lab, "paths")
    down = [f"{p['wan']}/{p['vcpe']}={p['state']}" for p in paths if p["state"] != "up"]
    if down:
        return False
    if any(not i["available"] for i in st_.ctl_json(s.lab, "instances")):
        return False
    return table_rules(s) == rules


def log_count(s: LabSession, node: str, needle: str) -> int:
    return Path(s.lab.daemon_entry(node)["log"]).read_text(errors="replace").count(needle)


def inplace(s: LabSession, node: str) -> None:
    ready = log_count(s, node, "ready;")
    os.kill(s.lab.daemon_entry(node)["pid"], signal.SIGUSR2)
    wait_until(lambda: log_count(s, node, "ready;") > ready, 20, f"{node} ready after SIGUSR2")


def garbage(s: LabSession) -> None:
    info = s.lab.state()["daemon_configs"]["cloud1"]
    forge = str(s.lab.build_dir / "tests" / "lab" / "cats-report-forge")
    s.exec("cloud1", forge, "--mode", "garbage", "--vcpe", "cloud1", "--key", f"{info['state_dir']}/report.key",
           "--to", "10.1.0.1:8620", "--from", "10.2.1.1", "--dev", "cats-c1-wan1", "--instance", "soak")


def nft_rule_del(s: LabSession) -> None:
    js = json.loads(s.exec("cpe", "nft", "-j", "-a", "list", "table", "inet", "cats").stdout)
    rules = [x["rule"] for x in js["nftables"] if "rule" in x]
    r = rules[len(rules) // 2]
    s.exec("cpe", "nft", "delete", "rule", "inet", "cats", r["chain"], "handle", str(r["handle"]))


# fault(name, s, rng) applies one fault and returns (touched, hold, undo): touched is the
# set of "vcpe:X"/"wan:X" it affects, hold the seconds to keep it, undo a callable or None.
def fault(name: str, s: LabSession, rng: random.Random):
    if name in ("wan_blackhole", "wan_loss"):
        wan = rng.choice(WANS)
        s.impair(wan, clear=True, loss=100 if name == "wan_blackhole" else 20)
        hold = 2.0 if name == "wan_blackhole" else 3.0
        return {f"wan:{wan}"}, hold, lambda: s.impair(wan, clear=True)
    if name == "overload":
        v = rng.choice(VCPES)
        s.lab.set_app_load(v, 0.95)
        return set(), 5.0, lambda: s.lab.set_app_load(v, LOAD[v])
    if name == "vcpe_restart":
        v = rng.choice(VCPES)
        s.lab.stop_daemon(v)
        return {f"vcpe:{v}"}, 0.5, lambda: s.lab.start_daemon(v)
    if name == "vcpe_inplace":
        inplace(s, rng.choice(VCPES))
        return set(), 0.0, None
    if name == "cpe_kill9":
        s.lab.kill_daemon("cpe")
        s.lab.start_daemon("cpe")
        return set(), 0.0, None
    if name == "cpe_inplace":
        inplace(s, "cpe")
        return set(), 0.0, None
    if name == "garbage":
        garbage(s)
        return set(), 0.0, None
    if name == "nft_rule_del":
        nft_rule_del(s)
        return set(), 0.0, None
    raise ValueError(name)


FAULTS = ["wan_blackhole", "wan_loss", "overload", "vcpe_restart", "vcpe_inplace", "cpe_kill9", "cpe_inplace",
          "garbage", "nft_rule_del"]


def open_long_flow(s: LabSession, k: int) -> dict:
    """A keep-alive connection through app1's VIP, a request every 200 ms; where it was
    steered (its vCPE from the instance that answers, its WAN from its conntrack mark)."""
    client = list(CLIENTS)[k % len(CLIENTS)]
    st = Stream(s.lab, client, "10.255.0.1:80", interval_ms=200, timeout=10).start()
    try:
        first = st.wait_replies(1, 10)[0]
        ct = st_.flow_of(s.lab, CLIENTS[client], st.connects()[0]["port"])
    except BaseException:
        st.stop()
        raise
    return {"stream": st, "client": client, "vcpe": first["instance"].rsplit("-", 1)[-1],
            "wan": st_.wan_name(s.lab, ct["wan_index"])}


def run(a) -> dict:
    rng = random.Random(a.seed)
    out: dict = {"duration_s": a.duration, "fault_every_s": a.fault_every, "seed": a.seed, "faults": []}
    with LabSession("fig4", daemons=True, build_dir=a.build_dir, verbose=False) as s:
        wait_until(lambda: converged(s, table_rules(s)), 60, "the lab converged before the soak")
        rules = table_rules(s)
        series = [Series(s.lab, c, f"10.255.0.{1 + APPS.index(svc)}:80", interval_ms=a.interval_ms, timeout=3,
                         duration=a.duration + 120).start()
                  for c in CLIENTS for svc in APPS]
        flows = [open_long_flow(s, k) for k in range(a.long_flows)]
        lost: list[dict] = []
        pubs0 = {sv: len(st_.weight_events(s.lab, sv)) for sv in APPS}
        t_start = time.monotonic()
        warm = None
        windows: list[tuple[float, float]] = []
        try:
            while time.monotonic() - t_start < a.duration:
                if warm is None and time.monotonic() - t_start >= a.warmup:
                    warm = daemon_figures(s)
                time.sleep(max(0.0, a.fault_every * (0.5 + rng.random())))
                name = rng.choice(FAULTS)
                t0 = time.monotonic()
                rec = {"fault": name, "t": round(t0 - t_start, 3)}
                try:
                    touched, hold, undo = fault(name, s, rng)
                    rec["touched"] = sorted(touched)
                    time.sleep(hold)
                    if undo:
                        undo()
                    wait_until(lambda: converged(s, rules), CONVERGE_S, f"convergence after {name}")
                    rec["converged_s"] = round(time.monotonic() - t0, 3)
                except (AssertionError, LabError) as e:
                    # A failed undo or lab command is this fault's problem, recorded like a
                    # convergence failure: the soak goes on and reports it.
                    rec["problem"] = f"{type(e).__name__}: {e}"[:500]
                    rules_now = table_rules(s)
                    if rules_now != rules:
                        rec["rules_diff"] = st_.diff_ruleset({"nft": rules}, {"nft": rules_now})[:2000]
                t1 = time.monotonic()
                windows.append((t0, t1 + GRACE_S))
                # A long flow that failed: by this fault (touched its vCPE or WAN, or not);
                # replaced by a new one, so a few are always open.
                for k, f in enumerate(flows):
                    if f["stream"].errors():
                        f["stream"].stop()
                        lost.append({"client": f["client"], "vcpe": f["vcpe"], "wan": f["wan"], "fault": name,
                                     "t": rec["t"], "touched": bool({f"vcpe:{f['vcpe']}", f"wan:{f['wan']}"}
                                                                    & set(rec.get("touched", [])))})
                        flows[k] = open_long_flow(s, k)
                out["faults"].append(rec)
                print(json.dumps(rec), flush=True)
        finally:
            end = daemon_figures(s)
            recs = [dict(r, node=se.node, target=se.target) for se in series for r in se.records()]
            for se in series:
                se.stop()
            for f in flows:
                f["stream"].stop()
        # A connection fails inside a fault's window when its life overlaps the window.
        inside = lambda r: any(r["t0"] <= a1 and r["t1"] >= a0 for a0, a1 in windows)  # noqa: E731
        conn = {"attempted": len(recs), "failed_in_fault_windows": {}, "failed_outside": {}, "outside": []}
        for r in recs:
            if r.get("error"):
                key = "failed_in_fault_windows" if inside(r) else "failed_outside"
                conn[key][r["error"]] = conn[key].get(r["error"], 0) + 1
                if key == "failed_outside":  # each one is a defect to explain: when, and what
                    conn["outside"].append({"t": round(r["t0"] - t_start, 3), "error": r["error"],
                                            "from": r["node"], "to": r["target"], "port": r.get("port")})
        out["connections"] = conn
        out["long_flows"] = {"open": len(flows), "lost": lost}
        out["weight_publications"] = {sv: len(st_.weight_events(s.lab, sv)) - pubs0[sv] for sv in APPS}
        out["daemons"] = {"after_warmup": warm, "end": end}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds of faults (default 1800)")
    ap.add_argument("--fault-every", type=float, default=6.0, help="mean seconds between faults (default 6)")
    ap.add_argument("--warmup", type=float, default=60.0, help="RSS/fd baseline after this many seconds")
    ap.add_argument("--interval-ms", type=float, default=100.0, help="pace of each client's new connections")
    ap.add_argument("--long-flows", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build-dir", default=os.environ.get("CATS_BUILD_DIR"))
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)", file=sys.stderr)
        return 77
    res = run(a)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    c = res["connections"]
    lost = res["long_flows"]["lost"]
    print(f"faults: {len(res['faults'])}, not converged: {sum('problem' in f for f in res['faults'])}")
    print(f"connections: {c['attempted']}, failed in fault windows: {c['failed_in_fault_windows']}, "
          f"outside: {c['failed_outside']}")
    print(f"long flows lost: {len(lost)}, {sum(not x['touched'] for x in lost)} of them on a path the fault "
          f"did not touch: {lost}")
    print(f"weight publications: {res['weight_publications']}")
    print(f"daemons after warm-up: {res['daemons']['after_warmup']}; at the end: {res['daemons']['end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
