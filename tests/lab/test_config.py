#!/usr/bin/python3
"""Lab test (issue 9, configuration owned by SQLite): the real cats-cpe in fig4 with its
real SQLite file, changed through /api/v1/config on its control socket while traffic runs.

1. The file bootstraps revision 1; GET gives the document with ETag "1", secrets redacted.
2. Live apply: removing a service and adding it back (PATCH, If-Match) takes effect without
   a restart: its VIP stops answering, then answers within 2 s of the answer to the add,
   while a long-lived connection on another service runs without an error, and the other
   services keep their weights ("kept across a configuration change").
   Candidate ids are stable: removing a service in the middle (app1b) while a long flow
   runs on a later one (app1c) leaves every other service's candidate marks as they were
   (read from the kernel), the flow's ct mark stays one of app1c's, the flow runs on
   without an error, and adding app1b back gives it marks no other candidate holds.
3. Refusals change nothing (revision, nft ruleset, rules and routes identical): a stale
   If-Match (409 with the current ETag), no If-Match (428), not JSON, an invalid field
   (400 naming its JSON pointer), a setting fixed while running (400), a WAN on an
   interface the host does not have (400 at /wan/N/interface, in a dry run too), and an
   apply that fails in the daemon (a WAN gateway off its subnet: 500 apply_failed). A dry run
   (?dry_run=1) answers the checks and the diff, and changes nothing.
   Two edits of the same revision sent at the same instant: one is applied, the other
   gets 409 with the new ETag, and the document holds the winner's change only.
4. Safe apply: a change with confirm_within=2 that is not confirmed reverts by itself (a
   revision by "cats"), and the VIP answers again; one that is confirmed stays.
5. History: `catsctl config set/diff/history` against the daemon, the revisions list, a
   text diff, the audit row of a change (root, its diff), a broken import refused and an
   edited export imported as the next revision, and a revert to revision 1 that gives
   revision 1's document byte for byte.
   A WAN's cost (1000) through PATCH is tuning only (no restart): app1's candidates over
   that WAN are at weight 0 within 2 s ("configured: wan2 cost 0 -> 1000 ms" in the
   weights event), and weighted again within 2 s of the cost back at 0.
   The probe interval through PATCH (50 ms -> 250 ms -> back): every path's probe rate
   follows (about 20/s, 4/s, 20/s), the daemon's pid unchanged.
6. A locked database refuses a change (503 storage) and changes nothing; kill -9 during
   an apply leaves, after a start, the old or the new revision with the kernel converged
   to it.
7. Ownership across restarts: kill -9 and start runs the database's revision, not the
   file; an edit of the file is ignored with a warning; --reimport makes it a revision.
8. A full disk: the database on a small tmpfs, filled to the last page. The history
   writer's failure is logged; a change is refused (503 storage, "full") with the revision
   and the kernel unchanged; once space is freed the same change is accepted, with no
   restart.
"""
import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab import steering as st_  # noqa: E402
from catslab.clients import Stream, count_instances  # noqa: E402

SVC = "app1c"            # removed and added back; the last HTTP service but one
SVC_VIP = "10.255.0.6:80"
LONG_VIP = "10.255.0.1:80"  # app1: the long-lived connection


