#!/usr/bin/python3
"""Lab test: the draft's use case 4.5 (AI inference) in scenario `llm`.

One branch (clients c1, c2 behind the CPE) and three sites, each running cats-app --llm,
a continuous-batching LLM-style server (tests/lab/app/llm_engine.hpp), sampled by its
vCPE from its own /metrics through the `vllm` and `dcgm` presets: site1 CPU-only and
nearest, site2 one GPU and near with a small batch, site3 two GPUs and farther with a
larger batch (numbers and why: scenarios/llm.toml). Service `llm` requires the
capability "gpu", on_no_candidate = "best_effort".

1. What the CPE knows: site2 and site3 report their GPUs (gpu_count from DCGM's series),
   site1 none but is available; site1 gets no weight.
2. Open-loop clients (tools/llm_load.py: Poisson arrivals, a new connection each, time to
   first token = connect to the first streamed body byte) at 32 requests/s, ~80 % of the
   GPU sites' capacity together, one policy after another in the same run: through the
   VIP, to the nearest GPU site (site2) directly, and to the GPU site with the lowest
   vCPE-reported GPU utilisation (read every 200 ms from the CPE's instances). p50 and
   p99 TTFT per policy are printed (docs/BENCHMARKS.md "Use cases"). Through the VIP no
   request reaches site1, and site1's weight stays 0 throughout.
3. Both GPU sites silenced (SIGSTOP: a hung server): their instances go unavailable, the
   service has no candidate left, and best effort still puts nothing on site1 (the
   capability is never relaxed): its weight stays 0 and no request is served there.
"""
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab import steering as st_  # noqa: E402
from catslab.clients import PYTHON, TOOLS  # noqa: E402
from catslab.common import RUN_DIR  # noqa: E402

SERVICE = "llm"
VIP = "10.255.0.1:80"
SITES = ("site1", "site2", "site3")
GPU_SITES = ("site2", "site3")
INSTANCE = {v: f"app1-{v}" for v in SITES}  # what cats-app answers in X-Cats-Instance
DIRECT = {v: f"10.2.{n}.10:8080" for n, v in enumerate(SITES, start=1)}
GPUS = {"site2": 1, "site3": 2}  # scenarios/llm.toml
RATE = 32.0      # requests/s offered, ~80 % of site2 (13.3/s) + site3 (26.7/s)
PHASE_S = 12.0   # seconds of arrivals per policy
TIMEOUT_S = 5.0  # a first token later than this counts as never (+inf in the percentiles)
POLL_S = 0.2     # the least-utilisation policy's reading interval


def instances(s) -> dict[str, dict]:
    return {x["vcpe"]: x for x in st_.ctl_json(s.lab, "instances") if x.get("service") == SERVICE}


def weights(s) -> dict[str, int]:
    return st_.weights_by_vcpe(s.lab, SERVICE)


def setup(s: LabSession):
    def paths_up():
        p = {x["vcpe"]: x for x in st_.ctl_json(s.lab, "paths")}
        return set(p) == set(SITES) and all(x["state"] == "up" for x in p.values())
    wait_until(paths_up, 30, "the three paths up")

    def reported():
        ins = instances(s)
        assert set(ins) == set(SITES) and all(x["available"] for x in ins.values()), ins
        return ins
    wait_until(reported, 20, "the three instances reported available")

    def decided():
        ds = st_.decisions(s.lab, SERVICE)
        w = st_.weights_by_vcpe(s.lab, SERVICE, ds)
        assert st_.outcome(s.lab, SERVICE, ds) == "ok" and sum(w.values()) > 0, st_.describe(ds)
        return ds
    wait_until(decided, 20, f"{SERVICE} decided with weight on a GPU site")


# ------------------------------------------------------------------ 1. capability

def test_gpu_capability_from_dcgm(s: LabSession):
    ins = instances(s)
    for v in SITES:
        x = ins[v]
        print(f"  {v}: gpu_count {x['gpu_count']}, gpu_utilization {x['gpu_utilization']}, "
              f"queue_depth {x['queue_depth']}, available {x['available']}")
    for v, n in GPUS.items():
        assert ins[v]["gpu_count"] == n, f"{v} should report {n} GPU(s) from its DCGM series: {ins[v]}"
    # No DCGM series: no gpu_count at all (count of no series is "none", not 0).
    assert ins["site1"]["gpu_count"] in (None, 0), f"site1 is CPU-only: {ins['site1']}"
    assert ins["site1"]["available"], "site1 must be a live candidate, excluded only by capability"
    ds = st_.decisions(s.lab, SERVICE)
    w = st_.weights_by_vcpe(s.lab, SERVICE, ds)
    assert w.get("site1", 0) == 0 and sum(w.values()) == 1000, f"weights {w}"
    ex1 = {x.get("excluded") for x in ds if x["vcpe"] == "site1"}
    print(f"  site1 excluded: {ex1}")
    assert ex1 == {"missing capability"}, f"site1 should be out for its capability: {st_.describe(ds)}"


