#!/usr/bin/python3
"""Lab test (issue 9: "/metrics parses, and its values match catsctl") in the fig4 lab with
services and the real daemons.

GET /metrics is fetched from cats-cpe and each cats-vcpe over their control sockets and
parsed with a real parser (Debian's python3-prometheus-client). Checked:
1. content type 0.0.4, every documented family present once with its type, no NaN;
2. values match catsctl's JSON read just before and just after the scrape (paths' RTT,
   loss and state, instances' utilisation and availability, weights per candidate);
3. counters never go backwards across two scrapes, and the ones that must move do;
   the request-duration histogram is consistent (monotone buckets, +Inf == _count, _sum
   within the buckets' bounds) and counts exactly the requests made;
4. long-lived connections to app1 show in cats_service_flows (conntrack, by ct mark);
5. each vCPE's /metrics: its instances' samples agree with what the CPE received, its
   reports_sent counter moves, build info and start time are there.
6. cloud1 with a [management] section: its read-only /metrics and status over HTTPS from
   a metrics_allow client through the tunnel, pinned; gzip when asked (Accept-Encoding,
   as Prometheus sends), plain when refused; other routes, changes and other sources 403.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.clients import Stream, UnixHTTP  # noqa: E402
from catslab import steering as st_  # noqa: E402
from catslab import config as cfg_  # noqa: E402

TOOLS = Path(__file__).resolve().parent / "tools"

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # tests/run installs python3-prometheus-client
    text_string_to_metric_families = None

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
VIP_APP1 = "10.255.0.1:80"
CPE_FAMILIES = {
    "cats_path_rtt_seconds": "gauge", "cats_path_jitter_seconds": "gauge", "cats_path_loss_ratio": "gauge",
    "cats_path_up": "gauge", "cats_instance_utilization_ratio": "gauge", "cats_instance_vcpus": "gauge",
    "cats_instance_available": "gauge", "cats_instance_processing_delay_seconds": "gauge",
    "cats_service_weight": "gauge", "cats_service_flows": "gauge", "cats_reports_received_total": "counter",
    "cats_reports_rejected_total": "counter", "cats_weight_publications_total": "counter",
    "cats_wireguard_peer_last_handshake_seconds": "gauge", "cats_wireguard_peer_receive_bytes_total": "counter",
    "cats_wireguard_peer_transmit_bytes_total": "counter", "cats_build_info": "gauge",
    "cats_start_time_seconds": "gauge", "cats_wan_input_dropped_packets_total": "counter",
}
VCPE_FAMILIES = {
    "cats_instance_utilization_ratio": "gauge", "cats_instance_vcpus": "gauge", "cats_instance_available": "gauge",
    "cats_instance_processing_delay_seconds": "gauge", "cats_reports_sent_total": "counter",
    "cats_wireguard_peer_last_handshake_seconds": "gauge", "cats_wireguard_peer_receive_bytes_total": "counter",
    "cats_wireguard_peer_transmit_bytes_total": "counter", "cats_build_info": "gauge",
    "cats_start_time_seconds": "gauge",
}
RTT_TOL_S = 0.005    # smoothed RTT moves little between two reads in an unimpaired lab
LOSS_TOL = 0.02
UTIL_TOL = 0.05      # the apps' CPU figure is sampled again between the reads



def get(s: LabSession, node: str, target: str):
    c = UnixHTTP(s.lab.daemon_entry(node)["socket"], timeout=5)
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def scrape(s: LabSession, node: str) -> tuple[str, dict]:
    """(text, {sample name: {frozenset(labels): value}}), parsed by prometheus_client."""
    status, ctype, text = get(s, node, "/metrics")
    assert status == 200, f"{node} /metrics: {status} {text[:300]}"
    assert ctype == CONTENT_TYPE, f"{node} /metrics Content-Type {ctype!r}"
    samples: dict = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            samples.setdefault(smp.name, {})[frozenset(smp.labels.items())] = smp.value
    return text, samples


def value(samples: dict, name: str, **labels):
    return samples.get(name, {}).get(frozenset(labels.items()))


def families(text: str) -> dict:
    """{family: type} from the TYPE lines; asserts each family is declared once and its
    HELP line comes right before TYPE (text format 0.0.4)."""
    out = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in out, f"family {name} declared twice"
            assert i > 0 and lines[i - 1].startswith(f"# HELP {name} "), f"{name}: HELP missing before TYPE"
            out[name] = typ
    return out


def paths_up(s: LabSession):
    p = st_.ctl_json(s.lab, "paths")
    bad = [f"{x['wan']}/{x['vcpe']}={x['state']}" for x in p if x["state"] != "up"]
    assert len(p) == 4 and not bad and all(x["rtt_ms"] is not None for x in p), f"paths: {bad or p}"
    return True


def app1_weighted(s: LabSession):
    ds = st_.decisions(s.lab, "app1")
    assert sum(int(d["weight"]) for d in ds) == 1000, st_.describe(ds)
    return True


def setup(s: LabSession):
    if text_string_to_metric_families is None:
        raise AssertionError("python3-prometheus-client is not installed (tests/run deps)")
    wait_until(lambda: paths_up(s), 30, "every (WAN x vCPE) path up")
    wait_until(lambda: app1_weighted(s), 20, "app1 weighted")
    insts = lambda: len([i for i in st_.ctl_json(s.lab, "instances") if i["utilization"] is not None]) >= 2
    wait_until(insts, 10, "instances reported with utilisation")


# ------------------------------------------------------------------ 1. format

def test_cpe_exposition_parses_with_every_family(s: LabSession):
    text, smp = scrape(s, "cpe")
    fams = families(text)
    for name, typ in CPE_FAMILIES.items():
        assert fams.get(name) == typ, f"family {name}: expected {typ}, got {fams.get(name)}"
    assert "NaN" not in text, "an unknown figure should be absent, not NaN"
    assert value(smp, "cats_build_info", version=value_label(smp, "cats_build_info", "version")) == 1
    start = next(iter(smp["cats_start_time_seconds"].values()))
    assert time.time() - 86400 < start <= time.time(), f"start time {start}"
    causes = {dict(k)["cause"] for k in smp["cats_reports_rejected_total"]}
    assert {"malformed", "bad_signature", "replay", "stale"} <= causes, causes
    # Every WireGuard peer of the CPE's tunnels: 2 WANs x 2 vCPEs.
    assert len(smp["cats_wireguard_peer_receive_bytes_total"]) == 4, smp["cats_wireguard_peer_receive_bytes_total"]
    assert len(smp["cats_wireguard_peer_last_handshake_seconds"]) == 4


def value_label(smp: dict, name: str, label: str) -> str:
    keys = list(smp.get(name, {}))
    assert len(keys) == 1, f"{name}: {keys}"
    return dict(keys[0])[label]


# ------------------------------------------------------------------ 2. values vs catsctl

def between(v, a, b, tol) -> bool:
    return min(a, b) - tol <= v <= max(a, b) + tol


def test_values_match_catsctl(s: LabSession):
    for attempt in range(3):
        p0, i0, d0 = (st_.ctl_json(s.lab, w) for w in ("paths", "instances", "decisions"))
        _, smp = scrape(s, "cpe")
        p1, i1, d1 = (st_.ctl_json(s.lab, w) for w in ("paths", "instances", "decisions"))
        w0 = {(d["service"], d["instance"], d["wan"]): d["weight"] for d in d0}
        w1 = {(d["service"], d["instance"], d["wan"]): d["weight"] for d in d1}
        if w0 == w1:
            break
        print(f"  weights moved between the reads (attempt {attempt + 1}), again")
    else:
        raise AssertionError("weights never stable across a scrape")

    after = {(x["wan"], x["vcpe"]): x for x in p1}
    for x in p0:
        y = after[(x["wan"], x["vcpe"])]
        lab = {"wan": x["wan"], "vcpe": x["vcpe"]}
        rtt = value(smp, "cats_path_rtt_seconds", **lab)
        assert rtt is not None and between(rtt, x["rtt_ms"] / 1e3, y["rtt_ms"] / 1e3, RTT_TOL_S), \
            f"{lab}: rtt {rtt} s vs catsctl {x['rtt_ms']} / {y['rtt_ms']} ms"
        loss = value(smp, "cats_path_loss_ratio", **lab)
        assert between(loss, x["loss_pct"] / 100, y["loss_pct"] / 100, LOSS_TOL), \
            f"{lab}: loss {loss} vs catsctl {x['loss_pct']} / {y['loss_pct']} %"
        up = value(smp, "cats_path_up", **lab)
        if x["state"] == y["state"]:
            assert up == (1 if x["state"] == "up" else 0), f"{lab}: up {up} vs state {x['state']}"

    inst_after = {(i["service"], i["instance"], i["vcpe"]): i for i in i1}
    assert len(i0) >= 2 and len(smp["cats_instance_available"]) == len(i0), (i0, smp["cats_instance_available"])
    for i in i0:
        j = inst_after[(i["service"], i["instance"], i["vcpe"])]
        lab = {"service": i["service"], "instance": i["instance"], "vcpe": i["vcpe"]}
        u = value(smp, "cats_instance_utilization_ratio", **lab)
        assert u is not None and between(u, i["utilization"], j["utilization"], UTIL_TOL), \
            f"{lab}: utilisation {u} vs catsctl {i['utilization']} / {j['utilization']}"
        assert value(smp, "cats_instance_vcpus", **lab) == i["vcpus"], lab
        if i["available"] == j["available"]:
            assert value(smp, "cats_instance_available", **lab) == (1 if i["available"] else 0), lab
        if i["processing_delay_ms"] is not None and j["processing_delay_ms"] is not None:
            pd = value(smp, "cats_instance_processing_delay_seconds", **lab)
            assert pd is not None, f"{lab}: no processing delay"

    weights = {dict(k)["service"] + "/" + dict(k)["instance"] + "/" + dict(k)["wan"]: v
               for k, v in smp["cats_service_weight"].items()}
    assert len(weights) == len(w0), (weights, w0)
    for (svc, inst, wan), w in w0.items():
        assert weights.get(f"{svc}/{inst}/{wan}") == w, f"{svc}/{inst}/{wan}: {weights.get(f'{svc}/{inst}/{wan}')} vs {w}"
    for svc in {k[0] for k in w0}:
        assert sum(v for k, v in weights.items() if k.startswith(svc + "/")) in (0, 1000), svc


# ------------------------------------------------------------------ 3. counters

def test_counters_monotonic(s: LabSession):
    _, a = scrape(s, "cpe")
    time.sleep(2.5)  # several reports (max interval 1 s) and probes
    _, b = scrape(s, "cpe")
    for name, series in a.items():
        if not name.endswith("_total"):
            continue
        for labels, v in series.items():
            w = b.get(name, {}).get(labels)
            assert w is not None and w >= v, f"{name}{dict(labels)}: {v} -> {w}"
    assert value(b, "cats_reports_received_total") > value(a, "cats_reports_received_total"), "no report counted"
    moved = [k for k, v in b["cats_wireguard_peer_receive_bytes_total"].items()
             if v > a["cats_wireguard_peer_receive_bytes_total"][k]]
    assert len(moved) == 4, f"probe traffic on every tunnel: {moved}"


# ------------------------------------------------------------------ 3b. request durations

def test_request_duration_histogram(s: LabSession):
    """cats_api_request_duration_seconds{route, code}: a histogram whose every series has
    monotone cumulative buckets, +Inf == _count, and a _sum that the buckets bound
    (each answer counted between its bucket's bounds); N requests to one route add N."""
    route, n = "/api/v1/config/schema", 7
    _, a = scrape(s, "cpe")
    for _ in range(n):
        status, _, _ = get(s, "cpe", route)
        assert status == 200, f"GET {route}: {status}"
    text, b = scrape(s, "cpe")
    assert families(text).get("cats_api_request_duration_seconds") == "histogram"
    name = "cats_api_request_duration_seconds"
    count_of = lambda smp, **lab: value(smp, name + "_count", **lab) or 0  # noqa: E731
    assert count_of(b, route=route, code="200") == count_of(a, route=route, code="200") + n, \
        (count_of(a, route=route, code="200"), count_of(b, route=route, code="200"))
    series = {}
    for labels, v in b.get(name + "_bucket", {}).items():
        lab = dict(labels)
        le = lab.pop("le")
        series.setdefault((lab["route"], lab["code"]), []).append((float(le), v))
    assert series and ("/metrics", "200") in series, sorted(series)
    for (rt, code), buckets in series.items():
        buckets.sort()
        les = [le for le, _ in buckets]
        counts = [c for _, c in buckets]
        assert les[-1] == float("inf") and len(set(les)) == len(les), (rt, code, les)
        assert all(x <= y for x, y in zip(counts, counts[1:])), f"{rt} {code}: buckets not monotone {buckets}"
        total = value(b, name + "_count", route=rt, code=code)
        ssum = value(b, name + "_sum", route=rt, code=code)
        assert total is not None and ssum is not None, f"{rt} {code}: no _count or _sum"
        assert counts[-1] == total and total > 0, f"{rt} {code}: +Inf {counts[-1]} vs _count {total}"
        # Each answer lies in (previous bound, its bound]: the sum lies between the sums
        # of the lower and of the upper bounds (unbounded above when some are in +Inf).
        lo = hi = 0.0
        prev_le, prev_c = 0.0, 0.0
        for le, c in buckets:
            lo += (c - prev_c) * prev_le
            hi += (c - prev_c) * le if c > prev_c else 0.0
            prev_le, prev_c = le, c
        assert lo - 1e-9 <= ssum <= hi + 1e-9 and ssum >= 0, f"{rt} {code}: _sum {ssum} outside [{lo}, {hi}]: {buckets}"
    print(f"  {len(series)} (route, code) series; {route} +{n}; buckets monotone, +Inf == _count, _sum bounded")


# ------------------------------------------------------------------ 4. flows

def test_long_lived_connections_counted_as_flows(s: LabSession):
    streams = [Stream(s.lab, "c1", VIP_APP1, interval_ms=200, timeout=10).start() for _ in range(3)]
    try:
        for st in streams:
            st.wait_replies(2, 10)

        def counted():
            _, smp = scrape(s, "cpe")
            n = sum(v for k, v in smp.get("cats_service_flows", {}).items() if dict(k)["service"] == "app1")
            assert n >= 3, f"app1 flows {n}: {smp.get('cats_service_flows')}"
            return smp
        smp = wait_until(counted, 12, "3 long-lived app1 connections in cats_service_flows")
        # Flows sit only on candidates that have (or had) a weight: never on an unknown one.
        flows = smp["cats_service_flows"]
        assert set(flows) <= set(smp["cats_service_weight"]), (flows, smp["cats_service_weight"])
    finally:
        for st in streams:
            st.stop()


# ------------------------------------------------------------------ 5. vCPEs

def test_vcpe_exposition_matches_cpe(s: LabSession):
    def cpe_instances():
        return {(i["vcpe"], i["service"], i["instance"]): i for i in st_.ctl_json(s.lab, "instances")}
    for node in ("cloud1", "cloud2"):
        # The CPE's figures just before and just after the vCPE's: a load that moves between
        # the reads (the previous test's traffic decaying) moves both ends.
        cpe_insts = cpe_instances()
        text, a = scrape(s, node)
        cpe_after = cpe_instances()
        fams = families(text)
        for name, typ in VCPE_FAMILIES.items():
            assert fams.get(name) == typ, f"{node}: family {name}: expected {typ}, got {fams.get(name)}"
        mine = {k: i for k, i in cpe_insts.items() if k[0] == node}
        assert mine, f"the CPE knows no instance of {node}"
        for (vcpe, svc, inst), i in mine.items():
            u = value(a, "cats_instance_utilization_ratio", service=svc, instance=inst, vcpe=vcpe)
            j = cpe_after.get((vcpe, svc, inst), i)
            assert u is not None and between(u, i["utilization"], j["utilization"], UTIL_TOL), \
                f"{node} {svc}/{inst}: utilisation {u} at the vCPE vs {i['utilization']}..{j['utilization']} at the CPE"
            assert value(a, "cats_instance_vcpus", service=svc, instance=inst, vcpe=vcpe) == i["vcpus"]
        assert value(a, "cats_build_info", version=value_label(a, "cats_build_info", "version")) == 1
        time.sleep(1.5)
        _, b = scrape(s, node)
        assert value(b, "cats_reports_sent_total") > value(a, "cats_reports_sent_total"), f"{node}: no report sent"
        assert value(b, "cats_start_time_seconds") == value(a, "cats_start_time_seconds")


def https_talk(s: LabSession, client: str, host: str, port: int, pin: str, steps: list[dict]):
    argv = s.lab.exec_argv(client, ["/usr/bin/python3", str(TOOLS / "https_session.py"), host, str(port), pin])
    cp = subprocess.run(argv, input=json.dumps(steps), capture_output=True, text=True, timeout=30)
    return json.loads(cp.stdout) if cp.returncode == 0 else None


def test_vcpe_https_read_only(s: LabSession):
    """Issue 9: cats-vcpe serves its own read-only status and /metrics on a configured
    address (off by default), over the same HTTPS server code: cloud1 restarted with a
    [management] section, read from the branch's LAN client c1 through the tunnel, pinned
    by the fingerprint its `catsctl status` shows (and its log). /metrics and status answer
    the listed source (with HSTS), every other route is 403 and a change 403 or 405, and a
    source outside metrics_allow (c2) is 403."""
    node, host, port = "cloud1", "10.2.1.1", 9443
    assert "tls_fingerprint_sha256" not in s.lab.status_json(node), "HTTPS on a vCPE without [management]"
    s.lab.stop_daemon(node)
    with open(cfg_.config_path(node), "a") as f:
        f.write(f'\n[management]\nlisten = ["{host}:{port}"]\nmetrics_allow = ["10.1.0.11/32"]\n')
    s.lab.start_daemon(node)
    fp = s.lab.status_json(node).get("tls_fingerprint_sha256")
    assert fp and len(fp) == 95, f"no certificate fingerprint in {node}'s status"
    log = Path(s.lab.state()["daemon_configs"][node]["state_dir"]) / "daemon.log"
    assert f"management API on https://{host}:{port}; certificate SHA-256 {fp}" in log.read_text(errors="replace")
    steps = [{"method": "GET", "path": "/metrics"}, {"method": "GET", "path": "/api/v1/status"},
             {"method": "GET", "path": "/api/v1/instances"}, {"method": "POST", "path": "/api/v1/status", "body": {}},
             {"method": "GET", "path": "/metrics", "headers": {"Accept-Encoding": "gzip"}},
             {"method": "GET", "path": "/metrics", "headers": {"Accept-Encoding": "gzip;q=0, identity"}}]
    # Through the tunnel: wait for cloud1's paths to come back after its restart.
    r = wait_until(lambda: https_talk(s, "c1", host, port, fp, steps), 30, f"{node}'s HTTPS answering c1")
    assert r[0]["status"] == 200 and r[0]["headers"]["content-type"] == CONTENT_TYPE, r[0]["headers"]
    assert "cats_reports_sent_total" in r[0]["body"] and "cats_build_info" in r[0]["body"], r[0]["body"][:300]
    assert r[0]["headers"].get("strict-transport-security", "").startswith("max-age="), r[0]["headers"]
    assert r[1]["status"] == 200 and r[1]["body"]["role"] == "vcpe", r[1]
    # Other routes: 403 from the read-only guard; a change: 405 (the router has no POST
    # route there; it answers before any guard), either way a JSON error and nothing done.
    assert r[2]["status"] == 403 and r[3]["status"] in (403, 405), (r[2], r[3])
    assert all(isinstance(x["body"].get("error"), dict) for x in r[2:4]), r[2:4]
    # As Prometheus asks for it: gzip (inflated by https_session.py), the same families,
    # parsed by the real parser; a client refusing gzip (q=0) gets the plain text.
    z, plain = r[4], r[5]
    assert z["status"] == 200 and z["headers"].get("content-encoding") == "gzip", z["headers"]
    assert z["headers"].get("vary") == "Accept-Encoding" and z["headers"]["content-type"] == CONTENT_TYPE, z["headers"]
    assert z["wire_bytes"] * 2 < len(z["body"].encode()), (z["wire_bytes"], len(z["body"]))
    assert "content-encoding" not in plain["headers"] and plain["wire_bytes"] == len(plain["body"].encode()), \
        plain["headers"]
    if text_string_to_metric_families:
        names = lambda t: {f.name for f in text_string_to_metric_families(t)}  # noqa: E731
        assert names(z["body"]) == names(r[0]["body"]), (names(z["body"]) ^ names(r[0]["body"]))
    other = https_talk(s, "c2", host, port, fp, steps[:1])
    assert other and other[0]["status"] == 403, f"a source outside metrics_allow: {other}"
    print(f"  {node} over HTTPS from c1: /metrics and status 200, instances {r[2]['status']}, POST {r[3]['status']}; "
          f"from c2 {other[0]['status']}; /metrics gzip {z['wire_bytes']} bytes for {len(z['body'].encode())}")


if __name__ == "__main__":
    sys.exit(main([
        test_cpe_exposition_parses_with_every_family,
        test_values_match_catsctl,
        test_counters_monotonic,
        test_request_duration_histogram,
        test_long_lived_connections_counted_as_flows,
        test_vcpe_exposition_matches_cpe,
        test_vcpe_https_read_only,
    ], scenario="fig4", daemons=True, services=True, setup=setup))