def api(s: LabSession, method: str, path: str, body=None, headers: dict | None = None):
    """(status, headers, body) of one request on the CPE's root-only control socket."""
    sock = s.lab.daemon_entry("cpe")["socket"]
    argv = ["curl", "-sS", "--max-time", "30", "--unix-socket", sock, "-X", method, "-D", "-", f"http://cpe{path}"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    if body is not None:
        argv += ["--data-binary", "@-"]
    cp = subprocess.run(argv, input=body if isinstance(body, str) or body is None else json.dumps(body),
                        capture_output=True, text=True, timeout=40)
    assert cp.returncode == 0, f"curl {method} {path}: {cp.stderr}"
    head, _, text = cp.stdout.partition("\n\n")  # text mode: CRLF read as LF
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, hdrs, parsed


def current(s: LabSession):
    st, h, doc = api(s, "GET", "/api/v1/config")
    assert st == 200, f"GET /api/v1/config: {st} {doc}"
    return int(h["etag"].strip('"')), doc


def patch(s: LabSession, rev, ops, query: str = ""):
    return api(s, "PATCH", "/api/v1/config" + query, ops, {"If-Match": f'"{rev}"',
                                                          "Content-Type": "application/json-patch+json"})


def kernel(s: LabSession) -> dict:
    """The structure the daemon owns in the CPE: the steering table's fingerprint (its
    weights move with the selector, so they are left out), ip rules, our routes, links."""
    r = st_.ruleset(s.lab)
    m = re.search(r'comment "cats:[0-9a-f]+"', r["nft"])
    links = s.lab.run_in("cpe", ["ip", "-br", "link"]).stdout
    return {"nft": m.group(0) if m else r["nft"], "rules": r["rules"], "routes": r["routes"], "links": links}


def answers(s: LabSession, vip: str) -> bool:
    r = count_instances(s.lab, "c1", vip, 1, timeout=0.5)
    return sum(r.get("counts", {}).values()) == 1


def index_of(doc, sid: str) -> int:
    return [x["id"] for x in doc["service"]].index(sid)


def log_text(s: LabSession) -> str:
    return (Path(s.lab.daemon_entry("cpe")["socket"]).parent / "daemon.log").read_text(errors="replace")


def test_bootstrap_revision(s: LabSession):
    rev, doc = current(s)
    assert rev == 1, f"the file should be revision 1, is {rev}"
    st, _, revs = api(s, "GET", "/api/v1/config/revisions")
    assert st == 200 and revs["revisions"][-1]["author"] == "bootstrap", revs
    assert SVC in [x["id"] for x in doc["service"]], doc["service"]
    if "auth_key" in doc.get("probing", {}):
        assert doc["probing"]["auth_key"] == "<redacted>", "a secret in a GET answer"


def daemon_identity(s: LabSession) -> dict:
    """What changes if cats-cpe restarts: its pid (the lab's record, alive and cats-cpe),
    the process's start time in ticks since boot (proc(5) stat field 22), and the daemon's
    own start time (cats_start_time_seconds: an in-place re-exec, SIGUSR2, keeps the pid
    but resets it)."""
    pid = s.lab.daemon_entry("cpe")["pid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    assert Path(exe).name.startswith("cats-cpe"), f"pid {pid} is {exe}, not cats-cpe"
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    st, _, text = api(s, "GET", "/metrics")
    m = re.search(r"^cats_start_time_seconds (\S+)$", text if isinstance(text, str) else "", re.M)
    assert st == 200 and m, f"/metrics: {st} no cats_start_time_seconds"
    return {"pid": pid, "proc_start_ticks": ticks, "cats_start_time_seconds": float(m.group(1))}


def test_live_remove_and_add(s: LabSession):
    wait_until(lambda: answers(s, SVC_VIP) or None, 20, f"{SVC} answering before the change")
    before = daemon_identity(s)
    stream = Stream(s.lab, "c2", LONG_VIP, interval_ms=15, timeout=12).start()
    try:
        stream.wait_replies(10, 10)
        rev, doc = current(s)
        i = index_of(doc, SVC)
        svc = doc["service"][i]
        st, h, body = patch(s, rev, [{"op": "remove", "path": f"/service/{i}"}], "?comment=remove+" + SVC)
        assert st == 200 and body["revision"] == rev + 1, f"remove: {st} {body}"
        wait_until(lambda: not answers(s, SVC_VIP) or None, 5, f"{SVC} VIP to stop answering once removed")
        st, h, body = patch(s, rev + 1, [{"op": "add", "path": f"/service/{i}", "value": svc}])
        t_added = time.monotonic()
        assert st == 200 and body["revision"] == rev + 2, f"add: {st} {body}"
        wait_until(lambda: answers(s, SVC_VIP) or None, 2, f"{SVC} VIP to answer within 2 s of the add")
        took = time.monotonic() - t_added
        stream.wait_replies_after(time.monotonic(), 20, 10)
        assert not stream.errors(), f"the long-lived app1 connection broke: {stream.errors()[:3]}"
        print(f"  {SVC} answered {took * 1000:.0f} ms after the add was acknowledged")
    finally:
        stream.stop()
    assert "kept the weights of" in log_text(s), "unchanged services did not keep their weights"
    after = daemon_identity(s)
    assert after == before, f"applied by a restart, not live: {before} -> {after}"


def test_remove_keeps_later_marks(s: LabSession):
    gone, later, later_vip = "app1b", "app1c", "10.255.0.6"
    wait_until(lambda: answers(s, SVC_VIP) or None, 20, f"{later} answering before the change")
    before = st_.candidate_marks(s.lab)
    assert gone in before and later in before and len(before) >= 3, before
    stream = Stream(s.lab, "c2", f"{later_vip}:80", interval_ms=15, timeout=12).start()
    try:
        stream.wait_replies(10, 10)
        port = stream.connects()[0]["port"]
        flow = [e for e in st_.ct_entries(s.lab, dst=later_vip) if e["sport"] == port]
        assert len(flow) == 1 and flow[0]["mark"] in before[later].values(), (flow, before[later])
        rev, doc = current(s)
        i = index_of(doc, gone)
        svc = doc["service"][i]
        st, _, body = patch(s, rev, [{"op": "remove", "path": f"/service/{i}"}], "?comment=remove+" + gone)
        assert st == 200, f"remove: {st} {body}"
        after = st_.candidate_marks(s.lab)
        want = {k: v for k, v in before.items() if k != gone}
        assert after == want, f"marks moved when {gone} was removed:\n before {want}\n after  {after}"
        now = [e for e in st_.ct_entries(s.lab, dst=later_vip) if e["sport"] == port]
        assert now and now[0]["mark"] == flow[0]["mark"], (flow, now)
        stream.wait_replies_after(time.monotonic(), 20, 10)
        assert not stream.errors(), f"the long-lived {later} connection broke: {stream.errors()[:3]}"
        st, _, body = patch(s, rev + 1, [{"op": "add", "path": f"/service/{i}", "value": svc}])
        assert st == 200, f"add: {st} {body}"
        readded = st_.candidate_marks(s.lab)
        assert {k: v for k, v in readded.items() if k != gone} == want, readded
        held = {m for k, v in want.items() for m in v.values()}
        new = set(readded[gone].values())
        assert len(new) == len(before[gone]) and not new & held, f"{gone} re-added with marks {new}; held {held}"
        stream.wait_replies_after(time.monotonic(), 10, 10)
        assert not stream.errors(), f"the long-lived {later} connection broke: {stream.errors()[:3]}"
        print(f"  {later}'s marks {sorted(hex(m) for m in before[later].values())} kept across removing {gone}; "
              f"{gone} came back as {sorted(hex(m) for m in new)} (was {sorted(hex(m) for m in before[gone].values())})")
    finally:
        stream.stop()


def test_refusals_change_nothing(s: LabSession):
    wait_until(lambda: answers(s, SVC_VIP) or None, 10, f"{SVC} answering")
    rev, doc = current(s)
    before = kernel(s)
    st, h, body = patch(s, rev - 1, [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 20}])
    assert st == 409 and body["error"]["code"] == "conflict" and h.get("etag") == f'"{rev}"', f"stale: {st} {h} {body}"
    st, _, body = api(s, "PATCH", "/api/v1/config", [], {})
    assert st == 428, f"no If-Match: {st} {body}"
    st, _, body = api(s, "PUT", "/api/v1/config", "{not json", {"If-Match": f'"{rev}"'})
    assert st == 400 and body["error"]["code"] == "invalid", f"not JSON: {st} {body}"
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/service/0/vip", "value": "10.255.0.300"}])
    assert st == 400 and [f["field"] for f in body["error"]["fields"]] == ["/service/0/vip"], f"invalid: {body}"
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/cpe/control_socket", "value": "/tmp/x.sock"}])
    assert st == 400 and "/cpe/control_socket" in [f["field"] for f in body["error"]["fields"]], f"fixed: {body}"
    # An interface this host does not have cannot be applied: refused at its field, first.
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/wan/1/interface", "value": "nosuch0"}])
    assert st == 400 and [f["field"] for f in body["error"]["fields"]] == ["/wan/1/interface"], f"no interface: {body}"
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/wan/1/interface", "value": "nosuch0"}], "?dry_run=1")
    assert st == 400 and [f["field"] for f in body["error"]["fields"]] == ["/wan/1/interface"], f"no interface, dry run: {body}"
    # A gateway no route can use (not on the WAN's subnet): the kernel refuses the route
    # when the daemon applies it, and the daemon goes back to the running revision.
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/wan/1/gateway", "value": "198.51.100.1"}])
    assert st == 500 and body["error"]["code"] == "apply_failed", f"failed apply: {st} {body}"
    # A dry run answers the checks and the diff a commit would make, and changes nothing.
    ops = [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 21}]
    st, _, body = patch(s, rev, ops, "?dry_run=1")
    assert st == 200 and body["dry_run"] and body["revision"] == rev, f"dry run: {st} {body}"
    assert body["diff"] == [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 21}], body
    assert body["text"].startswith("~ /selection/hysteresis_pct: "), body["text"]
    st, _, body = patch(s, rev, [{"op": "replace", "path": "/service/0/vip", "value": "10.255.0.300"}], "?dry_run=1")
    assert st == 400 and [f["field"] for f in body["error"]["fields"]] == ["/service/0/vip"], f"invalid dry run: {body}"
    st, _, body = patch(s, rev - 1, ops, "?dry_run=1")
    assert st == 409, f"stale dry run: {st} {body}"
    rev2, doc2 = current(s)
    assert (rev2, doc2) == (rev, doc), f"a refused change changed the configuration: {rev} -> {rev2}"
    after = kernel(s)
    assert after == before, f"a refused change changed the kernel:\n{st_.diff_ruleset(before, after)}"
    assert answers(s, SVC_VIP), f"{SVC} stopped answering after refused changes"


