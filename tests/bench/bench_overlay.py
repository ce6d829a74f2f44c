#!/usr/bin/python3
"""Benchmark (issue: WireGuard tunnels): the overlay built by the real cats-cpe / cats-vcpe
daemons in the fig4 lab. Prints figures; it is not a pass/fail test.

1. Start-up: SIGTERM all three daemons (they remove their tunnels), start the two vCPEs and
   then the CPE (as `cats-lab up` does) and poll `catsctl status --json` on the CPE every
   20 ms until every (tunnel, peer) has a last_handshake. N trials; median / p95 / max, and
   a breakdown of the CPE's side from its log and the handshake timestamps.
2. Throughput: iperf3 TCP from branch client c1 (10.1.0.11) to an iperf3 server in
   app-cloud1, through
     A  "managed": the daemon-managed tunnel cats-wan1 -> cats-c1-wan1 (dst 10.2.1.10;
        c1's traffic to the cloud takes cats-wan1 by the daemon's fallback rule), and
     B  "hand": a wireguard-go pair configured by hand with `wg set`, wg-bench-c in the CPE
        -> wg-bench-v in cloud1 (dst 10.99.1.10, a second address of the same app
        interface; the CPE routes 10.99.1.0/24 into wg-bench-c, cloud1 routes replies from
        10.99.1.0/24 back into wg-bench-v by a source rule, pref 9199).
   Both cross exactly the same hops: c1 -> CPE (lan0, forward) -> wireguard-go in the CPE
   -> wan1 (outer UDP 192.0.2.2 -> 203.0.113.2, the same default via wan1) -> isp1 (its
   cats-impair NFQUEUE, delay 0) -> inet -> cloud1 up0 -> wireguard-go in cloud1 -> lan0 ->
   app-cloud1; same wireguard-go binary, MTU 1420, txqueuelen, same server process. The
   impairer counters of wan1/wan2 and the tunnels' byte counters are checked for every run.
   Cases are interleaved (A B, then B A, ...) over several rounds; medians are reported
   with the ratio managed/hand (goal >= 0.95).

Run (root): python3 tests/bench/bench_overlay.py [--trials 10] [--rounds 3] [--time 5]
            [--parallel 1,4]     (CATS_BUILD_DIR, default <repo>/build)
The lab is a singleton: the program waits (up to --wait s) until no cats-* namespace
exists, and always tears its lab (and the hand pair) down.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lab"))
from labtest import LabSession  # noqa: E402
from catslab.common import WG_SOCK_DIR, list_lab_namespaces, ns_name  # noqa: E402

CPE, VCPES, DAEMONS = "cpe", ["cloud1", "cloud2"], ["cpe", "cloud1", "cloud2"]
CLIENT, SERVER_NODE = "c1", "app-cloud1"
MANAGED_DST = "10.2.1.10"
HAND_DST = "10.99.1.10"
IPERF_PORT = 5299
POLL = 0.020

# Hand-configured pair (names unique on the host: the UAPI socket dir is shared).
HAND_C, HAND_V = "wg-bench-c", "wg-bench-v"
HAND_PORT_C, HAND_PORT_V = 51899, 51898
HAND_TABLE, HAND_PREF = 299, 9199
MTU = 1420


def sh(node: str, *cmd: str, check: bool = True, timeout: float = 30, input: str | None = None,
       new_session: bool = False):
    cp = subprocess.run(["ip", "netns", "exec", ns_name(node), *cmd], input=input, text=True,
                        capture_output=True, timeout=timeout, start_new_session=new_session)
    if check and cp.returncode:
        raise RuntimeError(f"in {node}: {shlex.join(cmd)} -> {cp.returncode}: {(cp.stderr or cp.stdout).strip()}")
    return cp


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (for n=10, p95 is the maximum)."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_lab_free(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    first = True
    while True:
        busy = list_lab_namespaces() + (["/run/cats-lab/state.json"] if Path("/run/cats-lab/state.json").exists() else [])
        if not busy:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"lab still in use after {timeout:.0f}s ({', '.join(busy)}); not touching it")
        if first:
            print(f"another lab is up ({', '.join(busy)}); waiting up to {timeout:.0f}s", flush=True)
            first = False
        time.sleep(1.0)


# ----------------------------------------------------------------------------- start-up

def log_events(path: Path, since: float) -> list[tuple[float, str]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            ts, rest = line.split(" ", 1)
            t = float(ts)
        except ValueError:
            continue
        if t >= since:
            out.append((t, rest))
    return out


def cpe_paths(st: dict) -> tuple[int, list[float]]:
    """(expected paths, handshake timestamps of the paths that have one)."""
    n, hs = 0, []
    for t in st["tunnels"]:
        for p in t["peers"]:
            n += 1
            if t["up"] and p["last_handshake"] is not None:
                hs.append(p["last_handshake"])
    return n, hs


def startup_trial(s: LabSession, expected: int) -> dict:
    for node in DAEMONS:
        code = s.lab.stop_daemon(node)
        if code != 0:
            raise RuntimeError(f"{node} exited {code} on SIGTERM")
    tunnels = s.lab.state()["tunnels"]
    deadline = time.monotonic() + 5
    while any((WG_SOCK_DIR / f"{t}.sock").exists() for t in tunnels):  # wireguard-go gone
        if time.monotonic() > deadline:
            raise RuntimeError("tunnels still present 5 s after SIGTERM")
        time.sleep(0.01)
    cpe_log = Path(s.lab.state()["daemon_configs"][CPE]["state_dir"]) / "daemon.log"

    t0, w0 = time.monotonic(), time.time()
    for v in VCPES:
        s.lab.start_daemon(v)                # returns once its control socket exists (50 ms poll)
    # The CPE is started in a thread: start_daemon() blocks until the control socket
    # exists (polled at 50 ms), while we poll the status every 20 ms from the spawn on.
    err: list[BaseException] = []

    def start_cpe():
        try:
            s.lab.start_daemon(CPE)
        except BaseException as e:  # noqa: BLE001 - reported below
            err.append(e)

    starter = threading.Thread(target=start_cpe)
    t_cpe, w_cpe = time.monotonic(), time.time()
    starter.start()
    while True:
        if err:
            raise RuntimeError(f"starting the CPE: {err[0]}")
        try:
            n, hs = cpe_paths(s.lab.status_json(CPE))
        except Exception:                    # socket there but not answering yet
            n, hs = 0, []
        if n == expected and len(hs) == expected:
            t_seen = time.monotonic()
            break
        if time.monotonic() - t_cpe > 30:
            raise RuntimeError(f"no handshake on every path 30 s after the CPE start ({len(hs)}/{expected})")
        time.sleep(POLL)
    starter.join(30)
    if err:
        raise RuntimeError(f"starting the CPE: {err[0]}")

    vcpe_ready = []
    for v in VCPES:
        vlog = Path(s.lab.state()["daemon_configs"][v]["state_dir"]) / "daemon.log"
        vev = log_events(vlog, w0 - 0.001)
        vcpe_ready.append(next((t for t, m in vev if "] ready;" in m), math.nan) - vev[0][0] if vev else math.nan)
    ev = log_events(cpe_log, w_cpe - 0.001)
    first_log = ev[0][0] if ev else math.nan
    wg_up = [t for t, m in ev if "wireguard-go started" in m]
    ready = next((t for t, m in ev if "] ready;" in m), math.nan)
    return {
        "total": t_seen - t0,                      # first vCPE spawn -> all handshakes seen
        "from_cpe": t_seen - t_cpe,                # CPE spawn -> all handshakes seen
        "vcpes": t_cpe - t0,                       # both vCPEs spawned, control sockets up
        "cpe_first_log": first_log - w_cpe,        # exec, config, keys
        "cpe_wg_started": (max(wg_up) - w_cpe) if len(wg_up) == 2 else math.nan,
        "cpe_wg_go": (max(wg_up) - first_log) if len(wg_up) == 2 else math.nan,
        "cpe_ready": ready - w_cpe,
        "hs_first": min(hs) - w_cpe,
        "total_hs": max(hs) - w0,                  # first vCPE spawn -> last handshake (timestamps)
        "hs_all": max(hs) - w_cpe,
        "hs_after_wg": (max(hs) - max(wg_up)) if len(wg_up) == 2 else math.nan,
        "vcpe_log_ready": max(vcpe_ready),         # a vCPE's first log line -> ready (4 x wireguard-go...)
    }


def bench_startup(s: LabSession, trials: int) -> dict:
    sc = s.scenario
    expected = len(sc.cpe.wans) * len(sc.vcpes)
    print(f"\n== start-up: daemon start -> handshake on all {expected} CPE paths, {trials} trials "
          f"(poll {POLL * 1000:.0f} ms)", flush=True)
    rows = []
    for i in range(trials):
        r = startup_trial(s, expected)
        rows.append(r)
        print(f"  trial {i + 1:2d}: total {r['total'] * 1000:6.0f} ms  (vCPEs {r['vcpes'] * 1000:4.0f}, "
              f"CPE spawn -> seen {r['from_cpe'] * 1000:4.0f}: wireguard-go x2 up at {r['cpe_wg_started'] * 1000:3.0f}, "
              f"ready {r['cpe_ready'] * 1000:3.0f}, all handshakes {r['hs_all'] * 1000:3.0f})", flush=True)
    out = {}
    for k in rows[0]:
        xs = [r[k] * 1000 for r in rows if not math.isnan(r[k])]
        if xs:
            out[k] = {"median": statistics.median(xs), "p95": pct(xs, 95), "max": max(xs), "min": min(xs)}
    return out


# ----------------------------------------------------------------------------- throughput

class HandPair:
    """wireguard-go pair configured by hand, CPE <-> cloud1, over wan1 like cats-wan1."""

    def __init__(self):
        self.done: list[tuple[str, list[str]]] = []   # undo steps (node, argv), run in reverse

    def _do(self, node: str, cmd: list[str], undo: list[str] | None = None, input: str | None = None):
        sh(node, *cmd, input=input)
        if undo:
            self.done.append((node, undo))

    def up(self) -> None:
        kc = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
        kv = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
        pub = lambda k: subprocess.run(["wg", "pubkey"], input=k, capture_output=True, text=True, check=True).stdout.strip()
        for name in (HAND_C, HAND_V):
            if (WG_SOCK_DIR / f"{name}.sock").exists():
                raise RuntimeError(f"{WG_SOCK_DIR}/{name}.sock exists: another {name} is running")
        # As the daemon does: wireguard-go daemonizes itself; no inherited foreground/log env.
        # Each in a session of its own, as the managed ones (their daemon's session): with
        # sched_autogroup the CPU is shared per session, and in ours they would compete
        # with the iperf3 client and server for one share -- a bias against the hand pair.
        for node, name in (("cpe", HAND_C), ("cloud1", HAND_V)):
            self.done.append((node, ["ip", "link", "del", name]))
            sh(node, "env", "-u", "WG_PROCESS_FOREGROUND", "-u", "LOG_LEVEL", "wireguard-go", name,
               new_session=True)
        self._do("cpe", ["wg", "set", HAND_C, "listen-port", str(HAND_PORT_C), "private-key", "/dev/stdin",
                         "peer", pub(kv), "endpoint", f"203.0.113.2:{HAND_PORT_V}", "persistent-keepalive", "5",
                         "allowed-ips", "10.99.1.0/24,10.99.0.2/32"], input=kc)
        self._do("cloud1", ["wg", "set", HAND_V, "listen-port", str(HAND_PORT_V), "private-key", "/dev/stdin",
                            "peer", pub(kc), "endpoint", f"192.0.2.2:{HAND_PORT_C}",
                            "allowed-ips", "10.1.0.0/24,10.99.0.1/32"], input=kv)
        for node, name, addr in (("cpe", HAND_C, "10.99.0.1/32"), ("cloud1", HAND_V, "10.99.0.2/32")):
            self._do(node, ["ip", "addr", "add", addr, "dev", name])
            self._do(node, ["ip", "link", "set", name, "mtu", str(MTU), "up"])
        # CPE: 10.99.1.0/24 into the hand tunnel (the daemon's tables only hold 10.2.x).
        self._do("cpe", ["ip", "route", "add", "10.99.1.0/24", "dev", HAND_C, "table", str(HAND_TABLE)],
                 ["ip", "route", "flush", "table", str(HAND_TABLE)])
        self._do("cpe", ["ip", "rule", "add", "to", "10.99.1.0/24", "lookup", str(HAND_TABLE), "pref", str(HAND_PREF)],
                 ["ip", "rule", "del", "pref", str(HAND_PREF)])
        # cloud1: replies from the app's second address go back into the hand tunnel.
        self._do("cloud1", ["ip", "route", "add", "10.1.0.0/24", "dev", HAND_V, "table", str(HAND_TABLE)],
                 ["ip", "route", "flush", "table", str(HAND_TABLE)])
        self._do("cloud1", ["ip", "rule", "add", "from", "10.99.1.0/24", "lookup", str(HAND_TABLE), "pref", str(HAND_PREF)],
                 ["ip", "rule", "del", "pref", str(HAND_PREF)])
        self._do("cloud1", ["ip", "addr", "add", "10.99.1.1/24", "dev", "lan0"],
                 ["ip", "addr", "del", "10.99.1.1/24", "dev", "lan0"])
        self._do(SERVER_NODE, ["ip", "addr", "add", f"{HAND_DST}/24", "dev", "eth0"],
                 ["ip", "addr", "del", f"{HAND_DST}/24", "dev", "eth0"])
        for node, name in (("cpe", HAND_C), ("cloud1", HAND_V)):
            a = sh(node, "ip", "-j", "link", "show", name).stdout
            b = sh(node, "ip", "-j", "link", "show", "cats-wan1" if node == "cpe" else "cats-c1-wan1").stdout
            ja, jb = json.loads(a)[0], json.loads(b)[0]
            if (ja["mtu"], ja.get("txqlen"), ja.get("qdisc")) != (jb["mtu"], jb.get("txqlen"), jb.get("qdisc")):
                raise RuntimeError(f"{name} differs from the managed tunnel: {ja} vs {jb}")

    def down(self) -> list[str]:
        problems = []
        for node, cmd in reversed(self.done):
            try:
                sh(node, *cmd, check=False, timeout=10)
            except Exception as e:  # the namespace may already be gone
                problems.append(f"{node}: {shlex.join(cmd)}: {e}")
        self.done.clear()
        # wireguard-go exits when its TUN is deleted and unlinks its socket; make sure.
        deadline = time.monotonic() + 3
        for name in (HAND_C, HAND_V):
            sock = WG_SOCK_DIR / f"{name}.sock"
            while sock.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in _pids_of(f"wireguard-go\0{name}\0"):
                os.kill(pid, signal.SIGKILL)
            if sock.exists():
                sock.unlink()
        return problems


def _pids_of(cmdline: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_text() == cmdline:
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def link_bytes(node: str, ifname: str) -> int:
    j = json.loads(sh(node, "ip", "-s", "-j", "link", "show", ifname).stdout)[0]
    return j["stats64"]["tx"]["bytes"]


def iperf(s: LabSession, dst: str, seconds: int, parallel: int, tunnel: str) -> dict:
    for link in ("wan1", "wan2"):
        s.impair_reset_stats(link)
    tx0 = link_bytes("cpe", tunnel)
    cp = sh(CLIENT, "iperf3", "-c", dst, "-p", str(IPERF_PORT), "-t", str(seconds), "-O", "1",
            "-P", str(parallel), "-J", timeout=seconds + 30, check=False)
    try:
        j = json.loads(cp.stdout)
    except ValueError:
        raise RuntimeError(f"iperf3 to {dst}: exit {cp.returncode}: {cp.stderr.strip()}")
    if "error" in j:
        raise RuntimeError(f"iperf3 to {dst}: {j['error']}")
    e = j["end"]
    rx_bytes = e["sum_received"]["bytes"]
    tunnel_tx = link_bytes("cpe", tunnel) - tx0
    w1, w2 = s.impair_stats("wan1"), s.impair_stats("wan2")
    # Path check: the data went into the expected tunnel and its outer packets crossed isp1.
    if tunnel_tx < rx_bytes or w1["received_bytes"] < rx_bytes or w2["received_bytes"] > rx_bytes // 100:
        raise RuntimeError(f"iperf3 to {dst} did not take {tunnel} over wan1: payload {rx_bytes} B, "
                           f"{tunnel} tx {tunnel_tx} B, isp1 {w1['received_bytes']} B, isp2 {w2['received_bytes']} B")
    return {"mbit": e["sum_received"]["bits_per_second"] / 1e6,
            "retr": e["sum_sent"].get("retransmits", 0),
            "cpu_client": e["cpu_utilization_percent"]["host_total"],
            "cpu_server": e["cpu_utilization_percent"]["remote_total"]}


def bench_throughput(s: LabSession, rounds: int, seconds: int, parallels: list[int]) -> dict:
    print(f"\n== throughput: iperf3 TCP c1 -> app-cloud1, {seconds} s (+1 s omitted), "
          f"-P {','.join(map(str, parallels))}, {rounds} interleaved rounds", flush=True)
    cases = {"managed": (MANAGED_DST, "cats-wan1"), "hand": (HAND_DST, HAND_C)}
    server = subprocess.Popen(["ip", "netns", "exec", ns_name(SERVER_NODE), "iperf3", "-s", "-p", str(IPERF_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hand = HandPair()
    res = {p: {c: [] for c in cases} for p in parallels}
    try:
        hand.up()
        # Both tunnels handshaken and the server listening before the first measurement.
        deadline = time.monotonic() + 15
        while True:
            ok = all(s.ping(CLIENT, d, count=1, timeout=0.5)["received"] == 1 for d in (MANAGED_DST, HAND_DST))
            probe = sh(CLIENT, "iperf3", "-c", MANAGED_DST, "-p", str(IPERF_PORT), "-t", "1", "-J",
                       check=False, timeout=20) if ok else None
            if ok and probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("hand pair or iperf3 server not reachable from c1 within 15 s")
            time.sleep(0.2)
        for r in range(rounds):
            order = list(cases) if r % 2 == 0 else list(reversed(cases))
            for p in parallels:
                for c in order:
                    x = iperf(s, cases[c][0], seconds, p, cases[c][1])
                    res[p][c].append(x)
                    print(f"  round {r + 1} -P {p} {c:7s}: {x['mbit']:7.1f} Mbit/s  retr {x['retr']:6d}  "
                          f"load {loadavg()}", flush=True)
    finally:
        problems = hand.down()
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
        if problems:
            print("hand pair cleanup problems: " + "; ".join(problems), file=sys.stderr)
    out = {}
    for p in parallels:
        m = [x["mbit"] for x in res[p]["managed"]]
        h = [x["mbit"] for x in res[p]["hand"]]
        out[p] = {"managed": statistics.median(m), "hand": statistics.median(h),
                  "ratio": statistics.median(m) / statistics.median(h),
                  "paired_ratio": statistics.median(a / b for a, b in zip(m, h)),
                  "managed_all": m, "hand_all": h,
                  "retr_managed": statistics.median(x["retr"] for x in res[p]["managed"]),
                  "retr_hand": statistics.median(x["retr"] for x in res[p]["hand"])}
    return out


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10, help="start-up trials (default 10)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved throughput rounds (default 4)")
    ap.add_argument("--time", type=int, default=5, help="iperf3 seconds per run (default 5)")
    ap.add_argument("--parallel", default="1,4", help="iperf3 -P values (default 1,4)")
    ap.add_argument("--wait", type=float, default=300, help="seconds to wait for another lab to go (default 300)")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("the overlay benchmark needs root (network namespaces)", file=sys.stderr)
        return 77
    parallels = [int(x) for x in a.parallel.split(",") if x]
    cmd = "python3 " + shlex.join([os.path.relpath(__file__, REPO), *sys.argv[1:]])
    wg_go = subprocess.run(["wireguard-go", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"bench_overlay: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, "
          f"kernel {platform.release()}, {wg_go}, load {loadavg()}", flush=True)
    wait_lab_free(a.wait)
    t_start = time.monotonic()
    su = tp = None
    with LabSession("fig4", daemons=True, verbose=False) as s:
        if not a.skip_startup:
            su = bench_startup(s, a.trials)
        if not a.skip_throughput:
            tp = bench_throughput(s, a.rounds, a.time, parallels)

    print(f"\n== summary ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, load {loadavg()}, "
          f"{time.monotonic() - t_start:.0f} s)")
    if su:
        print(f"start-up, ms ({a.trials} trials)                       median     p95     max")
        for k, label in (("total", "first vCPE spawn -> all 4 handshakes seen"),
                         ("total_hs", "first vCPE spawn -> last handshake (ts)"),
                         ("vcpes", "  2 vCPEs spawned, sockets seen (50ms poll)"),
                         ("vcpe_log_ready", "  slower vCPE: first log -> ready"),
                         ("from_cpe", "CPE spawn -> all 4 handshakes seen"),
                         ("cpe_first_log", "  CPE spawn -> first log line"),
                         ("cpe_wg_go", "  CPE: first log -> 2 x wireguard-go up"),
                         ("hs_after_wg", "  2nd wireguard-go up -> last handshake"),
                         ("hs_all", "  CPE spawn -> last handshake (ts)"),
                         ("cpe_ready", "  CPE spawn -> 'ready' logged")):
            if k in su:
                v = su[k]
                print(f"  {label:42s} {v['median']:7.0f} {v['p95']:7.0f} {v['max']:7.0f}")
    if tp:
        print(f"throughput, Mbit/s (median of {a.rounds})   managed     hand   ratio  (paired)")
        for p, v in tp.items():
            goal = "ok" if v["ratio"] >= 0.95 else "BELOW goal 0.95"
            print(f"  iperf3 TCP -P {p:<2d}  {a.time} s               {v['managed']:7.0f}  {v['hand']:7.0f}  "
                  f"{v['ratio']:5.2f}  ({v['paired_ratio']:4.2f})  {goal}")
    print(f"command: sudo {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
