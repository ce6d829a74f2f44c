#!/usr/bin/python3
"""Lab test (issue 9, live state): GET /api/v1/stream (Server-Sent Events) of the real
cats-cpe over HTTPS, fig4 with services, from a client namespace with an API token.

1. Access: without credentials 401; a viewer token may read; an unknown topic is 400.
2. Live: the head is 200 text/event-stream, Cache-Control no-store; paths and instances
   messages arrive within 2 s, shaped as the items of GET /api/v1/paths and /instances;
   ids increase by one (all topics subscribed: every id is ours).
3. Rate: no topic has more than 10 messages in any one-second window.
4. Resume: reconnecting with Last-Event-ID (header, then ?last_event_id=) after the hub
   moved on replays what was missed: no duplicate, no gap. An id older than the ring (or
   of another run) gets `event: reset` first.
5. The same stream on the root-only Unix socket (no login), as curl reads it.
6. History in points and flow counts answer over the same HTTPS + token.
7. Decisions: wan1 blackholed, then cleared, while a stream runs: each `decisions` message
   is one whole service (every candidate of GET /api/v1/decisions for it), its weights
   sum to its `total` (1000) or are all 0, and two messages of the same publication carry
   the same weights (never a mix of two publications).
"""
import threading
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab import steering as st_  # noqa: E402

TOOLS = Path(__file__).resolve().parent / "tools"
HOST, PORT = "10.1.0.1", 8443
CLIENT = "c1"
ADMIN_PW = "correct horse battery staple"
TOKEN: dict[str, str] = {}


def fingerprint(s: LabSession) -> str:
    fp = s.lab.status_json("cpe").get("tls_fingerprint_sha256")
    assert fp, "catsctl status has no certificate fingerprint"
    return fp


