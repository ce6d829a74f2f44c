#!/usr/bin/python3
"""Benchmark (prints figures, not pass/fail): resident memory of the real cats-cpe with
100 vCPEs x 10 instances of synthetic signed reports and a day of history (issue 9
"Benchmarks", goal < 100 MiB).

  sudo flock /tmp/cats-lab.lock python3 tests/bench/bench_rss.py [--vcpes 100] [--instances 10]
      [--services 40] [--wans 2] [--hours 24] [--seconds 120]

Two namespaces, cats-rss-cpe (the daemon: lan0, WANs wan0/wan1 (veths), wireguard-go
tunnels with one peer per vCPE) and cats-rss-gen (the vCPEs' inner addresses 10.2.<v>.1
on the other end of lan0, the WANs' gateways). The CPE steers at most 255 candidates
(instance x WAN) in all: 40 services x 3 instances x 2 WANs are configured; the other
reported instances are held and recorded like those (see steered()). bench_rss_feed (same build) signs each vCPE's
report with its Ed25519 key through the product's report encoder, once a second per
vCPE, and sends it from that vCPE's inner address to the collector (10.1.0.1:8620):
every report goes through the collector's whole validation (decode, peer address,
signature, replay, age) and the instance table, steering and the store as in service.
Only WireGuard is left out (the reports do not come through the tunnels: there is no
vCPE at the other end; the paths stay down, as probes get no answers).

The history database is filled before the start, through store::Store (the CPE's store
code), with `--hours` of path samples (WANs x vCPEs paths) and instance samples, at the
daemon's own rate and downsampling (bench_rss_feed.cpp says how). Then, while the
reports flow, a few history queries on the root socket: every path over the whole range
at 200 points, every instance at 100 points (the reply is capped at 10,000 buckets), one
service's instances at 500 points, the events of the day.

Figures from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/smaps_rollup (anonymous vs
file-backed), after the run; the same daemon with 1 vCPE x 1 instance, one service and
no history, in the same run, is the baseline. --keep-db DIR reuses a filled database.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from labtest import wait_until  # noqa: E402

NS, GEN = "cats-rss-cpe", "cats-rss-gen"
CPE_IP, PORT = "10.1.0.1", 8620
BUILD = Path(os.environ.get("CATS_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
FEED = BUILD / "tests" / "bench" / "bench_rss_feed"
CPE = BUILD / "cpe" / "cats-cpe"
MAX_CANDIDATES = 255


def sh(*argv, ns=None, check=True, **kw):
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def teardown():
    for n in (NS, GEN):
        sh("ip", "netns", "del", n, check=False)


def setup(vcpes: int, wans: int):
    teardown()
    for n in (NS, GEN):
        sh("ip", "netns", "add", n)
        sh("ip", "link", "set", "lo", "up", ns=n)
    sh("ip", "link", "add", "lan0", "netns", NS, "type", "veth", "peer", "name", "gen0", "netns", GEN)
    sh("ip", "addr", "add", f"{CPE_IP}/24", "dev", "lan0", ns=NS)
    sh("ip", "link", "set", "lan0", "up", ns=NS)
    # The reports' sources are the vCPEs' inner addresses, which the CPE routes into the
    # tunnels: no reverse-path check on lan0 here (they cannot come through the tunnels).
    for k in ("all", "default", "lan0"):
        sh("sysctl", "-qw", f"net.ipv4.conf.{k}.rp_filter=0", ns=NS)
    for w in range(wans):
        # The WANs end in the generator's namespace at their gateways' addresses (nothing
        # beyond: handshakes and probes towards the vCPEs' endpoints go nowhere).
        sh("ip", "link", "add", f"wan{w}", "netns", NS, "type", "veth", "peer", "name", f"up{w}", "netns", GEN)
        sh("ip", "addr", "add", f"192.0.{2 + w}.2/24", "dev", f"wan{w}", ns=NS)
        sh("ip", "link", "set", f"wan{w}", "up", ns=NS)
        sh("ip", "addr", "add", f"192.0.{2 + w}.1/24", "dev", f"up{w}", ns=GEN)
        sh("ip", "link", "set", f"up{w}", "up", ns=GEN)
    sh("ip", "route", "add", "default", "via", "192.0.2.1", ns=NS)
    sh("ip", "addr", "add", "10.1.0.2/24", "dev", "gen0", ns=GEN)
    for v in range(vcpes):
        sh("ip", "addr", "add", f"10.2.{v}.1/32", "dev", "gen0", ns=GEN)
    sh("ip", "link", "set", "gen0", "up", ns=GEN)


def steered(vcpes: int, k: int, services: int, wans: int) -> int:
    """Instances per service configured (steered) at the CPE: all that are reported, up to
    what the data plane allows, 255 candidates (instance x WAN) in all services (an 8-bit
    id in the packet mark, common/base/slice.hpp). The others are reported all the same:
    the collector, the instance table, the history and /metrics hold every one of them."""
    return min(vcpes * k // services, MAX_CANDIDATES // (services * wans))


def config(d: Path, vcpes: int, k: int, services: int, wans: int) -> Path:
    keys = sh(str(FEED), "keys", str(vcpes)).stdout.split("\n")
    L = ["[cpe]", 'name = "rss"', f'state_dir = "{d}/state"', f'control_socket = "{d}/control.sock"',
         'wireguard = "userspace"', "", "[lan]", 'interface = "lan0"', f'address = "{CPE_IP}"',
         'subnets = ["10.1.0.0/24"]']
    for w in range(wans):
        L += ["", "[[wan]]", f'name = "wan{w}"', f'interface = "wan{w}"', f'gateway = "192.0.{2 + w}.1"',
              f'tunnel_interface = "cats-rss-w{w}"']
    for v in range(vcpes):
        report_key, wg_key = keys[v].split()
        L += ["", "[[vcpe]]", f'name = "v{v}"', f'public_key = "{wg_key}"', f'report_key = "{report_key}"',
              f'endpoint = "203.0.113.{v + 1}"', f'address = "10.2.{v}.1"', f'subnets = ["10.2.{v}.0/24"]',
              "[vcpe.ports]"] + [f"wan{w} = 51820" for w in range(wans)]
    L += ["", "[management]", f'listen = ["{CPE_IP}:8443"]']
    groups = services // k
    for s in range(services):
        L += ["", "[[service]]", f'id = "s{s}"', f'vip = "10.255.{s // 250}.{s % 250 + 1}"', "ports = [80]"]
        g, j = divmod(s, k)
        for v in list(range(g, vcpes, groups))[:steered(vcpes, k, services, wans)]:
            L += ["[[service.instance]]", f'vcpe = "v{v}"', f'address = "10.2.{v}.{10 + j}:8080"']
    (d / "state").mkdir(mode=0o700, exist_ok=True)
    f = d / "cpe.toml"
    f.write_text("\n".join(L) + "\n")
    return f


def api(d: Path, path: str, timeout=60):
    cp = subprocess.run(["curl", "-sS", "--max-time", str(timeout), "--unix-socket", str(d / "control.sock"),
                         "-o", "-", "-w", "\n%{http_code} %{size_download} %{time_total}", f"http://cpe{path}"],
                        capture_output=True, text=True, timeout=timeout + 10)
    body, _, tail = cp.stdout.rpartition("\n")
    code, size, secs = tail.split()
    return int(code), body, int(size), float(secs)


def proc_kib(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
            out[k] = int(v.split()[0])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        k, _, v = line.partition(":")
        if k in ("Pss", "Private_Dirty", "Anonymous"):
            out["smaps_" + k] = int(v.split()[0])
    return out


def run(label: str, vcpes: int, k: int, services: int, wans: int, hours: int, seconds: int, keep_db: str | None):
    d = Path(tempfile.mkdtemp(prefix="cats-bench-rss-"))
    os.chmod(d, 0o700)
    daemon = feeder = None
    samples = []
    try:
        setup(vcpes, wans)
        cfg = config(d, vcpes, k, services, wans)
        db = d / "state" / "cats.db"
        fill_s = 0.0
        if hours:
            cached = Path(keep_db) / f"cats-{vcpes}x{k}x{services}x{wans}-{hours}h.db" if keep_db else None
            if cached and cached.exists():
                shutil.copy(cached, db)
            else:
                t0 = time.monotonic()
                cp = sh("nice", "-n", "19", str(FEED), "fill", str(db), str(wans), str(vcpes), str(k), str(services),
                        str(hours), timeout=3600)
                fill_s = time.monotonic() - t0
                print(f"  [{label}] history filled in {fill_s:.0f} s: {cp.stdout.strip()}", flush=True)
                if cached:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(db, cached)
        db_mib = sum(p.stat().st_size for p in db.parent.glob("cats.db*")) / 2**20 if db.exists() else 0.0
        log = open(d / "cpe.log", "w")
        t_start = time.monotonic()
        daemon = subprocess.Popen(["ip", "netns", "exec", NS, str(CPE), "--config", str(cfg)], stdout=log,
                                  stderr=subprocess.STDOUT)
        def up():
            if daemon.poll() is not None:
                raise RuntimeError(f"cats-cpe exited with {daemon.returncode} at its start")
            return api(d, "/api/v1/status", 5)[0] == 200 if (d / "control.sock").exists() else None
        wait_until(up, 120, "the control socket answering")
        start_s = time.monotonic() - t_start
        pid = daemon.pid  # ip netns exec execs the daemon: same pid
        feeder = subprocess.Popen(["ip", "netns", "exec", GEN, str(FEED), "feed", str(vcpes), str(k), str(services),
                                   CPE_IP, str(PORT), str(seconds + 60)], stdout=subprocess.PIPE, text=True)
        t0 = time.monotonic()

        def available():
            c, body, _, _ = api(d, "/api/v1/instances", 10)
            n = sum(1 for i in json.loads(body) if i.get("available")) if c == 200 else 0
            return n if n == vcpes * k else None
        wait_until(available, 30, f"{vcpes * k} instances available")
        ready_s = time.monotonic() - t0
        stop = threading.Event()

        def sample():
            while not stop.wait(1.0):
                samples.append(proc_kib(pid)["VmRSS"])
        th = threading.Thread(target=sample)
        th.start()
        queries = []
        deadline = t0 + seconds
        now_ms = int(time.time() * 1000)
        day = f"from={now_ms - max(hours, 1) * 3600_000}&to={now_ms}"
        rounds = 0
        time.sleep(10)  # the reports flowing, before any history query
        rss_before_q = proc_kib(pid)["VmRSS"]
        rss_after_q = 0
        while time.monotonic() < deadline - 20 or rounds == 0:
            for q in (f"/api/v1/paths?history=1&{day}&points=200", f"/api/v1/instances?history=1&{day}&points=100",
                      f"/api/v1/instances?history=1&service=s0&{day}&points=500",
                      f"/api/v1/events?{day}&limit=1000", "/metrics", "/api/v1/decisions"):
                c, body, size, secs = api(d, q)
                if c != 200:
                    raise SystemExit(f"{q}: {c} {body[:200]}")
                if rounds == 0:
                    queries.append((q, size, secs))
            rounds += 1
            if rounds == 1:
                rss_after_q = proc_kib(pid)["VmRSS"]
            time.sleep(10)
        time.sleep(max(0.0, deadline - time.monotonic()))
        stop.set()
        th.join()
        fig = proc_kib(pid)
        c, body, _, _ = api(d, "/api/v1/reports")
        reports = json.loads(body) if c == 200 else {}
        alive = daemon.poll() is None
        return {"label": label, "fig": fig, "samples": samples, "db_mib": db_mib, "ready_s": ready_s, "rounds": rounds,
                "queries": queries, "reports": reports, "alive": alive, "fill_s": fill_s,
                "rss_before_q": rss_before_q, "rss_after_q": rss_after_q,
                "start_s": start_s}
    except BaseException:
        log_file = d / "cpe.log"
        if log_file.exists():
            print(f"  [{label}] the daemon's log, last lines:\n" + "\n".join(log_file.read_text().splitlines()[-30:]))
        raise
    finally:
        if feeder and feeder.poll() is None:
            feeder.send_signal(signal.SIGTERM)
            feeder.wait(10)
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)
        teardown()
        shutil.rmtree(d, ignore_errors=True)


def mib(kib: float) -> str:
    return f"{kib / 1024:6.1f} MiB"


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (network namespaces)")
        return 77
    ap = argparse.ArgumentParser()
    ap.add_argument("--vcpes", type=int, default=100)
    ap.add_argument("--instances", type=int, default=10, help="instances per vCPE")
    ap.add_argument("--services", type=int, default=40,
                    help="a multiple of --instances; each has vcpes*instances/services instances")
    ap.add_argument("--wans", type=int, default=2)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--seconds", type=int, default=120, help="reports flowing, once all instances are available")
    ap.add_argument("--keep-db", help="directory to keep the filled history in and reuse it from")
    a = ap.parse_args()
    if not FEED.exists() or not CPE.exists():
        print(f"build cats-cpe and bench_rss_feed in {BUILD} first (CATS_BUILD_DIR)")
        return 1
    if a.services % a.instances or (a.vcpes * a.instances) % a.services:
        raise SystemExit("--services must divide vcpes*instances and be a multiple of --instances")
    base = run("baseline", 1, 1, 1, a.wans, 0, min(a.seconds, 60), None)
    full = run("full", a.vcpes, a.instances, a.services, a.wans, a.hours, a.seconds, a.keep_db)
    n = steered(a.vcpes, a.instances, a.services, a.wans)
    print(f"cats-cpe resident memory, {a.wans} WANs, reports once a second per vCPE; {a.services} services with "
          f"{n} configured (steered) instances each: {a.services * n * a.wans} candidates of the data plane's "
          f"{MAX_CANDIDATES}; every one of the {a.vcpes * a.instances} reported instances is in the table, "
          f"the history and /metrics")
    print(f"{'':44} {'VmRSS':>10} {'VmHWM':>10} {'RssAnon':>10} {'RssFile':>10} {'max seen':>10}")
    for r in (base, full):
        f = r["fig"]
        name = ("baseline: 1 vCPE x 1 instance, no history" if r is base else
                f"{a.vcpes} vCPEs x {a.instances}, {a.hours} h history")
        print(f"{name:44} {mib(f['VmRSS'])} {mib(f['VmHWM'])} {mib(f['RssAnon'])} {mib(f['RssFile'])} "
              f"{mib(max(r['samples'] or [0]))}")
    bf, ff = base["fig"], full["fig"]
    print(f"ratio full / baseline: VmRSS {ff['VmRSS'] / bf['VmRSS']:.2f}x, VmHWM {ff['VmHWM'] / bf['VmHWM']:.2f}x, "
          f"anonymous {ff['RssAnon'] / bf['RssAnon']:.2f}x; full minus baseline: "
          f"VmRSS {(ff['VmRSS'] - bf['VmRSS']) / 1024:.1f} MiB, VmHWM {(ff['VmHWM'] - bf['VmHWM']) / 1024:.1f} MiB")
    print(f"goal VmHWM < 100 MiB: {'met' if ff['VmHWM'] < 100 * 1024 else 'NOT met'}")
    print(f"history database {full['db_mib']:.0f} MiB (WAL included); threads {ff['Threads']}; "
          f"control socket up {full['start_s']:.1f} s after the start; "
          f"all instances available {full['ready_s']:.1f} s after the first report; "
          f"{full['rounds']} rounds of queries; daemon alive at the end: {full['alive']}")
    print(f"full run VmRSS: {mib(full['rss_before_q']).strip()} with the reports flowing for 10 s, before any "
          f"history query; {mib(full['rss_after_q']).strip()} after the first round of queries")
    for q, size, secs in full["queries"]:
        print(f"  {q.split('&from=')[0].split('?from=')[0]:52} {size / 1024:8.0f} KiB  {secs * 1000:6.0f} ms")
    print(f"collector counters (full run): {json.dumps(full['reports'])[:400]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
