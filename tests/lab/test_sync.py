#!/usr/bin/python3
"""Lab test (issue 9 "a service added at the CPE reaches the vCPE that fronts it", and
issue 14's tunnel-bound socket): the fig4 lab with its daemons.

Setup: cloud2's file narrows what a CPE may ask it to sample ([sampling_plan] allow =
["10.2.2.10/32"]); cloud2 restarts with it. Both vCPEs confirm the CPE's sampling plans,
which carry the revision the CPE's file was imported as (not 0: the services started
before the import).

1. Tunnels re-created: both of the CPE's WireGuard interfaces are deleted (the reconcile
   loop creates them again, with new interface indexes). With the paths up,
   the CPE's signed messages to the vCPE (desired intervals, plan refreshes) still
   arrive: their socket follows the new interfaces (tunsock, issue 14). Before the fix
   the CPE kept a socket bound to the dead index and sent nothing ever again.
2. A service added through the API (PATCH /api/v1/config, If-Match) with an instance
   behind cloud1 that cloud1's file does not list, and one behind cloud2 outside cloud2's
   allow-list: cloud1 samples the new instance (source "plan:branch1"), the CPE shows
   cloud1 in sync with the new revision and cloud2 in sync with that entry refused
   (not_allowed), cloud2 samples nothing new, and connections to the new VIP reach
   cloud1's app.
3. The same service's cloud1 instance carries a load source (load_url of cloud1's app):
   cloud1 samples it, so the CPE shows the instance's utilisation following the app's
   load (set to 80 %, then 20 %). A cloud2 instance inside cloud2's allow-list whose
   load_url host is outside it is refused (source_not_allowed).
4. A plan of several parts: two services of 20 instances each behind cloud1, each with a
   240-byte load_url (more than one datagram holds): cloud1 assembles and applies it
   (32 sampled at most, the rest refused over_limit) and the CPE shows it in sync with the
   new revision; removed, the plan is back to what it was.
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab import config as cfg_  # noqa: E402
from catslab.clients import count_instances  # noqa: E402
from test_config import current, patch  # noqa: E402

NEW = "app9"
NEW_VIP = "10.255.0.9"
CLOUD1_ADDR = "10.2.1.10:8080"   # cloud1's app; its file lists it for other services only
CLOUD2_ADDR = "10.2.2.20:8080"   # behind cloud2 for the CPE, outside cloud2's allow-list
CLOUD2_ALLOW = "10.2.2.10/32"
CLOUD1_LOAD = "http://10.2.1.10:8081/load"  # cloud1's app (catslab AppSpec.load_url)
CLOUD2_IN = "10.2.2.10:8080"     # inside cloud2's allow-list ...
CLOUD2_IN_LOAD = "http://10.2.2.11:8081/load"  # ... with a load source outside it


def ctl_json(s: LabSession, node: str, *args: str):
    cp = s.lab.catsctl(node, *args, "--json")
    assert cp.returncode == 0, f"catsctl {node} {' '.join(args)}: {cp.stderr}"
    return json.loads(cp.stdout)


def plans(s: LabSession) -> dict:
    return {p["vcpe"]: p for p in ctl_json(s, "cpe", "plans")["vcpes"]}


def all_in_sync(s: LabSession):
    p = plans(s)
    return p if p and all(v["state"] == "in_sync" for v in p.values()) else None


def setup(s: LabSession):
    path = cfg_.config_path("cloud2")
    s.lab.stop_daemon("cloud2")
    with open(path, "a") as f:
        f.write(f'\n[sampling_plan]\nallow = ["{CLOUD2_ALLOW}"]\n')
    s.lab.start_daemon("cloud2")
    p = wait_until(lambda: all_in_sync(s), 30, "both vCPEs in sync with the CPE's first plans")
    # The file became revision `rev` after the services started; the plans carry it.
    rev, _ = current(s)
    assert rev >= 1 and all(v["revision"] == rev for v in p.values()), (rev, p)


def paths_up(s: LabSession):
    ps = ctl_json(s, "cpe", "paths")
    return ps if ps and all(p["state"] == "up" for p in ps) else None


def cpe_messages(s: LabSession, vcpe: str) -> int:
    r = ctl_json(s, vcpe, "reports")
    return r["desired_interval"]["accepted"] + r["sampling_plans"]["accepted"]


def link_index(s: LabSession, name: str):
    out = s.lab.run_in("cpe", ["ip", "-o", "link", "show", "dev", name]).stdout
    return int(out.split(":", 1)[0]) if out.strip() else None


def test_tunnels_recreated(s: LabSession):
    wait_until(lambda: paths_up(s), 20, "every path up")
    tunnels = ("cats-wan1", "cats-wan2")
    before = {t: link_index(s, t) for t in tunnels}
    assert all(before.values()), f"tunnels missing before the test: {before}"
    for t in tunnels:
        s.lab.run_in("cpe", ["ip", "link", "del", t], check=True)
    # The reconcile loop (every 2 s) creates them again: same names, new indexes.
    wait_until(lambda: all((i := link_index(s, t)) and i != before[t] for t in tunnels) or None, 10,
               "both tunnels re-created with new interface indexes")
    wait_until(lambda: paths_up(s), 30, "paths up over the re-created tunnels")
    # Counted from here: anything that left before the deletion has arrived long ago.
    base = cpe_messages(s, "cloud1")
    t0 = time.monotonic()
    # Desired intervals and plan refreshes go every 10 s each (cpe/shared_state.hpp kDesiredTick);
    # a CPE that kept its socket bound to the deleted interfaces sends none of them.
    wait_until(lambda: cpe_messages(s, "cloud1") > base or None, 15,
               "a signed CPE message reaching cloud1 over the re-created tunnels")
    print(f"  first CPE message {time.monotonic() - t0:.1f} s after the paths were up again")


def instances_key(svc: dict) -> str:
    for k, v in svc.items():
        if isinstance(v, list) and v and isinstance(v[0], dict) and "vcpe" in v[0]:
            return k
    raise AssertionError(f"no instance list in {svc}")


def vcpe_instances(s: LabSession, vcpe: str) -> list[dict]:
    return ctl_json(s, vcpe, "instances")["instances"]


def test_service_added_reaches_vcpe(s: LabSession):
    before2 = sorted((i["service"], i["instance"]) for i in vcpe_instances(s, "cloud2"))
    rev, doc = current(s)
    svc = json.loads(json.dumps(next(x for x in doc["service"] if x["id"] == "app1")))
    svc["id"] = NEW
    svc["vip"] = NEW_VIP
    key = instances_key(svc)
    tmpl = svc[key][0]
    svc[key] = [dict(tmpl, vcpe="cloud1", address=CLOUD1_ADDR, load_url=CLOUD1_LOAD),
                dict(tmpl, vcpe="cloud2", address=CLOUD2_ADDR),
                dict(tmpl, vcpe="cloud2", address=CLOUD2_IN, load_url=CLOUD2_IN_LOAD)]
    st, _, body = patch(s, rev, [{"op": "add", "path": "/service/-", "value": svc}], "?comment=add+" + NEW)
    assert st == 200, f"adding {NEW}: {st} {body}"
    new_rev = body["revision"]
    t0 = time.monotonic()

    def synced():
        p = plans(s)
        ok = all(p[v]["state"] == "in_sync" and p[v]["revision"] == new_rev for v in ("cloud1", "cloud2"))
        return p if ok else None
    p = wait_until(synced, 10, f"both vCPEs in sync with revision {new_rev}")
    print(f"  in sync with revision {new_rev} {time.monotonic() - t0:.2f} s after the change")
    assert p["cloud1"]["refused"] == [], p["cloud1"]
    assert sorted(p["cloud2"]["refused"], key=lambda f: f["instance"]) == [
        {"service": NEW, "instance": CLOUD2_IN, "reason": "source_not_allowed"},
        {"service": NEW, "instance": CLOUD2_ADDR, "reason": "not_allowed"}], p["cloud2"]
    entry = next(i for i in p["cloud1"]["instances"] if i["service"] == NEW)
    assert entry.get("load_url") == CLOUD1_LOAD, entry

    def sampled():
        for i in vcpe_instances(s, "cloud1"):
            if i["service"] == NEW and i["instance"] == CLOUD1_ADDR and i["available"]:
                return i
        return None
    got = wait_until(sampled, 5, f"cloud1 sampling {NEW} at {CLOUD1_ADDR} and finding it available")
    assert got["source"] == "plan:branch1", got
    after2 = sorted((i["service"], i["instance"]) for i in vcpe_instances(s, "cloud2"))
    assert after2 == before2, f"cloud2 took a refused entry: {before2} -> {after2}"

    # The CPE knows the instance from cloud1's reports, and steers the new VIP there.
    wait_until(lambda: any(i["vcpe"] == "cloud1" and i["service"] == NEW and i["available"]
                           for i in ctl_json(s, "cpe", "instances")) or None,
               5, f"the CPE seeing cloud1's {NEW} instance available")
    r = {}

    def steered():
        nonlocal r
        r = count_instances(s.lab, "c1", f"{NEW_VIP}:80", 20, timeout=1.0)
        return r if r.get("counts") == {"app1-cloud1": 20} else None
    wait_until(steered, 10, f"connections to {NEW_VIP} reaching cloud1's app", interval=0.5)
    assert not any(i["service"] == NEW for i in ctl_json(s, "cpe", "instances") if i["vcpe"] == "cloud2"), \
        "cloud2 reported the refused instance"

    # The Prometheus view of the same state.
    st = s.lab.run_in("cpe", ["curl", "-sS", "--max-time", "5", "--unix-socket",
                              s.lab.daemon_entry("cpe")["socket"], "http://cpe/metrics"])
    assert 'cats_vcpe_plan_in_sync{vcpe="cloud1"} 1' in st.stdout, st.stdout[-2000:]
    assert f'cats_vcpe_plan_revision{{vcpe="cloud2"}} {new_rev}' in st.stdout, st.stdout[-2000:]
    assert 'cats_vcpe_plan_refused{vcpe="cloud2"} 2' in st.stdout, st.stdout[-2000:]
    assert f"{NEW}/{CLOUD2_ADDR}:not_allowed" in ctl_plain(s), "catsctl plans shows no refusal"


def test_plan_load_source_gives_utilisation(s: LabSession):
    """Runs after test_service_added_reaches_vcpe (NEW exists, cloud1 samples it)."""
    def new_at_cloud1():
        return next((i for i in ctl_json(s, "cpe", "instances") if i["vcpe"] == "cloud1" and i["service"] == NEW), None)
    before = s.lab.app_load("cloud1")
    try:
        for target in (0.8, 0.2):
            s.lab.set_app_load("cloud1", target)
            t0 = time.monotonic()
            got = wait_until(lambda: (i := new_at_cloud1()) and i["utilization"] is not None
                             and abs(i["utilization"] - target) <= 0.1 and i, 5,
                             f"the CPE showing {NEW} at cloud1 at {target:.0%} utilisation (from its plan's load_url)",
                             interval=0.1)
            print(f"  {NEW} at cloud1: utilisation {got['utilization']:.2f} "
                  f"{(time.monotonic() - t0) * 1000:.0f} ms after the app's load was set to {target}")
    finally:
        s.lab.set_app_load("cloud1", float(before.get("background", 0)))


def test_multi_part_plan(s: LabSession):
    """A plan of several parts, applied whole (report.hpp "A plan travels in 1..16 parts";
    vcpe/plan.hpp PlanAssembler). Two services of BIG instances each behind cloud1 (a
    service holds at most 32 instances: 64 candidates over fig4's two WANs), every
    instance with a load_url of URL_LEN bytes: cloud1's plan then holds more than
    BIG x 2 x URL_LEN bytes of URLs alone, more than one datagram (8192 bytes) can carry,
    so the CPE must split it. cloud1 assembles the parts, applies what its
    sampling_plan.max_instances (32) leaves room for and refuses the rest as over_limit,
    and the CPE shows it in sync with the new revision. Removing the services brings the
    plan back to what it was."""
    big, url_len = 20, 240
    rev, doc = current(s)
    before = plans(s)["cloud1"]
    old_entries = len(before["instances"])
    parts0 = ctl_json(s, "cloud1", "reports")["sampling_plans"]["accepted"]
    tmpl = next(x for x in doc["service"] if x["id"] == "app1")
    key = instances_key(tmpl)
    ops = []
    for n in range(2):
        svc = {k: v for k, v in json.loads(json.dumps(tmpl)).items() if k != key}
        svc.update(id=f"plan{n}", vip=f"10.255.0.{20 + n}")
        insts = []
        for k in range(big):
            host = f"10.2.1.{100 + n * big + k}"
            path = "/load/" + "p" * url_len
            url = f"http://{host}:8081{path}"[:url_len]
            insts.append(dict(tmpl[key][0], vcpe="cloud1", address=f"{host}:8080", load_url=url))
        assert len(insts[0]["load_url"]) == url_len
        svc[key] = insts
        ops.append({"op": "add", "path": "/service/-", "value": svc})
    assert 2 * big * url_len > 8192, "test bug: the plan would fit one datagram"
    st, _, body = patch(s, rev, ops, "?comment=two+big+services")
    assert st == 200, f"adding two services of {big} instances: {st} {body}"
    new_rev = body["revision"]
    t0 = time.monotonic()

    def synced():
        p = plans(s)["cloud1"]
        return p if p["state"] == "in_sync" and p["revision"] == new_rev else None
    p = wait_until(synced, 10, f"cloud1 in sync with revision {new_rev} (a plan of several parts)")
    took = time.monotonic() - t0
    assert len(p["instances"]) == old_entries + 2 * big, (old_entries, len(p["instances"]))
    # cloud1's view of the same plan: every entry of every part, assembled.
    seen = ctl_json(s, "cloud1", "reports")["sampling_plans"]
    mine = seen["cpes"]["branch1"]
    assert mine["revision"] == new_rev and mine["entries"] == len(p["instances"]), mine
    assert seen["accepted"] - parts0 >= 2, f"cloud1 accepted {seen['accepted'] - parts0} plan datagrams"
    # Room: max_instances (32) plan-only instances at cloud1; the fig4 file's own are covered.
    plan_only = [i for i in p["instances"] if i["service"].startswith("plan") or i["service"] == NEW]
    refused = p["refused"]
    assert {f["reason"] for f in refused} == {"over_limit"}, refused
    # applied = sampled + covered by the file; every entry is one or the other, or refused.
    assert len(refused) == len(plan_only) - 32 and p["applied"] + len(refused) == len(p["instances"]), \
        (len(plan_only), p["applied"], refused)
    sampled = [i for i in vcpe_instances(s, "cloud1") if i["service"].startswith("plan")]
    assert all(i["source"] == "plan:branch1" for i in sampled), sampled
    assert len(sampled) + sum(1 for f in refused if f["service"].startswith("plan")) == 2 * big, \
        (len(sampled), refused)
    print(f"  a plan of {len(p['instances'])} entries (> 8192 bytes) in sync {took:.2f} s after the change: "
          f"{len(sampled)} sampled, {len(refused)} over_limit; cloud1 took {seen['accepted'] - parts0} datagrams")
    # Back as it was.
    r2, d2 = current(s)
    idx = sorted((i for i, x in enumerate(d2["service"]) if x["id"].startswith("plan")), reverse=True)
    st, _, body = patch(s, r2, [{"op": "remove", "path": f"/service/{i}"} for i in idx])
    assert st == 200, f"removing the two services: {st} {body}"
    wait_until(lambda: (q := plans(s)["cloud1"])["state"] == "in_sync" and len(q["instances"]) == old_entries
               and not q["refused"] or None, 10, "cloud1's plan back to what it was")
    wait_until(lambda: not any(i["service"].startswith("plan") for i in vcpe_instances(s, "cloud1")) or None, 5,
               "cloud1 no longer sampling the removed services")


def ctl_plain(s: LabSession) -> str:
    return s.lab.catsctl("cpe", "plans").stdout


if __name__ == "__main__":
    sys.exit(main([test_tunnels_recreated, test_service_added_reaches_vcpe, test_plan_load_source_gives_utilisation,
                   test_multi_part_plan],
                  scenario="fig4", daemons=True,
                  setup=setup))
