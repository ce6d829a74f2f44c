"""Helpers for steering tests and benchmarks in the fig4 lab with services: the CPE's
control API (services, decisions, events via catsctl --json), the CPE's conntrack
entries and marks, ruleset snapshots, and finding a long-lived stream on a given
instance / WAN.

Mark layout (common/steer/steer.hpp): ct mark bits 0x00ff0000 = WAN index (1-based, in
the CPE config's [[wan]] order), bits 0xff000000 = candidate id.
"""
from __future__ import annotations

import json
import re
import time

from .clients import Stream
from .common import LabError, ns_name, run

PATH_MASK, PATH_SHIFT = 0x00FF0000, 16


def ctl_json(lab, what: str):
    cp = lab.catsctl("cpe", what, "--json")
    if cp.returncode != 0:
        raise AssertionError(f"catsctl {what}: exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()}")
    try:
        return json.loads(cp.stdout)
    except ValueError as e:
        raise AssertionError(f"catsctl {what} --json: not JSON: {cp.stdout[:300]!r}") from e


def services(lab) -> dict[str, dict]:
    return {x["id"]: x for x in ctl_json(lab, "services")}


def decisions(lab, service: str | None = None) -> list[dict]:
    d = ctl_json(lab, "decisions")
    return [x for x in d if service is None or x.get("service") == service]