def talk(s: LabSession, steps: list[dict]) -> list[dict]:
    argv = s.lab.exec_argv(CLIENT, ["/usr/bin/python3", str(TOOLS / "https_session.py"), HOST, str(PORT),
                                    fingerprint(s)])
    cp = subprocess.run(argv, input=json.dumps(steps), capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"https session failed: {cp.stdout[-500:]} {cp.stderr[-500:]}"
    return json.loads(cp.stdout)


def stream(s: LabSession, duration: float, token: str | None = None, last_id=None, query: str = "",
           max_messages: int = 0) -> list[dict]:
    """One stream connection for `duration` s (or max_messages); the tool's JSON lines."""
    argv = ["/usr/bin/python3", str(TOOLS / "sse_client.py"), HOST, str(PORT), fingerprint(s),
            "--duration", str(duration)]
    if token or TOKEN.get("viewer"):
        argv += ["--token", token if token is not None else TOKEN["viewer"]]
    if last_id is not None:
        argv += ["--last-event-id", str(last_id)]
    if query:
        argv += ["--query", query]
    if max_messages:
        argv += ["--max-messages", str(max_messages)]
    cp = subprocess.run(s.lab.exec_argv(CLIENT, argv), capture_output=True, text=True, timeout=duration + 30)
    assert cp.returncode == 0, f"sse client failed: {cp.stdout[-500:]} {cp.stderr[-500:]}"
    return [json.loads(ln) for ln in cp.stdout.splitlines() if ln.strip()]


def msgs(lines: list[dict]) -> list[dict]:
    return [x for x in lines if x["ev"] == "msg"]


def head(lines: list[dict]) -> dict:
    h = [x for x in lines if x["ev"] == "head"]
    assert h, f"no response head: {lines[-3:]}"
    return h[0]


def consecutive(ms: list[dict]) -> None:
    ids = [m["id"] for m in ms]
    bad = [(a, b) for a, b in zip(ids, ids[1:]) if b != a + 1]
    assert not bad, f"ids not consecutive (duplicate or gap) at {bad[:5]}; ids {ids[:10]}…"


def max_per_window(ms: list[dict], window: float) -> dict[str, int]:
    by: dict[str, list[float]] = {}
    for m in ms:
        by.setdefault(m["event"], []).append(m["t"])
    worst = {}
    for topic, ts in by.items():
        j = 0
        best = 0
        for i, t in enumerate(ts):
            while ts[j] <= t - window:
                j += 1
            best = max(best, i - j + 1)
        worst[topic] = best
    return worst


def setup(s: LabSession):
    token = s.lab.catsctl("cpe", "setup-url", "--json")
    assert token.returncode == 0, token.stderr
    t = json.loads(token.stdout)["token"]
    exp = int(time.time() * 1000) + 3600_000
    r = talk(s, [{"method": "POST", "path": "/api/v1/setup", "body": {"token": t, "user": "admin", "password": ADMIN_PW}},
                 {"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
                 {"method": "POST", "path": "/api/v1/tokens", "csrf": True,
                  "headers": {"Origin": f"https://{HOST}:{PORT}"},
                  "body": {"name": "ui", "role": "viewer", "expires_ms": exp}}])
    assert r[0]["status"] == 201 and r[2]["status"] == 201, r
    TOKEN["viewer"] = r[2]["body"]["token"]
    insts = lambda: len([i for i in st_.ctl_json(s.lab, "instances") if i["available"]]) >= 2
    wait_until(insts, 30, "instances reported")


def test_access(s: LabSession):
    none = stream(s, 3, token="")
    assert head(none)["status"] == 401, head(none)
    bad = stream(s, 3, query="topics=paths,nope")
    assert head(bad)["status"] == 400 and "nope" in head(bad)["body"], head(bad)
    badid = stream(s, 3, query="last_event_id=x1")
    assert head(badid)["status"] == 400, head(badid)
    print("  no credentials: 401; unknown topic, bad last_event_id: 400")


def test_live_and_rate(s: LabSession):
    lines = stream(s, 6)
    h = head(lines)
    assert h["status"] == 200, h
    assert h["headers"].get("content-type") == "text/event-stream", h["headers"]
    assert h["headers"].get("cache-control") == "no-store", h["headers"]
    assert h["headers"].get("strict-transport-security", "").startswith("max-age="), h["headers"]
    ms = msgs(lines)
    first = {}
    for m in ms:
        first.setdefault(m["event"], m["t"])
    assert first.get("paths", 99) <= 2.0 and first.get("instances", 99) <= 2.0, f"first arrivals: {first}"
    p = next(m["data"] for m in ms if m["event"] == "paths")
    rest = st_.ctl_json(s.lab, "paths")[0]
    assert set(p) == set(rest), f"a paths message is not shaped as GET /api/v1/paths: {sorted(p)} vs {sorted(rest)}"
    i = next(m["data"] for m in ms if m["event"] == "instances")
    rest_i = st_.ctl_json(s.lab, "instances")[0]
    assert set(i) == set(rest_i), f"instances message keys {sorted(i)} vs {sorted(rest_i)}"
    consecutive(ms)
    # Receive times, so a little slack for delivery jitter: a 0.95 s window.
    worst = max_per_window(ms, 0.95)
    assert all(n <= 10 for n in worst.values()), f"more than 10 messages/s on a topic: {worst}"
    s.last_lines = lines
    totals = {t: len([m for m in ms if m["event"] == t]) for t in first}
    print(f"  {len(ms)} messages in 6 s {totals}, first paths at {first['paths']} s, instances at "
          f"{first['instances']} s; most per second by topic {worst}")


def moved_on(s: LabSession, last: int, by: int) -> int:
    """Waits (deadline) until the hub has emitted `by` messages after `last`; returns the newest id."""
    def newest():
        ms = msgs(stream(s, 3, max_messages=1))
        return ms and ms[0]["id"] >= last + by and ms[0]["id"]
    return wait_until(newest, 20, f"the stream moving {by} messages past {last}")


def test_resume(s: LabSession):
    # The live test's messages when it got that far; its own otherwise (a failure there
    # must not fail this test with an AttributeError that hides what resume does).
    ms1 = msgs(getattr(s, "last_lines", None) or stream(s, 2))
    assert ms1, "no message in 2 s of stream"
    last = ms1[-1]["id"]
    moved_on(s, last, 5)
    lines = stream(s, 2, last_id=last)
    ms2 = msgs(lines)
    assert ms2 and ms2[0]["id"] == last + 1, f"resumed at {ms2[0]['id'] if ms2 else None}, want {last + 1}"
    replayed = [m for m in ms2 if m["t"] <= head(lines)["t"] + 0.2]
    assert len(replayed) >= 5, f"only {len(replayed)} replayed at once"
    consecutive(ms1 + ms2)
    # The same through the query parameter, for clients that cannot set headers.
    last2 = ms2[-1]["id"]
    ms3 = msgs(stream(s, 2, query=f"last_event_id={last2}"))
    assert ms3 and ms3[0]["id"] == last2 + 1, (last2, ms3[:1])
    consecutive(ms1 + ms2 + ms3)
    # Too old (before the ring, or an earlier run): a reset first, then live.
    old = msgs(stream(s, 2, last_id=1))
    assert old and old[0]["event"] == "reset", old[:2]
    assert all(m["id"] > old[0]["id"] for m in old[1:]), old[:3]
    print(f"  resumed after {last}: {len(replayed)} replayed at once, {len(ms1) + len(ms2) + len(ms3)} ids "
          "without duplicate or gap; an old id gets a reset")


def test_unix_socket(s: LabSession):
    sock = s.lab.daemon_entry("cpe")["socket"]
    # curl ends at --max-time with status 28; what it printed is the stream so far.
    cp = subprocess.run(["curl", "-sN", "--max-time", "2.5", "--unix-socket", sock, "-D", "-",
                         "http://localhost/api/v1/stream?topics=paths"], capture_output=True, text=True, timeout=20)
    out = cp.stdout
    assert out.startswith("HTTP/1.1 200"), out[:300]
    assert "content-type: text/event-stream" in out.lower(), out[:300]
    frames = [f for f in out.split("\n\n") if "event: " in f]
    assert frames and all("event: paths" in f for f in frames), out[:500]
    print(f"  Unix socket: {len(frames)} paths messages in 2.5 s, no login")


def test_history_points_and_flows(s: LabSession):
    now = int(time.time() * 1000)
    r = talk(s, [{"method": "GET", "path": f"/api/v1/paths?history=1&from={now - 60_000}&to={now}&points=6",
                  "bearer": TOKEN["viewer"]},
                 {"method": "GET", "path": f"/api/v1/instances?history=1&from={now - 60_000}&to={now}&points=6",
                  "bearer": TOKEN["viewer"]},
                 {"method": "GET", "path": "/api/v1/paths?history=1&points=0", "bearer": TOKEN["viewer"]},
                 {"method": "GET", "path": "/api/v1/flows", "bearer": TOKEN["viewer"]}])
    assert r[0]["status"] == 200 and r[0]["body"], r[0]
    b = r[0]["body"][0]
    assert b["bucket_ms"] == 10_001 and {"rtt_ms", "rtt_min_ms", "rtt_max_ms", "samples"} <= set(b), b
    assert len({(x["wan"], x["vcpe"]) for x in r[0]["body"]}) >= 2, r[0]["body"]
    assert all(len([x for x in r[0]["body"] if (x["wan"], x["vcpe"]) == k]) <= 6
               for k in {(x["wan"], x["vcpe"]) for x in r[0]["body"]})
    assert r[1]["status"] == 200 and r[1]["body"] and "utilization_max" in r[1]["body"][0], r[1]
    assert r[2]["status"] == 400, r[2]
    f = r[3]["body"]
    assert r[3]["status"] == 200 and f["services"] and isinstance(f["counted_ms"], int), f
    assert {"service", "instance", "wan", "flows"} <= set(f["services"][0]), f
    print(f"  history: {len(r[0]['body'])} path buckets of 10 s; flows: {len(f['services'])} candidates")


def test_decisions_one_message_per_service(s: LabSession):
    rest = st_.ctl_json(s.lab, "decisions")
    cands = {}
    for d in rest:
        cands.setdefault(d["service"], set()).add((d["instance"], d["wan"]))
    got: list[list[dict]] = []
    t = threading.Thread(target=lambda: got.append(stream(s, 14, query="topics=decisions")))
    t.start()
    try:
        time.sleep(1)  # the stream is open (its own head wait is 3 s; it does not block the hub)
        s.impair("wan1", clear=True, loss=100)
        wait_until(lambda: any(d["health"] != "ok" for d in st_.ctl_json(s.lab, "decisions")), 8,
                   "a candidate over wan1 leaving ok")
        s.impair("wan1", clear=True)
        wait_until(lambda: all(d["health"] == "ok" for d in st_.ctl_json(s.lab, "decisions")), 10,
                   "every candidate ok again")
    finally:
        s.impair("wan1", clear=True)
        t.join()
    ms = [m for m in msgs(got[0]) if m["event"] == "decisions"]
    assert len(ms) >= 2, f"{len(ms)} decisions messages while wan1 went down and up"
    by_pub: dict[tuple[str, int], list[int]] = {}
    for m in ms:
        d = m["data"]
        svc = d["service"]
        assert set(d) == {"service", "publication", "total", "candidates"}, sorted(d)
        assert all(c["service"] == svc for c in d["candidates"]), d
        have = {(c["instance"], c["wan"]) for c in d["candidates"]}
        assert have == cands[svc], f"{svc}: message candidates {have} vs GET /api/v1/decisions {cands[svc]}"
        ws = [c["weight"] for c in d["candidates"]]
        assert d["total"] == 1000 and sum(ws) in (0, d["total"]), f"{svc} weights {ws} sum to {sum(ws)}"
        prev = by_pub.setdefault((svc, d["publication"]), ws)
        assert prev == ws, f"{svc} publication {d['publication']}: weights {prev} then {ws}"
    healths = {c["health"] for m in ms for c in m["data"]["candidates"]}
    assert "ok" in healths and healths != {"ok"}, f"the stream did not show wan1 down and up: {healths}"
    print(f"  {len(ms)} decisions messages over {len(by_pub)} publications: each a whole service, "
          f"weights summing to 1000; health seen {sorted(healths)}")


if __name__ == "__main__":
    sys.exit(main([
        test_access,
        test_live_and_rate,
        test_resume,
        test_unix_socket,
        test_history_points_and_flows,
        test_decisions_one_message_per_service,
    ], scenario="fig4", daemons=True, setup=setup))