# ------------------------------------------------------------------ 2. TTFT, three policies

def run_load(s, node: str, *target: str) -> list[dict]:
    argv = [PYTHON, str(TOOLS / "llm_load.py"), *target, "--rate", f"{RATE:g}", "--duration", f"{PHASE_S:g}",
            "--timeout", f"{TIMEOUT_S:g}", "--json"]
    cp = s.lab.run_in(node, argv, timeout=PHASE_S + 3 * TIMEOUT_S + 30)
    assert cp.returncode == 0, f"llm_load in {node}: exit {cp.returncode}: {cp.stderr.strip()[-600:]}"
    return json.loads(cp.stdout)["records"]


def drained(s):
    """Waits until the GPU sites' queues and batches are empty (the next policy starts
    from idle servers, not from the previous one's backlog)."""
    def idle():
        loads = {v: s.lab.app_load(v) for v in GPU_SITES}
        return all(x["queue_depth"] == 0 and x["busy_workers"] == 0 for x in loads.values()) or loads
    wait_until(lambda: idle() is True, 30, "the GPU sites' queues drained", interval=0.2)


def pct(recs: list[dict], q: float) -> float:
    xs = sorted(r["ttft_ms"] if r["ttft_ms"] is not None else float("inf") for r in recs)
    return xs[max(0, min(len(xs) - 1, -(-int(q * 1000) * len(xs) // 1000) - 1))]


def fmt(x: float) -> str:
    return f">{TIMEOUT_S * 1000:.0f}" if x == float("inf") else f"{x:.0f}"


class LeastUtilisation(threading.Thread):
    """Every POLL_S: the GPU site(s) whose vCPE-reported GPU utilisation (the CPE's
    instances, as a utilisation-based balancer would read it) is lowest go to the target
    file llm_load.py reads at each arrival (a tie: one of them at random per request)."""

    def __init__(self, s, path: Path):
        super().__init__(daemon=True)
        self.s, self.path = s, path
        self.stop = threading.Event()
        self.readings: list[dict[str, float]] = []
        self.error: str | None = None
        self.write(list(GPU_SITES))

    def write(self, sites: list[str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(" ".join(DIRECT[v] for v in sites) + "\n")
        os.replace(tmp, self.path)

    def run(self):
        while not self.stop.is_set():
            try:
                ins = instances(self.s)
                util = {v: ins[v]["gpu_utilization"] for v in GPU_SITES}
                if all(u is not None for u in util.values()):
                    self.readings.append(util)
                    low = min(util.values())
                    self.write([v for v in GPU_SITES if util[v] == low])
            except (AssertionError, OSError, KeyError) as e:
                self.error = str(e)
            self.stop.wait(POLL_S)


class WeightWatch(threading.Thread):
    """The CPE's decisions every POLL_S while the VIP phase runs: site1's weight must stay
    0; the weights and costs per site are printed as a timeline (what the selector did),
    with the queue depth and TTFT (p90) the vCPEs reported (what it saw)."""

    def __init__(self, s):
        super().__init__(daemon=True)
        self.s = s
        self.stop = threading.Event()
        self.seen: list[tuple[float, dict[str, int], dict[str, float | None], dict[str, dict]]] = []

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            try:
                ds = st_.decisions(self.s.lab, SERVICE)
                self.seen.append((time.monotonic() - t0, st_.weights_by_vcpe(self.s.lab, SERVICE, ds),
                                  {x["vcpe"]: x.get("cost_ms") for x in ds}, instances(self.s)))
            except (AssertionError, OSError):
                pass
            self.stop.wait(POLL_S)

    def timeline(self, every_s: float = 1.0) -> str:
        out, next_t = [], 0.0
        def num(x, f="{:.0f}"):
            return "-" if x is None else f.format(x)
        for t, w, c, ins in self.seen:
            if t >= next_t:
                next_t = t + every_s
                out.append(f"{t:4.1f}s " + "  ".join(
                    f"{v} w {w.get(v, 0):4d} cost {num(c.get(v)):>5s} q {num(ins.get(v, {}).get('queue_depth')):>3s} "
                    f"ttft {num(ins.get(v, {}).get('ttft_ms')):>5s}" for v in GPU_SITES))
        return "\n    ".join(out)


def test_ttft_against_baselines(s: LabSession):
    results: dict[str, list[dict]] = {}
    watch = WeightWatch(s)
    watch.start()
    try:
        results["VIP"] = run_load(s, "c1", VIP)
    finally:
        watch.stop.set()
        watch.join()
    drained(s)
    target_file = RUN_DIR / "llm-least-util.targets"
    lu = LeastUtilisation(s, target_file)
    lu.start()
    try:
        results["least-utilisation"] = run_load(s, "c2", "--target-file", str(target_file))
    finally:
        lu.stop.set()
        lu.join()
    drained(s)
    results["nearest GPU (site2)"] = run_load(s, "c2", DIRECT["site2"])
    drained(s)

    print(f"  offered {RATE:g} requests/s for {PHASE_S:g} s per policy; TTFT = connect to first body byte")
    for k, recs in results.items():
        by: dict[str, list[dict]] = {}
        for r in recs:
            by.setdefault(r["instance"] or "error", []).append(r)
        print(f"  {k:22s} p50 {fmt(pct(recs, 0.5)):>6s} ms  p99 {fmt(pct(recs, 0.99)):>6s} ms  ({len(recs)} requests: "
              + ", ".join(f"{n} {len(rs)}" + (f" p50 {fmt(pct(rs, 0.5))}" if n != "error" else "")
                          for n, rs in sorted(by.items())) + ")")
    print("  VIP phase at the CPE (weight, cost ms; reported queue depth, TTFT p90 ms):\n    " + watch.timeline())
    if lu.readings:
        u = [r for r in lu.readings]
        both_high = sum(1 for r in u if min(r.values()) >= 0.9)
        print(f"  least-utilisation read {len(u)} times; both GPU sites >= 90 % busy in {both_high}")
    assert len(results["VIP"]) >= RATE * PHASE_S * 0.6, f"too few requests: {len(results['VIP'])}"
    on_site1 = [r for recs in results.values() for r in recs if r["instance"] == INSTANCE["site1"]]
    assert not on_site1, f"{len(on_site1)} requests served by the CPU-only site1"
    w1 = [w.get("site1", 0) for _, w, _, _ in watch.seen]
    assert watch.seen and max(w1) == 0, f"site1 got weight during the VIP phase: {max(w1)}"
    vip_errors = [r["error"] for r in results["VIP"] if r["error"]]
    print(f"  VIP errors: {len(vip_errors)} {vip_errors[:3]}")
    # The nearest GPU site alone is offered 2.4x what it can serve: its queue only grows.
    p99 = {k: pct(recs, 0.99) for k, recs in results.items()}
    assert p99["VIP"] < p99["nearest GPU (site2)"], f"VIP p99 not below the nearest site's: {p99}"
    # Against least-utilisation the draft claims a lower p99 too; measured with the
    # selector of this branch (compute cost from the mean TTFT, no queue-depth split) the
    # two are within each other's noise, so it is printed, not asserted (docs/BENCHMARKS.md).


# ------------------------------------------------------------------ 3. GPU sites gone

def test_no_gpu_left_never_cpu(s: LabSession):
    try:
        for v in GPU_SITES:
            s.lab.pause_app(v, True)

        def gone():
            ins = instances(s)
            assert not any(ins[v]["available"] for v in GPU_SITES), \
                {v: ins[v]["available"] for v in GPU_SITES}
            assert ins["site1"]["available"], "site1 should still be available"
            return True
        wait_until(gone, 10, "site2 and site3 unavailable at the CPE", interval=0.1)

        def decided():
            ds = st_.decisions(s.lab, SERVICE)
            out = st_.outcome(s.lab, SERVICE, ds)
            assert out != "ok", f"outcome {out}: {st_.describe(ds)}"
            return out, st_.weights_by_vcpe(s.lab, SERVICE, ds), {x["vcpe"]: x.get("excluded") for x in ds}
        out, w, ex = wait_until(decided, 10, f"{SERVICE} without an eligible candidate")
        print(f"  both GPU sites silenced: outcome {out}, weights {w}, excluded {ex}")
        assert ex["site1"] == "missing capability", f"site1: {ex}"
        # A few more decision rounds, and requests through the VIP meanwhile: nothing may
        # land on site1.
        t_end = time.monotonic() + 3
        seen = []
        while time.monotonic() < t_end:
            seen.append(weights(s))
            time.sleep(POLL_S)
        cp = s.lab.run_in("c1", [PYTHON, str(TOOLS / "llm_load.py"), VIP, "--rate", "10", "--duration", "1",
                                 "--timeout", "1", "--json"], timeout=30)
        recs = json.loads(cp.stdout)["records"]
        served = [r for r in recs if r["instance"]]
        print(f"  {len(recs)} requests through the VIP: {len(served)} served "
              f"({sorted({r['instance'] for r in served})}), errors e.g. {[r['error'] for r in recs[:2]]}")
        assert all(x.get("site1", 0) == 0 for x in seen), f"site1 got weight: {seen}"
        assert not any(r["instance"] == INSTANCE["site1"] for r in recs), "a request was served by site1"
    finally:
        for v in GPU_SITES:
            s.lab.pause_app(v, False)


if __name__ == "__main__":
    sys.exit(main([test_gpu_capability_from_dcgm, test_ttft_against_baselines, test_no_gpu_left_never_cpu],
                  scenario="llm", daemons=True, services=True, setup=setup))