def test_concurrent_edits(s: LabSession):
    """Issue 9 "two concurrent edits: one wins, the other gets 409": two clients read the
    same revision and send their changes at the same instant (one structural, a service's
    ports, which restarts the services and takes the longest; one selection tuning): one is
    applied, the other gets 409 with the new ETag, and the document holds the winner's
    change only."""
    rev, doc = current(s)
    i = index_of(doc, SVC)
    ports = doc["service"][i]["ports"]
    ops = {"ports": [{"op": "replace", "path": f"/service/{i}/ports", "value": ports + [8080]}],
           "hyst": [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 17}]}
    res: dict = {}
    go = threading.Barrier(len(ops))

    def send(k):
        go.wait()
        res[k] = patch(s, rev, ops[k])
    threads = [threading.Thread(target=send, args=(k,)) for k in ops]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    status = {k: r[0] for k, r in res.items()}
    assert sorted(status.values()) == [200, 409], f"two edits of revision {rev}: {status} {res}"
    won = next(k for k, v in status.items() if v == 200)
    lost = next(k for k, v in status.items() if v == 409)
    assert res[lost][1].get("etag") == f'"{rev + 1}"', f"the 409 does not name the new revision: {res[lost]}"
    r2, d2 = current(s)
    assert r2 == rev + 1, f"revision {r2} after two edits of {rev}"
    got = {"ports": d2["service"][i]["ports"] != ports, "hyst": d2["selection"].get("hysteresis_pct") == 17}
    assert got == {won: True, lost: False}, f"{won} won, yet the document has {got}"
    print(f"  two edits of revision {rev}: {won} applied (200), {lost} refused (409)")
    # Back to the document before (a change of its own, against the current revision).
    back = ports if won == "ports" else doc["selection"]["hysteresis_pct"]
    st, _, body = patch(s, r2, [{"op": "replace", "path": ops[won][0]["path"], "value": back}])
    assert st == 200, f"restoring: {st} {body}"
    wait_until(lambda: answers(s, SVC_VIP) or None, 10, f"{SVC} answering after the edits")


