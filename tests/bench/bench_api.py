#!/usr/bin/python3
"""Benchmark (prints figures, not pass/fail): the management API of the real cats-cpe in
the fig4 lab, over real HTTPS from a LAN client (issue 9 "Benchmarks").

  sudo python3 tests/bench/bench_api.py [--duration 10] [--connections 100]

1. Latency p50/p99 and requests/s at N concurrent keep-alive HTTPS connections (wrk, 2
   threads, in client c1) with an API token, for GET /api/v1/status (the baseline: the
   cheapest route), /api/v1/decisions and /metrics. Printed as ratios to the baseline.
   --rounds N repeats the three back to back N times in the same lab (the spread on a
   shared machine); --latency-only stops there; --size prints each answer's size. Each
   route also gets cats-cpe's CPU time per answer (/proc/PID/stat, its idle rate
   subtracted), the figure least disturbed by other load on a shared machine. /metrics is
   measured twice: plain, and as Prometheus asks for it ("Accept-Encoding: gzip", when
   the daemon encodes it; wrk does not inflate, it only counts the bytes).
2. Logins per second (POST /api/v1/login, Argon2id, 4 connections): each makes a session.
   Then the stall: /api/v1/status at 4 connections alone, and while logins run at 4 more.
3. Apply latency, from sending a change to its answer (the answer comes after the kernel
   apply): a selection-only change, and a service removed and added back (then also
   until its VIP answers a new connection).
4. --weights-only (nothing else runs): a WAN's cost changed through PATCH /api/v1/config
   on the root socket (wan2's cost 0 -> 100 -> 0 ..., a tuning-only change), and the time
   until the steering maps (nft "w_<service>") change, as `nft monitor elements` in the
   CPE's namespace reports it: from the PATCH's answer (negative when the maps changed
   before the answer left) and from its sending, --trials times (20 for the figures in
   docs/BENCHMARKS.md). Before each trial the maps must have been still for 1.5 s (the
   damped steps after the previous one). Median and p95.
The lab's scenario is fig4 with the HTTPS connection limits raised to N (the defaults,
64 in total and 16 per client, would refuse most of one client's N connections).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from labtest import LabSession, wait_until  # noqa: E402
from catslab.clients import UnixHTTP, count_instances  # noqa: E402

LAB = Path(__file__).resolve().parents[1] / "lab"
URL = "https://10.1.0.1:8443"
ADMIN_PW = "benchmark admin password"
GZIP = "Accept-Encoding: gzip"
# (label, path, extra headers): the baseline first.
ROUTES = [("/api/v1/status", "/api/v1/status", []), ("/api/v1/decisions", "/api/v1/decisions", []),
          ("/metrics", "/metrics", []), ("/metrics (gzip)", "/metrics", [GZIP])]


def scenario(connections: int) -> Path:
    text = (LAB / "scenarios" / "fig4.toml").read_text()
    text = text.replace('metrics_allow = ["10.1.0.0/24"]',
                        f'metrics_allow = ["10.1.0.0/24"]\nmax_connections = {connections + 16}\n'
                        f'max_connections_per_client = {connections + 8}')
    f = Path(tempfile.mkdtemp(prefix="cats-bench-api-")) / "fig4-api.toml"
    f.write_text(text)
    return f


def ms(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def wrk(s, path: str, headers: list[str], connections: int, duration: int, script: str | None = None) -> dict:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    cp = s.lab.run_in("c1", argv + [URL + path], timeout=duration + 30)
    out = cp.stdout
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))  # wrk pads "1.86s "
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)$", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    if not {"50", "99"} <= lat.keys() or not rps:
        raise SystemExit(f"wrk {path}: no figures:\n{out}\n{cp.stderr}")
    return {"p50": ms(lat["50"]), "p99": ms(lat["99"]), "rps": float(rps.group(1)), "requests": int(total.group(1)),
            "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errs.group(1) if errs else ""}


def cpu_s(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds (proc(5) stat 14, 15)."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_answer(s, path: str, headers: list[str], connections: int, duration: int) -> dict:
    """wrk on `path`, plus cats-cpe's CPU time per answer (µs): less sensitive to the other
    load on a shared machine than latency. The daemon's own background work (probes,
    reports) is measured for 3 s before and subtracted."""
    pid = s.lab.daemon_entry("cpe")["pid"]
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(3)
    idle = (cpu_s(pid) - c0) / (time.monotonic() - t0)
    c1, t1 = cpu_s(pid), time.monotonic()
    r = wrk(s, path, headers, connections, duration)
    busy = cpu_s(pid) - c1 - idle * (time.monotonic() - t1)
    r["cpu_us"] = busy / r["requests"] * 1e6
    return r


def api(s, method, path, body=None, headers=None):
    sock = s.lab.daemon_entry("cpe")["socket"]
    argv = ["curl", "-sS", "--max-time", "30", "--unix-socket", sock, "-X", method, "-o", "/dev/null",
            "-w", "%{http_code}", f"http://cpe{path}"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    if body is not None:
        argv += ["--data-binary", json.dumps(body)]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=40)
    return int(cp.stdout or 0)


def config(s):
    cp = subprocess.run(["curl", "-sS", "--unix-socket", s.lab.daemon_entry("cpe")["socket"], "-D", "-",
                         "http://cpe/api/v1/config"], capture_output=True, text=True, timeout=10)
    head, _, body = cp.stdout.partition("\n\n")
    rev = int(re.search(r'ETag: "(\d+)"', head, re.I).group(1))
    return rev, json.loads(body)


def timed_patch(s, ops) -> float:
    rev, _ = config(s)
    t0 = time.monotonic()
    st = api(s, "PATCH", "/api/v1/config", ops, {"If-Match": f'"{rev}"'})
    dt = (time.monotonic() - t0) * 1000
    if st != 200:
        raise SystemExit(f"PATCH {ops}: {st}")
    return dt



class MapMonitor:
    """`nft monitor elements` in the CPE's namespace; the arrival time (time.monotonic())
    of every line about a steering weight map (w_<service>)."""

    def __init__(self, s):
        self.proc = subprocess.Popen(s.lab.exec_argv("cpe", ["stdbuf", "-oL", "nft", "monitor", "elements"]),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            if " w_" in line:
                with self.lock:
                    self.lines.append((t, line.strip()))

    def first_after(self, t0: float):
        with self.lock:
            return next(((t, ln) for t, ln in self.lines if t >= t0), None)

    def last(self) -> float:
        with self.lock:
            return self.lines[-1][0] if self.lines else 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def weights_only(s, trials: int) -> int:
    """Time from a WAN cost PATCH (a tuning-only change) to the steering maps' change."""
    sock = s.lab.daemon_entry("cpe")["socket"]
    mon = MapMonitor(s)
    from_answer, from_send, answer_ms = [], [], []
    try:
        # The monitor runs once it prints: provoke nothing, just wait for app1's weights.
        wait_until(lambda: sum(int(d["weight"]) for d in json.loads(
            s.lab.catsctl("cpe", "decisions", "--json").stdout) if d["service"] == "app1") == 1000 or None,
            30, "app1 weighted")
        for i in range(trials):
            # The maps still for 1.5 s: the previous trial's damped steps are over.
            wait_until(lambda: time.monotonic() - mon.last() >= 1.5 or None, 30, "steering maps still for 1.5 s",
                       interval=0.05)
            rev, doc = config(s)
            k = [w["name"] for w in doc["wan"]].index("wan2")
            cost = 100 if i % 2 == 0 else 0
            body = json.dumps([{"op": "add", "path": f"/wan/{k}/cost", "value": cost}])
            c = UnixHTTP(sock)
            t_send = time.monotonic()
            c.request("PATCH", f"/api/v1/config?comment=bench+wan2+cost+{cost}", body=body,
                      headers={"If-Match": f'"{rev}"', "Content-Type": "application/json-patch+json"})
            r = c.getresponse()
            r.read()
            t_answer = time.monotonic()
            c.close()
            if r.status != 200:
                raise SystemExit(f"PATCH wan2 cost {cost}: {r.status}")
            got = wait_until(lambda: mon.first_after(t_send), 5, f"a w_* map change after wan2 cost {cost}",
                             interval=0.002)
            t_map, line = got
            from_answer.append((t_map - t_answer) * 1000)
            from_send.append((t_map - t_send) * 1000)
            answer_ms.append((t_answer - t_send) * 1000)
            print(f"  trial {i + 1:2d}: wan2 cost {cost:3d}: answer after {answer_ms[-1]:6.1f} ms, map change "
                  f"{from_answer[-1]:+7.1f} ms from the answer ({line[:60]})")
    finally:
        mon.stop()

    def pct(v, q):
        v = sorted(v)
        return v[int(round(q * (len(v) - 1)))]
    print(f"Weight-only apply, WAN cost PATCH -> nft map change ({trials} trials, lab fig4):")
    for name, v in (("from the PATCH answer", from_answer), ("from sending the PATCH", from_send),
                    ("PATCH answer time", answer_ms)):
        print(f"  {name:24s} median {statistics.median(v):+7.1f} ms  p95 {pct(v, 0.95):+7.1f} ms  "
              f"min {min(v):+7.1f} ms  max {max(v):+7.1f} ms")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure the three routes this many times in the same lab (each round: "
                         "/status, /decisions, /metrics back to back), to show the spread on a shared machine")
    ap.add_argument("--latency-only", action="store_true", help="only the routes' latency (no logins, no apply)")
    ap.add_argument("--size", action="store_true", help="also print the size of each route's answer")
    ap.add_argument("--weights-only", action="store_true",
                    help="only the time from a WAN cost PATCH to the nft map change (--trials times)")
    a = ap.parse_args()
    with LabSession(str(scenario(a.connections)), daemons=True, verbose=False) as s:
        if a.weights_only:
            return weights_only(s, a.trials)
        cp = s.lab.catsctl("cpe", "token", "add", "bench", "--role", "viewer", "--days", "1", "--json")
        token = json.loads(cp.stdout)["token"]
        auth = [f"Authorization: Bearer {token}"]
        wait_until(lambda: count_instances(s.lab, "c1", "10.255.0.1:80", 1)["counts"] or None, 30, "app1 answering")
        if a.size:
            for label, p, extra in ROUTES:
                argv = ["curl", "-sk", "-o", "/dev/null", "-w", "%{size_download}", "-H", auth[0]]
                for h in extra:
                    argv += ["-H", h]
                cp = s.lab.run_in("c1", argv + [URL + p], timeout=20)
                print(f"  {label}: answer of {cp.stdout.strip()} bytes")
        for rnd in range(a.rounds):
            res = {label: cpu_per_answer(s, p, auth + extra, a.connections, a.duration) for label, p, extra in ROUTES}
            base = res["/api/v1/status"]
            load = Path("/proc/loadavg").read_text().split()[:3]
            print(f"API latency at {a.connections} keep-alive HTTPS connections, {a.duration} s each (wrk -t2, client c1), "
                  f"round {rnd + 1}/{a.rounds}, load average after it {' '.join(load)}:")
            for p, r in res.items():
                print(f"  {p:20s} p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  {r['rps']:8.0f} req/s  "
                      f"(p50 {r['p50'] / base['p50']:.2f}x, p99 {r['p99'] / base['p99']:.2f}x, "
                      f"req/s {base['rps'] / r['rps']:.2f}x fewer than /status; "
                      f"cats-cpe CPU {r['cpu_us']:.0f} us/answer, {r['cpu_us'] / base['cpu_us']:.2f}x)"
                      f"  non-2xx {r['non2xx']}/{r['requests']} {r['socket_errors']}")
        if a.latency_only:
            return 0

        subprocess.run([str(s.lab.build_dir / "cpe" / "catsctl" / "catsctl"), "--socket",
                        s.lab.daemon_entry("cpe")["socket"], "user", "add", "admin", "--role", "admin",
                        "--password-file", "-"], input=ADMIN_PW + "\n", text=True, capture_output=True, timeout=20)
        lua = Path(tempfile.mkdtemp(prefix="cats-bench-api-")) / "login.lua"
        lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                       f'wrk.body = \'{json.dumps({"user": "admin", "password": ADMIN_PW})}\'\n')
        login = wrk(s, "/api/v1/login", [], 4, a.duration, str(lua))
        print(f"  logins: {login['rps']:.1f}/s at 4 connections, p50 {login['p50']:.1f} ms, p99 {login['p99']:.1f} ms, "
              f"non-2xx {login['non2xx']}/{login['requests']}")

        # The stall: GET /api/v1/status at 4 connections alone, then while logins run at 4
        # more (Argon2id, ~75 ms a hash). With the hash on the HTTPS thread every request
        # waited behind the login being hashed; on the Offload worker it should not.
        quiet = wrk(s, "/api/v1/status", auth, 4, a.duration)
        box = {}
        bg = threading.Thread(target=lambda: box.update(login=wrk(s, "/api/v1/login", [], 4, a.duration + 2, str(lua))))
        bg.start()
        time.sleep(1)
        busy = wrk(s, "/api/v1/status", auth, 4, a.duration)
        bg.join()
        bl = box["login"]
        print(f"  /api/v1/status at 4 connections: alone p50 {quiet['p50']:.2f} ms, p99 {quiet['p99']:.2f} ms, "
              f"{quiet['rps']:.0f} req/s; with logins running: p50 {busy['p50']:.2f} ms, p99 {busy['p99']:.2f} ms, "
              f"{busy['rps']:.0f} req/s (p99 {busy['p99'] / quiet['p99']:.2f}x, p50 {busy['p50'] / quiet['p50']:.2f}x); "
              f"logins meanwhile {bl['rps']:.1f}/s, non-2xx {bl['non2xx']}/{bl['requests']}")

        sel, svc, vip = [], [], []
        for i in range(a.trials):
            sel.append(timed_patch(s, [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 10 + (i % 2)}]))
        for _ in range(a.trials):
            rev, doc = config(s)
            k = [x["id"] for x in doc["service"]].index("app1c")
            svc_doc = doc["service"][k]
            timed_patch(s, [{"op": "remove", "path": f"/service/{k}"}])
            t0 = time.monotonic()
            svc.append(timed_patch(s, [{"op": "add", "path": f"/service/{k}", "value": svc_doc}]))
            wait_until(lambda: count_instances(s.lab, "c1", "10.255.0.6:80", 1, timeout=0.3)["counts"] or None, 10,
                       "app1c answering", interval=0.02)
            vip.append((time.monotonic() - t0) * 1000)

        def line(name, v):
            v = sorted(v)
            return (f"  {name:34s} median {statistics.median(v):6.0f} ms  p95 {v[int(round(0.95 * (len(v) - 1)))]:6.0f} ms"
                    f"  max {v[-1]:6.0f} ms  ({len(v)} trials)")
        print("Apply latency (send -> answer; the answer follows the kernel apply):")
        print(line("selection-only change", sel))
        print(line("service added", svc))
        print(line("service added -> its VIP answers", vip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