def weights_by_vcpe(lab, service: str, ds: list[dict] | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in ds if ds is not None else decisions(lab, service):
        if x.get("service") == service:
            out[x["vcpe"]] = out.get(x["vcpe"], 0) + int(x.get("weight") or 0)
    return out


def weights_by_candidate(ds: list[dict]) -> dict[tuple[str, str], int]:
    return {(x["vcpe"], x["wan"]): int(x.get("weight") or 0) for x in ds}


def outcome(lab, service: str, ds: list[dict] | None = None) -> str | None:
    ds = ds if ds is not None else decisions(lab, service)
    # The API spells it "best-effort" (select's to_string), the config "best_effort".
    outs = {str(x.get("outcome")).replace("-", "_") for x in ds if x.get("service") == service}
    if len(outs) > 1:
        raise AssertionError(f"{service}: candidates disagree on the outcome: {outs}")
    return outs.pop() if outs else None


def describe(ds: list[dict]) -> str:
    return "; ".join(f"{x.get('service')}/{x.get('vcpe')}/{x.get('wan')} w={x.get('weight')} "
                     f"cost={x.get('cost_ms')} {x.get('outcome')} {x.get('reason') or ''}".strip() for x in ds)


def events(lab, kind: str | None = None) -> list[dict]:
    ev = ctl_json(lab, "events")
    return [e for e in ev if kind is None or e.get("kind") == kind]


def _about(e: dict, service: str) -> bool:
    text = f"{e.get('subject', '')} {e.get('service', '')}"
    return re.search(rf"(?<![a-z0-9_]){re.escape(service)}(?![a-z0-9_])", text) is not None


def weight_events(lab, service: str) -> list[dict]:
    return [e for e in events(lab, "weights") if _about(e, service)]


def last_publication_age_s(lab, service: str) -> float:
    """Seconds since the last "weights" event of `service` (inf if none)."""
    ts = [float(e["ts_ms"]) for e in weight_events(lab, service) if e.get("ts_ms") is not None]
    return time.time() - max(ts) / 1000.0 if ts else float("inf")


# select::SelectorConfig::explain_window (not configurable): a rise of an instance's load
# within this long after this CPE raised its share of that instance may be its own doing,
# so it is followed in damped steps, not at once (docs/SELECTION.md "Deadband"). The first
# decision counts as a raise (from nothing).
EXPLAIN_WINDOW_S = 10.0


def _published_share(detail: str, vcpe: str) -> int:
    """`vcpe`'s total weight in a "weights" event's detail ("...; weights a/i/w=1 ...")."""
    tail = detail.rsplit("; weights", 1)[-1] if "; weights" in detail else ""
    return sum(int(w) for v, w in re.findall(r"(\S+?)/\S+=(\d+)", tail) if v == vcpe)


def first_publication_without(lab, service: str, vcpe: str, since_wall_s: float) -> float | None:
    """Wall time (s) of the first "weights" event of `service` at or after `since_wall_s`
    that gives `vcpe` nothing: when the CPE itself published the move, free of the polling
    latency of a test that watches the weights (None if there is none yet)."""
    evs = sorted((float(e["ts_ms"]), str(e.get("detail", ""))) for e in weight_events(lab, service)
                 if e.get("ts_ms") is not None and float(e["ts_ms"]) >= 1000.0 * since_wall_s)
    return next((ts / 1000.0 for ts, detail in evs if _published_share(detail, vcpe) == 0), None)


def last_share_raise_age_s(lab, service: str, vcpe: str) -> float:
    """Seconds since `service`'s weights last gave `vcpe` more than before (inf if never)."""
    evs = sorted((e for e in weight_events(lab, service) if e.get("ts_ms") is not None),
                 key=lambda e: float(e["ts_ms"]))
    last, prev = None, 0
    for e in evs:
        share = _published_share(str(e.get("detail", "")), vcpe)
        if share > prev:
            last = float(e["ts_ms"])
        prev = share
    return time.time() - last / 1000.0 if last is not None else float("inf")


def wait_share_not_raised(lab, service: str, vcpe: str, wait_until) -> None:
    """Until this CPE last raised `vcpe`'s share of `service` more than EXPLAIN_WINDOW_S
    ago: a load change on it is then one the CPE cannot have caused, which it follows
    at once (the load-reaction goal is stated for that case)."""
    def old_enough():
        age = last_share_raise_age_s(lab, service, vcpe)
        assert age >= EXPLAIN_WINDOW_S + 0.5, f"{vcpe}'s share of {service} raised {age:.1f}s ago"
        return True
    wait_until(old_enough, EXPLAIN_WINDOW_S + 30, f"{vcpe}'s share of {service} unraised for {EXPLAIN_WINDOW_S:g}s",
               interval=0.2)


def hold_down_s(lab) -> float:
    sel = lab.scenario.cpe.selection
    return float(sel.get("hold_down_ms", 5000)) / 1000.0


def wait_hold_down_over(lab, service: str, wait_until) -> None:
    """Until the last publication of `service` is older than the hold-down, so that the
    next input change publishes at once (docs/SELECTION.md, hysteresis and hold-down)."""
    hd = hold_down_s(lab)

    def quiet():
        age = last_publication_age_s(lab, service)
        assert age >= hd + 0.2, f"{service} last published {age:.1f}s ago (hold-down {hd:g}s)"
        return True
    wait_until(quiet, hd + 20, f"{service}'s hold-down to pass", interval=0.2)


# ------------------------------------------------------------------ conntrack in the CPE

def ct_entries(lab, src: str | None = None, dst: str | None = None) -> list[dict]:
    """The CPE's TCP conntrack entries (original direction src/dst/sport/dport, reply
    src = the DNAT target, mark, state)."""
    argv = ["ip", "netns", "exec", ns_name("cpe"), "conntrack", "-L", "-p", "tcp"]
    if src:
        argv += ["--orig-src", src]
    if dst:
        argv += ["--orig-dst", dst]
    cp = run(argv, check=False)
    out = []
    for line in cp.stdout.splitlines():
        kv = re.findall(r"(\w+)=(\S+)", line)
        orig = dict(kv[:4])
        reply = dict(kv[4:8])
        mark = int(dict(kv).get("mark", "0"))
        state = line.split()[3] if len(line.split()) > 3 and "=" not in line.split()[3] else ""
        out.append({"src": orig.get("src"), "dst": orig.get("dst"), "sport": int(orig.get("sport", 0)),
                    "dport": int(orig.get("dport", 0)), "target": reply.get("src"),
                    "target_port": int(reply.get("sport", 0)), "mark": mark, "state": state,
                    "wan_index": (mark & PATH_MASK) >> PATH_SHIFT})
    return out


def candidate_marks(lab) -> dict[str, dict[tuple[str, int, int], int]]:
    """Per service, {(instance address, port, WAN index): candidate mark} as the kernel
    holds them: the service's set c_<id> in table inet cats names its marks, the targets
    maps give each mark's instance (common/steer/steer.hpp "Candidate ids")."""
    def nft_json(what):
        cp = run(["ip", "netns", "exec", ns_name("cpe"), "nft", "-j", "list", what, "inet"], check=False)
        if cp.returncode != 0:
            raise LabError(f"nft list {what}: {cp.stderr.strip()}")
        return [x for x in json.loads(cp.stdout)["nftables"] if x.get(what[:-1], {}).get("table") == "cats"]
    target = {}
    for m in nft_json("maps"):
        m = m["map"]
        if m["name"] in ("targets", "targets6"):
            for mark, v in m.get("elem", []):
                target[mark] = tuple(v["concat"])
    out: dict[str, dict[tuple[str, int, int], int]] = {}
    for x in nft_json("sets"):
        x = x["set"]
        if x["name"].startswith("c_"):
            out[x["name"][2:]] = {(*target[m], (m & PATH_MASK) >> PATH_SHIFT): m for m in x.get("elem", [])}
    return out


def flow_of(lab, client_ip: str, sport: int) -> dict:
    for e in ct_entries(lab, src=client_ip):
        if e["sport"] == sport:
            return e
    raise AssertionError(f"no conntrack entry in the CPE for {client_ip}:{sport}")


def wan_name(lab, index: int) -> str:
    wans = lab.scenario.cpe.wans
    if 1 <= index <= len(wans):
        return wans[index - 1].name
    return f"wan#{index}"


def data_plane_dump(lab, service: str) -> str:
    """For failure messages: the service's decisions, its weights map and the moved map
    as the kernel has them, the paths."""
    def nft(m):
        cp = run(["ip", "netns", "exec", ns_name("cpe"), "nft", "list", "map", "inet", "cats", m], check=False)
        return " ".join((cp.stdout or cp.stderr).split())
    paths = [(p["wan"], p["vcpe"], p["state"]) for p in ctl_json(lab, "paths")]
    return (f"decisions: {describe(decisions(lab, service))}\n  w_{service}: {nft('w_' + service)}\n"
            f"  moved: {nft('moved')}\n  paths: {paths}")


# ------------------------------------------------------------------ ruleset snapshots

def ruleset(lab) -> dict[str, str]:
    """What the steering owns in the CPE: table inet cats (elements' remaining timeouts
    and counters stripped: they tick), ip rules, our routes (proto 201)."""
    def sh(*argv):
        cp = run(["ip", "netns", "exec", ns_name("cpe"), *argv], check=False)
        if cp.returncode != 0:
            raise LabError(f"{' '.join(argv)}: {cp.stderr.strip()}")
        return cp.stdout
    nft = sh("nft", "list", "table", "inet", "cats")
    nft = re.sub(r" expires \S+", "", nft)
    nft = re.sub(r"counter packets \d+ bytes \d+", "counter", nft)
    return {"nft": nft, "rules": sh("ip", "rule"), "routes": sh("ip", "route", "show", "table", "all", "proto", "201")}


def diff_ruleset(before: dict, after: dict) -> str:
    import difflib
    out = []
    for k in before:
        if before[k] != after.get(k):
            out.append(f"{k}:\n" + "\n".join(difflib.unified_diff(before[k].splitlines(), after.get(k, "").splitlines(),
                                                                   "before", "after", lineterm="", n=1)))
    return "\n".join(out)


# ------------------------------------------------------------------ streams

def shift_timeline(recs, t_load, new_inst, window=10, need=8):
    """When new connections went over to `new_inst`: the start of the first run of
    `window` consecutive connections with at least `need` on it (s after t_load, or
    None), and the share per 0.5 s bucket (for the log)."""
    after = sorted((x for x in recs if x["t0"] >= t_load and not x["error"]), key=lambda x: x["t0"])
    t_major = None
    for i in range(len(after) - window + 1):
        w = after[i:i + window]
        if sum(x["instance"] == new_inst for x in w) >= need:
            t_major = w[0]["t0"] - t_load
            break
    buckets = {}
    for x in after:
        b = int((x["t0"] - t_load) / 0.5)
        n, k = buckets.get(b, (0, 0))
        buckets[b] = (n + 1, k + (x["instance"] == new_inst))
    timeline = " ".join(f"{b * 0.5:.1f}s:{k}/{n}" for b, (n, k) in sorted(buckets.items()))
    return t_major, timeline



def open_stream_on(lab, node: str, client_ip: str, target: str, want, tries: int = 16, **kw) -> tuple[Stream, dict]:
    """Opens streams from `node` to `target` until one satisfies want(first_reply,
    conntrack_entry) (e.g. lands on cloud2, or on WAN1); returns (running stream, its
    conntrack entry). Streams that do not fit are stopped."""
    seen = []
    for _ in range(tries):
        st = Stream(lab, node, target, **kw).start()
        try:
            first = st.wait_replies(1, 10)[0]
            port = st.connects()[0]["port"]
            ct = flow_of(lab, client_ip, port)
        except BaseException:
            st.stop()
            raise
        if want(first, ct):
            return st, ct
        seen.append((first["instance"], wan_name(lab, ct["wan_index"])))
        st.stop()
    raise AssertionError(f"no stream from {node} to {target} met the condition in {tries} tries: {seen}")