def test_unconfirmed_change_reverts(s: LabSession):
    rev, doc = current(s)
    i = index_of(doc, SVC)
    st, _, body = patch(s, rev, [{"op": "remove", "path": f"/service/{i}"}], "?confirm_within=2")
    assert st == 200 and body["pending"]["base"] == rev, f"pending change: {st} {body}"
    wait_until(lambda: not answers(s, SVC_VIP) or None, 5, f"{SVC} gone while the change is pending")
    def reverted():
        r, d = current(s)
        return (r, d) if r == rev + 2 else None
    r, d = wait_until(reverted, 8, "the unconfirmed change to revert by itself")
    assert d == doc, "the revert did not restore the document"
    _, _, revs = api(s, "GET", "/api/v1/config/revisions?limit=1")
    assert revs["revisions"][0]["author"] == "cats" and "expired" in revs["revisions"][0]["comment"], revs
    wait_until(lambda: answers(s, SVC_VIP) or None, 3, f"{SVC} answering again after the revert")
    # Confirmed in time, it stays.
    st, _, body = patch(s, r, [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 12}], "?confirm_within=30")
    assert st == 200 and body["pending"], body
    st, _, c = api(s, "POST", "/api/v1/config/confirm", {"revision": body["revision"]})
    assert st == 200 and c["confirmed"], c
    _, _, revs = api(s, "GET", "/api/v1/config/revisions?limit=1")
    assert revs["pending"] is None and revs["revisions"][0]["confirmed_ms"], revs


def test_history_and_revert(s: LabSession):
    rev, _ = current(s)
    # A part by id: PUT /api/v1/config?path=/service/app1/service_time_ms (tuning: no restart).
    restarts = log_text(s).count("paths probed")
    st, _, body = api(s, "PUT", "/api/v1/config?path=/service/app1/service_time_ms", 21, {"If-Match": f'"{rev}"'})
    assert st == 200 and body["revision"] == rev + 1, f"PUT a part: {st} {body}"
    assert log_text(s).count("paths probed") == restarts, "a tuning-only change restarted the services"
    rev += 1
    # catsctl makes a change against the revision it just read (If-Match); tuning only,
    # it goes to the running selector: no services restart.
    restarts = log_text(s).count("paths probed")
    cp = s.lab.catsctl("cpe", "config", "set", "/selection/hold_down_ms", "1200", "--comment", "by catsctl",
                       timeout=40)
    assert cp.returncode == 0 and cp.stdout.strip() == f"revision {rev + 1}", f"catsctl config set: {cp.stdout} {cp.stderr}"
    assert f"applying revision {rev + 1} (PATCH, tuning only)" in log_text(s), "not applied as a tuning change"
    assert log_text(s).count("paths probed") == restarts, "a tuning-only change restarted the services"
    cp = s.lab.catsctl("cpe", "config", "diff", str(rev), str(rev + 1))
    assert cp.stdout.strip() == "~ /selection/hold_down_ms: 1000 -> 1200", f"catsctl config diff: {cp.stdout!r}"
    cp = s.lab.catsctl("cpe", "config", "history", "--limit", "1")
    assert "by catsctl" in cp.stdout and "root" in cp.stdout, f"catsctl config history: {cp.stdout}"
    # The audit log has who changed what, from where, with the diff (issue 9 "An audit log").
    st, _, audit = api(s, "GET", "/api/v1/audit")
    mine = [e for e in audit["entries"] if e["action"] == "config_change" and e["subject"] == f"revision {rev + 1}"]
    assert st == 200 and len(mine) == 1, f"audit rows of revision {rev + 1}: {mine} ({st})"
    assert mine[0]["actor"] == "root" and mine[0]["ts_ms"] > 0, mine[0]
    assert mine[0]["detail"].strip() == "~ /selection/hold_down_ms: 1000 -> 1200", mine[0]
    rev += 1
    st, _, text = api(s, "GET", f"/api/v1/config/diff?from=1&to={rev}&format=text")
    assert st == 200 and "/selection/hysteresis_pct: 10 -> 12" in text, f"diff: {st} {text!r}"
    # Import (issue 9 "export and import the whole configuration"): a broken document is
    # refused with nothing changed; the export, edited, comes back as the next revision.
    st, _, body = api(s, "POST", "/api/v1/config/import", '{"cpe": {"name": "x"}, "cpe": {}}', {"If-Match": f'"{rev}"'})
    assert st == 400 and body["error"]["fields"][0]["field"] == "/cpe", f"broken import: {st} {body}"
    assert current(s)[0] == rev, "a broken import changed the configuration"
    _, _, exported = api(s, "GET", "/api/v1/config/export")
    exported["selection"]["hold_down_ms"] = 1300
    st, _, body = api(s, "POST", "/api/v1/config/import", exported, {"If-Match": f'"{rev}"'})
    assert st == 200 and body["revision"] == rev + 1, f"import: {st} {body}"
    r_imp, d_imp = current(s)
    assert r_imp == rev + 1 and d_imp["selection"]["hold_down_ms"] == 1300, (r_imp, d_imp["selection"])
    rev += 1
    st, _, body = api(s, "POST", "/api/v1/config/revert", {"revision": 1, "comment": "back to the file"})
    assert st == 200 and body["revision"] == rev + 1, body
    _, one = api(s, "GET", "/api/v1/config/export?revision=1")[1:]
    _, now = api(s, "GET", "/api/v1/config/export")[1:]
    assert one == now, "revert to revision 1 did not give revision 1's document"


def test_wan_cost_live(s: LabSession):
    """A WAN's cost through the API is selection tuning (docs/SELECTION.md "WAN cost and
    weight"): no restart, and the next decision takes that WAN's weight away, at once;
    back to 0, it shares again."""
    rev, doc = current(s)
    wi = len(doc["wan"]) - 1
    wan = doc["wan"][wi]["name"]

    def app1(want_zero: bool):
        st, _, ds = api(s, "GET", "/api/v1/decisions")
        mine = [d for d in ds if d["service"] == "app1" and d["wan"] == wan] if st == 200 else []
        if not mine:
            return None
        if want_zero:
            return mine if all(d["weight"] == 0 and d["wan_cost_ms"] == 1000 for d in mine) else None
        return mine if any(d["weight"] > 0 for d in mine) and all(d["wan_cost_ms"] == 0 for d in mine) else None

    wait_until(lambda: app1(False), 10, f"app1 weighted over {wan} before the change")
    restarts = log_text(s).count("paths probed")
    st, _, body = patch(s, rev, [{"op": "replace", "path": f"/wan/{wi}/cost", "value": 1000}])
    assert st == 200 and body["revision"] == rev + 1, f"PATCH cost: {st} {body}"
    t = time.monotonic()
    # The steering tick is 0.1-0.2 s; a damped step would take seconds and stop short of 0.
    wait_until(lambda: app1(True), 2, f"app1's candidates over {wan} at 0 with its cost 1000")
    took = time.monotonic() - t
    assert f"applying revision {rev + 1} (PATCH, tuning only)" in log_text(s), "a WAN cost change was not tuning"
    assert log_text(s).count("paths probed") == restarts, "a WAN cost change restarted the services"
    def named():  # the weights event of that publication gives the reason (history is written behind)
        st, _, evs = api(s, "GET", "/api/v1/events?kind=weights&subject=app1&newest=1&limit=50")
        items = evs.get("events", []) if isinstance(evs, dict) else evs or []
        return st == 200 and any(f"configured: {wan} cost 0 -> 1000 ms" in e["detail"] for e in items)
    wait_until(named, 5, "a weights event of app1 naming the configured cost")
    st, _, body = patch(s, rev + 1, [{"op": "replace", "path": f"/wan/{wi}/cost", "value": 0}])
    assert st == 200, f"PATCH cost back: {st} {body}"
    wait_until(lambda: app1(False), 2, f"app1 weighted over {wan} again with its cost 0")
    print(f"  {wan} cost 1000: its app1 weight 0 after {took * 1000:.0f} ms, no restart")


def test_probing_live(s: LabSession):
    """Issue 9 "the overlay, probing and steering reconfigure live, without a restart": the
    probe interval changed through the API (50 ms, the default, to 250 ms and back) changes
    how fast every path is probed, with the daemon's pid unchanged and the paths up."""
    pid = s.lab.daemon_entry("cpe")["pid"]

    def rate(seconds=2.0) -> float:
        def sent():
            ps = json.loads(s.lab.catsctl("cpe", "paths", "--json").stdout)
            return {(p["wan"], p["vcpe"]): p["sent"] for p in ps}
        wait_until(lambda: all(p["state"] == "up" for p in json.loads(s.lab.catsctl("cpe", "paths", "--json").stdout))
                   or None, 15, "every path up")
        a, t0 = sent(), time.monotonic()
        time.sleep(seconds)  # a rate is counted over a span: no event to wait for
        b, t1 = sent(), time.monotonic()
        assert a.keys() == b.keys() and all(b[k] >= a[k] for k in a), (a, b)
        return min(b[k] - a[k] for k in a) / (t1 - t0)

    before = rate()
    rev, doc = current(s)
    had = "probing" in doc
    op = ({"op": "add", "path": "/probing/interval_ms", "value": 250} if had else
          {"op": "add", "path": "/probing", "value": {"interval_ms": 250}})
    st, _, body = patch(s, rev, [op])
    assert st == 200, f"probing interval 250 ms: {st} {body}"
    slow = rate()
    st, _, body = patch(s, rev + 1, [{"op": "remove", "path": op["path"]}])
    assert st == 200, f"probing interval back: {st} {body}"
    again = rate()
    assert s.lab.daemon_entry("cpe")["pid"] == pid, "the daemon restarted"
    # 50 ms -> 20 probes/s per path, 250 ms -> 4/s (the slowest path of each span).
    assert before > 14 and 2.5 < slow < 5.5 and again > 14, (before, slow, again)
    print(f"  probes per path per second: {before:.1f} -> {slow:.1f} (interval 250 ms) -> {again:.1f}, no restart")


def test_add_vcpe(s: LabSession):
    """POST /api/v1/vcpes: the bundle for a new vCPE (the CPE's keys, a vcpe.toml that
    cats-vcpe accepts, cloud-init user-data); bad requests name their field; with the vCPE's
    keys pasted back, the vCPE is added as a revision the daemon applies live, through the
    same path as every change: If-Match (428, 409), dry_run, confirm_within (an unconfirmed
    add reverts by itself) and comment."""
    req = {"name": "cloud9", "endpoint": "203.0.113.10", "address": "10.2.9.1", "subnets": ["10.2.9.0/24"]}
    rev, _ = current(s)
    st, _, b = api(s, "POST", "/api/v1/vcpes", req)
    assert st == 200 and b["revision"] is None, f"bundle: {st} {b}"
    pubs = {t.get("public_key") for t in s.lab.status_json("cpe")["tunnels"]}
    assert b["cpe_public_key"] in pubs, f"the bundle's CPE key {b['cpe_public_key']} is not the tunnels' {pubs}"
    assert b["cloud_init"].startswith("#cloud-config\n") and "/etc/cats/vcpe.toml" in b["cloud_init"], b["cloud_init"]
    toml = Path(s.lab.daemon_entry("cpe")["socket"]).parent / "cloud9.toml"
    toml.write_text(b["vcpe_toml"])
    vcpe = str(s.lab.build_dir / "vcpe" / "cats-vcpe")
    cp = subprocess.run([vcpe, "--check", "--config", str(toml)], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0, f"cats-vcpe --check refused the bundle's vcpe.toml:\n{cp.stderr}\n{b['vcpe_toml']}"
    assert current(s)[0] == rev, "a bundle without keys changed the configuration"
    st, _, bad = api(s, "POST", "/api/v1/vcpes", {**req, "subnets": [], "colour": "red"})
    fields = sorted(f["field"] for f in bad["error"]["fields"])
    assert st == 400 and fields == ["/colour", "/subnets"], f"bad request: {st} {bad}"
    keys = subprocess.run(["sh", "-c", "wg genkey | wg pubkey"], capture_output=True, text=True).stdout.strip()
    report = base64.b64encode(os.urandom(32)).decode()
    keyed = {**req, "public_key": keys, "report_key": report}
    # With keys it is a change like any other (the same code path as PATCH): If-Match is
    # required, a stale one is a 409, a dry run shows the diff, and nothing moved.
    st, _, body = api(s, "POST", "/api/v1/vcpes", keyed)
    assert st == 428, f"keyed add without If-Match: {st} {body}"
    st, _, body = api(s, "POST", "/api/v1/vcpes", keyed, {"If-Match": f'"{rev - 1}"'})
    assert st == 409, f"keyed add with a stale If-Match: {st} {body}"
    st, _, dry = api(s, "POST", "/api/v1/vcpes?dry_run=1", keyed, {"If-Match": f'"{rev}"'})
    assert st == 200 and dry["dry_run"] and dry["revision"] == rev, f"dry run: {st} {dry}"
    assert [(o["op"], o["value"]["name"]) for o in dry["diff"]] == [("add", "cloud9")], dry["diff"]
    assert dry["vcpe_toml"] == b["vcpe_toml"], "the dry run's bundle differs"
    assert current(s)[0] == rev, "a dry run or a refused add changed the configuration"
    # confirm_within and comment: not confirmed, the vCPE goes away by itself.
    st, h, added = api(s, "POST", "/api/v1/vcpes?confirm_within=2&comment=cloud9%20trial", keyed,
                       {"If-Match": f'"{rev}"'})
    assert st == 201 and added["revision"] == rev + 1, f"add with keys: {st} {added}"
    assert added["pending"]["revision"] == rev + 1 and added["pending"]["base"] == rev, added
    assert h["etag"] == f'"{rev + 1}"' and added["cpe_public_key"] == b["cpe_public_key"], (h, added)
    _, _, revs = api(s, "GET", "/api/v1/config/revisions?limit=1")
    assert revs["revisions"][0]["comment"] == "cloud9 trial", revs
    assert "cloud9" in [v["name"] for v in current(s)[1]["vcpe"]]
    wait_until(lambda: current(s)[0] == rev + 2 or None, 8, "the unconfirmed vCPE to be reverted")
    assert "cloud9" not in [v["name"] for v in current(s)[1]["vcpe"]], "cloud9 still there after the revert"
    rev += 2
    st, h, added = api(s, "POST", "/api/v1/vcpes", keyed, {"If-Match": f'"{rev}"'})
    assert st == 201 and added["revision"] == rev + 1 and added["pending"] is None, f"add with keys: {st} {added}"
    r2, doc = current(s)
    assert [v["name"] for v in doc["vcpe"]][-1] == "cloud9", doc["vcpe"]
    _, _, revs = api(s, "GET", "/api/v1/config/revisions?limit=1")
    assert revs["revisions"][0]["comment"] == "add vCPE cloud9", revs
    st, _, dup = api(s, "POST", "/api/v1/vcpes", keyed, {"If-Match": f'"{r2}"'})
    assert st == 400 and any(f["field"].startswith("/vcpe/") for f in dup["error"]["fields"]), f"duplicate: {st} {dup}"
    # Parts by name: read it, then delete it (If-Match).
    st, _, part = api(s, "GET", "/api/v1/config?path=/vcpe/cloud9/address")
    assert st == 200 and part == "10.2.9.1", f"GET a part: {st} {part}"
    st, _, body = api(s, "DELETE", "/api/v1/config?path=/vcpe/cloud9", None, {"If-Match": f'"{r2}"'})
    assert st == 200 and body["revision"] == r2 + 1, f"DELETE a part: {st} {body}"
    st, _, body = api(s, "GET", "/api/v1/config?path=/vcpe/cloud9")
    assert st == 404, f"deleted part still there: {st} {body}"


def test_locked_database_refuses(s: LabSession):
    """Another writer holds the database: the change waits its busy timeout, then is
    refused (503, code storage), and neither the revision nor the kernel moved."""
    rev, doc = current(s)
    before = kernel(s)
    db = Path(s.lab.daemon_entry("cpe")["socket"]).parent / "cats.db"
    conn = sqlite3.connect(str(db), timeout=5, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        st, _, body = patch(s, rev, [{"op": "replace", "path": "/selection/hysteresis_pct", "value": 15}])
    finally:
        conn.close()  # rolls back, releasing the lock
    assert st == 503 and body["error"]["code"] == "storage", f"locked database: {st} {body}"
    assert current(s) == (rev, doc), "a refused change changed the configuration"
    after = kernel(s)
    assert after == before, f"a refused change changed the kernel:\n{st_.diff_ruleset(before, after)}"


def test_kill_during_apply(s: LabSession):
    """kill -9 while a change is being applied (after the daemon logged that it applies it,
    before it answered): after a start, the database holds the old or the new revision, and
    the kernel's steering structure is the one of that revision."""
    rev, doc = current(s)
    i = index_of(doc, SVC)
    present = SVC in [x["id"] for x in doc["service"]]
    op = {"op": "remove", "path": f"/service/{i}"} if present else None
    assert op, f"test bug: {SVC} absent before the kill test"
    log = Path(s.lab.daemon_entry("cpe")["socket"]).parent / "daemon.log"
    mark = f"applying revision {rev + 1}"
    sock = s.lab.daemon_entry("cpe")["socket"]
    client = subprocess.Popen(["curl", "-sS", "--max-time", "30", "--unix-socket", sock, "-X", "PATCH",
                               "-H", f'If-Match: "{rev}"', "--data-binary", json.dumps([op]),
                               "http://cpe/api/v1/config"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: mark in log.read_text(errors="replace") or None, 10, f"'{mark}' in the log", interval=0.005)
        s.lab.kill_daemon("cpe")
    finally:
        client.wait(timeout=40)
    s.lab.start_daemon("cpe")
    r2, d2 = current(s)
    assert r2 in (rev, rev + 1), f"revision after kill -9 during the apply: {r2} (was {rev})"
    has = SVC in [x["id"] for x in d2["service"]]
    print(f"  killed during the apply of revision {rev + 1}; restarted at revision {r2} ({SVC} {'present' if has else 'absent'})")
    # The kernel converges to the stored revision: the service's VIP map is there or not.
    wait_until(lambda: (f"w_{SVC}" in st_.ruleset(s.lab)["nft"]) == has or None, 10,
               f"steering table {'with' if has else 'without'} {SVC} (revision {r2})")
    wait_until(lambda: answers(s, SVC_VIP) == has or None, 10, f"{SVC} VIP {'answering' if has else 'refused'}")
    if not has:  # leave the service there for the next test
        r3, d3 = current(s)
        st, _, body = patch(s, r3, [{"op": "add", "path": f"/service/{i}", "value": doc["service"][i]}])
        assert st == 200, body


def test_database_owns_after_restart(s: LabSession):
    rev, doc = current(s)
    i = index_of(doc, SVC)
    st, _, body = patch(s, rev, [{"op": "remove", "path": f"/service/{i}"}])
    assert st == 200, body
    s.lab.kill_daemon("cpe")
    s.lab.start_daemon("cpe")
    r2, d2 = current(s)
    assert r2 == rev + 1 and SVC not in [x["id"] for x in d2["service"]], "the restart did not run the stored revision"
    cfg = Path(s.lab.state()["daemon_configs"]["cpe"]["config"])
    cfg.write_text(cfg.read_text() + "\n# edited by hand\n")
    s.lab.stop_daemon("cpe")
    s.lab.start_daemon("cpe")
    wait_until(lambda: "edited after import; ignored" in log_text(s) or None, 10, "the warning about the edited file")
    assert current(s)[0] == rev + 1, "an edited file changed the configuration without --reimport"
    wait_until(lambda: not answers(s, SVC_VIP) or None, 5, f"{SVC} still absent")
    # --reimport: the file (which still has the service) becomes the next revision, by root.
    s.lab.stop_daemon("cpe")
    s.lab.start_daemon("cpe", extra_args=("--reimport",))
    r3, d3 = current(s)
    assert r3 == rev + 2 and SVC in [x["id"] for x in d3["service"]], f"--reimport: revision {r3}, not the file's"
    _, _, revs = api(s, "GET", "/api/v1/config/revisions?limit=1")
    assert revs["revisions"][0]["author"] == "root" and "--reimport of" in revs["revisions"][0]["comment"], revs
    assert f"re-imported as revision {rev + 2}" in log_text(s), "no log line for the re-import"
    wait_until(lambda: answers(s, SVC_VIP) or None, 10, f"{SVC} answering again after --reimport")


def fill(path: Path) -> int:
    """Writes `path` until its file system has no byte left; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 64 << 10, 4 << 10, 512, 1):
            block = b"\0" * chunk
            try:
                while True:
                    n += f.write(block)
            except OSError as e:
                if e.errno != 28:  # ENOSPC: try a smaller piece
                    raise
    return n


def test_full_disk_refuses(s: LabSession):
    """The CPE's state directory (its database, WAL and keys) on a 32 MiB tmpfs, filled to
    the last byte; the daemon's log is a symlink to the real disk. SQLite then cannot grow
    the WAL. A change that needs room (a 25 KB host list) is refused, and nothing moves;
    once the filler is deleted the same change goes through, with no restart. The WAL is
    truncated before the fill, so the change cannot fit in pages an earlier write left."""
    state = Path(s.lab.daemon_entry("cpe")["socket"]).parent
    db = state / "cats.db"
    keep = Path(tempfile.mkdtemp(prefix="cats-full-disk-"))
    s.lab.stop_daemon("cpe")
    shutil.copytree(state, keep / "state", symlinks=True,
                    ignore=lambda d, names: [n for n in names if (Path(d) / n).is_socket()])
    log = keep / "daemon.log"
    shutil.copy2(state / "daemon.log", log)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "cats-full-disk", str(state)], check=True)
    try:
        for f in (keep / "state").iterdir():
            if f.name != "daemon.log":
                (shutil.copytree if f.is_dir() else shutil.copy2)(f, state / f.name)
        (state / "daemon.log").symlink_to(log)
        s.lab.start_daemon("cpe")
        rev, doc = current(s)

        def truncated():
            c = sqlite3.connect(str(db), timeout=5, isolation_level=None)
            try:
                busy, _, _ = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                return busy == 0 or None
            finally:
                c.close()
        wait_until(truncated, 10, "a checkpoint that truncates the WAL")
        filled = fill(state / "filler")
        print(f"  tmpfs filled with {filled >> 20} MiB; free: {shutil.disk_usage(state).free} bytes")
        wait_until(lambda: re.search(r"write to \S+ failed .*full", log.read_text(errors="replace")) or None, 20,
                   "the history writer's 'disk full' warning")
        before = kernel(s)
        hosts = [f"host{i}-" + "h" * 235 + ".example" for i in range(100)]
        ops = [{"op": "add", "path": "/management/allowed_hosts", "value": hosts}]
        st, _, body = patch(s, rev, ops)
        assert st == 503 and body["error"]["code"] == "storage" and "full" in body["error"]["message"], \
            f"a change on a full disk: {st} {body}"
        print(f"  refused: {body['error']['message']}")
        assert current(s) == (rev, doc), "a change refused for a full disk changed the configuration"
        after = kernel(s)
        assert after == before, f"a change refused for a full disk changed the kernel:\n{st_.diff_ruleset(before, after)}"
        (state / "filler").unlink()
        st, _, body = patch(s, rev, ops)
        assert st == 200 and body["revision"] == rev + 1, f"the same change with room again: {st} {body}"
    finally:
        try:
            s.lab.stop_daemon("cpe")
        except Exception as e:  # already gone: the lab's teardown reports it
            print(f"  stop: {e}")
        subprocess.run(["umount", "-l", str(state)], check=False)
        shutil.copy2(log, state / "daemon.log")  # the lab keeps the log of a failed test
        shutil.rmtree(keep, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main([test_bootstrap_revision, test_live_remove_and_add, test_remove_keeps_later_marks,
                   test_refusals_change_nothing, test_concurrent_edits,
                   test_unconfirmed_change_reverts, test_history_and_revert, test_wan_cost_live, test_probing_live, test_add_vcpe,
                   test_locked_database_refuses,
                   test_kill_during_apply, test_database_owns_after_restart, test_full_disk_refuses],
                  daemons=True))
