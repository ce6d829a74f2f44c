#!/usr/bin/python3
"""Lab test (issue 9, management plane): the real cats-cpe serving HTTPS on its LAN address
(fig4's [cpe.management]), its real SQLite file, a client namespace talking to it.

1. No admin: `catsctl setup-url` gives a one-time link on 10.1.0.1:8443; the certificate
   the client sees has the fingerprint `catsctl status` shows; nothing but setup and
   login answers without credentials (401), every answer carries HSTS and the security
   headers, errors are {"error": {code, message, fields}}.
2. First admin: a wrong setup token is refused; the right one creates the admin once
   (then 4xx, and setup-url says an admin exists).
3. Sessions: login sets an HttpOnly Secure SameSite=Strict cookie; a change without the
   CSRF token, or from another Origin, is refused (403) and changes nothing; with it, an
   admin adds a viewer. The viewer reads (the configuration too) but cannot change (403),
   nor read the configuration's secrets (?secrets=1: 403).
4. Tokens: an admin's API token (Bearer) reads /metrics and status; revoked, it is refused.
   Secrets: with probing.auth_key set through PATCH, an admin's ?secrets=1 (document and
   export) gives the key; without the flag it is "<redacted>" (document, export, revision
   diff, audit log); a viewer's ?secrets=1 is 403 without the key; the key is never in the
   daemon's log.
5. Bad bodies: not JSON, unknown fields, wrong types, 1 MiB, deep nesting: 4xx JSON, no change;
   on POST /api/v1/users and PATCH /api/v1/config too (users, revision and document
   unchanged). catsctl --url over HTTPS with an API token reads the status and makes a
   change (authored by the token, from the client's address).
6. Login rate limiting: repeated failures get 429 with Retry-After, even with the right
   password; every login, failure and lock-out is in the audit log and the event log.
7. Events: GET /api/v1/events filtered by kind, kind group, subject, range, limit and points gives
   exactly the matching events of the store; a bad parameter is a 400 naming it.
8. WAN input filter (issue 11, table inet cats_input): from the WAN side (isp1), a TCP port
   the CPE opened (8081, answering on the LAN) is dropped (no SYN-ACK, counted), the CPE
   answers ping, its own connection out over the WAN works, the tunnels are up; the HTTPS
   port on the LAN address stays closed on the WAN. `[firewall] wan_input` off/deny through
   the API removes and restores the table live. Stopped (SIGTERM), the CPE leaves the table
   in place; restarted with HTTPS also on its WAN1 address, that port answers from the WAN
   and the tunnels come back. (Last: it restarts the daemon.)
"""
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab import steering as st_  # noqa: E402
from catslab.clients import UnixHTTP  # noqa: E402

TOOL = Path(__file__).resolve().parent / "tools" / "https_session.py"
HOST, PORT = "10.1.0.1", 8443
CLIENT = "c1"
C1_ADDR, C2_ADDR = "10.1.0.11", "10.1.0.12"  # fig4's c1 and c2 on the LAN
ADMIN_PW = "correct horse battery staple"
VIEWER_PW = "viewer password 12345"


def fingerprint(s: LabSession) -> str:
    st = s.lab.status_json("cpe")
    fp = st.get("tls_fingerprint_sha256")
    assert fp and len(fp) == 95, f"catsctl status has no certificate fingerprint: {st.keys()}"
    return fp


def talk(s: LabSession, steps: list[dict], client: str = CLIENT) -> list[dict]:
    """The steps in one client (cookie jar and CSRF token carry over), from `client`."""
    argv = s.lab.exec_argv(client, ["/usr/bin/python3", str(TOOL), HOST, str(PORT), fingerprint(s)])
    cp = subprocess.run(argv, input=json.dumps(steps), capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"https session failed: {cp.stdout[-500:]} {cp.stderr[-500:]}"
    return json.loads(cp.stdout)


def error_code(r: dict) -> str:
    b = r["body"]
    assert isinstance(b, dict) and isinstance(b.get("error"), dict), f"error is not JSON: {r}"
    e = b["error"]
    assert isinstance(e.get("message"), str) and isinstance(e.get("fields"), list), e
    return e["code"]


def setup_url(s: LabSession):
    cp = s.lab.catsctl("cpe", "setup-url", "--json")
    return cp.returncode, (json.loads(cp.stdout) if cp.returncode == 0 else cp.stderr)


def users(s: LabSession) -> list[str]:
    r = talk(s, [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
                 {"method": "GET", "path": "/api/v1/users"}])
    assert r[1]["status"] == 200, r[1]
    assert all("password" not in json.dumps(u) and "hash" not in json.dumps(u) for u in r[1]["body"]["users"]), r[1]
    return sorted(u["name"] for u in r[1]["body"]["users"])


def test_no_admin_yet(s: LabSession):
    rc, su = setup_url(s)
    assert rc == 0, su
    assert su["url"].startswith(f"https://{HOST}:{PORT}/setup#token="), su
    r = talk(s, [{"method": "GET", "path": "/api/v1/status"}, {"method": "GET", "path": "/api/v1/paths"},
                 {"method": "GET", "path": "/nope"}])
    # An unknown path is 404 before any guard (the route table is no secret: docs/API.md).
    for x, want in zip(r, (401, 401, 404)):
        assert x["status"] == want, x
        assert error_code(x) == ("unauthorized" if want == 401 else "not_found")
        h = x["headers"]
        assert h.get("strict-transport-security", "").startswith("max-age="), h
        assert h.get("x-frame-options") == "DENY" and h.get("x-content-type-options") == "nosniff", h
        assert "default-src 'self'" in h.get("content-security-policy", ""), h
        assert h.get("referrer-policy") == "no-referrer", h
    # Issue 9: the fingerprint and the one-time setup URL are in the log and on the console
    # (the daemon's stderr; the lab captures both in daemon.log), and they are the ones the
    # client saw and `catsctl setup-url` gives.
    log = (Path(s.lab.state()["daemon_configs"]["cpe"]["state_dir"]) / "daemon.log").read_text(errors="replace")
    fp = fingerprint(s)
    shown = f"management API on https://{HOST}:{PORT}; certificate SHA-256 {fp}"
    assert f"info [cpe] {shown}\n" in log and f"cats-cpe: {shown}\n" in log, f"fingerprint not in log and console: {fp}"
    url = f"no admin yet: set one at {su['url']}"
    assert f"warn [mgmt] {url}\n" in log and f"cats-cpe: {url}\n" in log, "setup URL not in log and console"
    # /metrics needs no credentials from a metrics_allow source (fig4: the LAN, c1), and
    # only /metrics: the same client's read of the paths was 401 above.
    m = talk(s, [{"method": "GET", "path": "/metrics"}])[0]
    assert m["status"] == 200 and "cats_build_info" in m["body"], (m["status"], str(m["body"])[:200])
    print(f"  setup URL {su['url'].split('#')[0]}#token=…; unauthenticated reads: 401 with HSTS + CSP; "
          "/metrics from metrics_allow: 200")


def test_first_admin(s: LabSession):
    token = setup_url(s)[1]["token"]
    r = talk(s, [{"method": "POST", "path": "/api/v1/setup",
                  "body": {"token": token[:-2] + "xx", "user": "admin", "password": ADMIN_PW}},
                 {"method": "POST", "path": "/api/v1/setup", "body": {"token": token, "user": "admin", "password": "short"}},
                 {"method": "POST", "path": "/api/v1/setup", "body": {"token": token, "user": "admin", "password": ADMIN_PW}},
                 {"method": "POST", "path": "/api/v1/setup",
                  "body": {"token": token, "user": "admin2", "password": ADMIN_PW}}])
    assert r[0]["status"] in (401, 403), r[0]
    assert r[1]["status"] == 422 and r[1]["body"]["error"]["fields"][0]["field"] == "/password", r[1]
    assert r[2]["status"] == 201, r[2]
    assert 400 <= r[3]["status"] < 500, f"the setup token worked twice: {r[3]}"
    rc, msg = setup_url(s)
    assert rc != 0 and "admin exists" in msg, (rc, msg)
    assert users(s) == ["admin"]
    print("  first admin set once; the token died with it")


def test_sessions_csrf_roles(s: LabSession):
    r = talk(s, [
        {"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
        {"method": "POST", "path": "/api/v1/users", "body": {"name": "vera", "role": "viewer", "password": VIEWER_PW}},
        {"method": "POST", "path": "/api/v1/users", "csrf": True, "headers": {"Origin": "https://evil.example"},
         "body": {"name": "vera", "role": "viewer", "password": VIEWER_PW}},
        {"method": "POST", "path": "/api/v1/users", "csrf": True, "headers": {"Origin": f"https://{HOST}:{PORT}"},
         "body": {"name": "vera", "role": "viewer", "password": VIEWER_PW}},
        {"method": "GET", "path": "/api/v1/status"},
    ])
    cookie = " ".join(r[0]["set_cookie"])
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie, f"session cookie lacks {attr}: {cookie}"
    assert r[1]["status"] == 403, f"a change without the CSRF token: {r[1]}"
    assert r[2]["status"] == 403, f"a change from another Origin: {r[2]}"
    assert r[3]["status"] == 201, r[3]
    assert r[4]["status"] == 200 and r[4]["body"]["role"] == "cpe", r[4]
    v = talk(s, [
        {"method": "POST", "path": "/api/v1/login", "body": {"user": "vera", "password": VIEWER_PW}},
        {"method": "GET", "path": "/api/v1/decisions"},
        {"method": "GET", "path": "/api/v1/users"},
        {"method": "POST", "path": "/api/v1/users", "csrf": True, "headers": {"Origin": f"https://{HOST}:{PORT}"},
         "body": {"name": "mallory", "role": "admin", "password": VIEWER_PW}},
        {"method": "POST", "path": "/api/v1/tokens", "csrf": True, "headers": {"Origin": f"https://{HOST}:{PORT}"},
         "body": {"name": "t", "role": "admin", "expires_ms": int(time.time() * 1000) + 3600_000}},
        {"method": "GET", "path": "/api/v1/config"},
        {"method": "GET", "path": "/api/v1/config?secrets=1"},
        {"method": "GET", "path": "/api/v1/config/export?secrets=1"},
    ])
    assert v[0]["status"] == 200 and v[0]["body"]["role"] == "viewer", v[0]
    # A viewer reads the configuration, but never its secrets (admins only: ?secrets=1).
    assert v[5]["status"] == 200 and "service" in v[5]["body"], v[5]["status"]
    assert v[6]["status"] == 403 and v[7]["status"] == 403, (v[6], v[7])
    # A viewer reads the state, not the account list (users and tokens: admins only).
    assert v[1]["status"] == 200 and v[2]["status"] == 403, v[1:3]
    assert v[3]["status"] == 403 and v[4]["status"] == 403, v[3:]
    assert users(s) == ["admin", "vera"]
    print("  CSRF and Origin enforced; viewer reads the state, cannot change or list users (403)")


def test_tokens(s: LabSession):
    exp = int(time.time() * 1000) + 3600_000
    r = talk(s, [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
                 {"method": "POST", "path": "/api/v1/tokens", "csrf": True,
                  "headers": {"Origin": f"https://{HOST}:{PORT}"},
                  "body": {"name": "prometheus", "role": "viewer", "expires_ms": exp}},
                 {"method": "GET", "path": "/api/v1/tokens"}])
    assert r[1]["status"] == 201, r[1]
    tok, tid = r[1]["body"]["token"], r[1]["body"]["id"]
    assert tok not in json.dumps(r[2]["body"]), "a token's secret shown after creation"
    b = talk(s, [{"method": "GET", "path": "/metrics", "bearer": tok},
                 {"method": "GET", "path": "/api/v1/status", "bearer": tok},
                 {"method": "POST", "path": "/api/v1/users", "bearer": tok,
                  "body": {"name": "x", "role": "admin", "password": VIEWER_PW}},
                 {"method": "GET", "path": "/api/v1/tokens", "bearer": tok}])
    assert b[0]["status"] == 200 and "cats_build_info" in b[0]["body"], b[0]["status"]
    assert b[0]["headers"]["content-type"].startswith("text/plain; version=0.0.4"), b[0]["headers"]
    assert b[1]["status"] == 200 and b[2]["status"] == 403, b[1:]
    assert b[3]["status"] == 403 and tok not in json.dumps(b[3]["body"]), f"a viewer token lists tokens: {b[3]}"
    rv = talk(s, [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
                  {"method": "DELETE", "path": f"/api/v1/tokens?id={tid}", "csrf": True,
                   "headers": {"Origin": f"https://{HOST}:{PORT}"}},
                  {"method": "GET", "path": "/api/v1/status", "bearer": tok}])
    assert rv[1]["status"] in (200, 204), rv[1]
    assert rv[2]["status"] == 401, f"a revoked token still works: {rv[2]}"
    print("  bearer token reads /metrics and status, cannot change; revoked: 401")


# 16 random-looking bytes, base64: a STAMP HMAC key (probing.auth_key, the document's secret).
AUTH_KEY = "q1Zr8vYp3TfJ0kWmXc5L2g=="


def test_secrets_export(s: LabSession):
    """?secrets=1 through the real daemon over HTTPS: an admin reads and exports the STAMP
    key; without the flag it is "<redacted>" (also in the revision diff and the audit log);
    a viewer asking for it gets 403 and no secret; the key never reaches the daemon's log."""
    origin = {"Origin": f"https://{HOST}:{PORT}"}
    login = {"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}}
    g = talk(s, [login, {"method": "GET", "path": "/api/v1/config"}])
    assert g[1]["status"] == 200 and "auth_key" not in g[1]["body"].get("probing", {}), g[1]["status"]
    etag = g[1]["headers"]["etag"]
    # fig4 has no [probing] section: add it with the key, and remove it again at the end.
    had_probing = "probing" in g[1]["body"]
    add = ({"op": "add", "path": "/probing/auth_key", "value": AUTH_KEY} if had_probing
           else {"op": "add", "path": "/probing", "value": {"auth_key": AUTH_KEY}})
    undo = {"op": "remove", "path": "/probing/auth_key" if had_probing else "/probing"}
    rev0 = int(etag.strip('"'))
    r = talk(s, [login,
                 {"method": "PATCH", "path": "/api/v1/config?comment=secrets%20test", "csrf": True,
                  "headers": {**origin, "If-Match": etag},
                  "body": [add]},
                 {"method": "GET", "path": "/api/v1/config?secrets=1"},
                 {"method": "GET", "path": "/api/v1/config/export?secrets=1"},
                 {"method": "GET", "path": "/api/v1/config"},
                 {"method": "GET", "path": "/api/v1/config/export"},
                 {"method": "GET", "path": "/api/v1/config?secrets=0"},
                 {"method": "GET", "path": f"/api/v1/config/diff?from={rev0}&to={rev0 + 1}"},
                 {"method": "GET", "path": f"/api/v1/config/diff?from={rev0}&to={rev0 + 1}&format=text"},
                 {"method": "GET", "path": "/api/v1/audit"}])
    assert r[1]["status"] == 200 and r[1]["body"]["revision"] == rev0 + 1, r[1]
    rev1 = r[1]["body"]["revision"]
    try:
        # An admin asking for the secrets gets them, in the document and in the export.
        assert r[2]["status"] == 200 and r[2]["body"]["probing"]["auth_key"] == AUTH_KEY, r[2]["status"]
        assert r[2]["headers"]["etag"] == f'"{rev1}"', r[2]["headers"]
        assert r[3]["status"] == 200, r[3]["status"]
        exported = r[3]["body"] if isinstance(r[3]["body"], dict) else json.loads(r[3]["body"])
        assert exported["probing"]["auth_key"] == AUTH_KEY, "export?secrets=1 without the secret"
        # Without the flag (or with another value than 1) the secret is redacted everywhere.
        for x in r[4:10]:
            assert x["status"] == 200, x
            assert AUTH_KEY not in json.dumps(x["body"]), f"a secret without ?secrets=1: {x}"
        for x in r[4:7]:
            doc = x["body"] if isinstance(x["body"], dict) else json.loads(x["body"])
            assert doc["probing"]["auth_key"] == "<redacted>", doc["probing"]
        assert "<redacted>" in json.dumps(r[7]["body"]), r[7]["body"]
        # A viewer (vera, from test_sessions_csrf_roles) and a viewer token: 403, no secret.
        v = talk(s, [{"method": "POST", "path": "/api/v1/login", "body": {"user": "vera", "password": VIEWER_PW}},
                     {"method": "GET", "path": "/api/v1/config?secrets=1"},
                     {"method": "GET", "path": "/api/v1/config/export?secrets=1"},
                     {"method": "GET", "path": f"/api/v1/config/export?secrets=1&revision={rev1}"},
                     {"method": "GET", "path": "/api/v1/config"}])
        assert v[0]["status"] == 200 and v[0]["body"]["role"] == "viewer", v[0]
        for x in v[1:4]:
            assert x["status"] == 403 and error_code(x) == "forbidden", x
            assert AUTH_KEY not in json.dumps(x), f"a secret in a viewer's refusal: {x}"
        assert v[4]["status"] == 200 and v[4]["body"]["probing"]["auth_key"] == "<redacted>", v[4]["status"]
    finally:
        # Back to unauthenticated probes (the vCPEs' reflectors have no key).
        e = talk(s, [login, {"method": "GET", "path": "/api/v1/config"}])[1]["headers"]["etag"]
        b = talk(s, [login, {"method": "PATCH", "path": "/api/v1/config?comment=secrets%20test%20done", "csrf": True,
                             "headers": {**origin, "If-Match": e},
                             "body": [undo]}])
        assert b[1]["status"] == 200, b[1]
    log = (Path(s.lab.state()["daemon_configs"]["cpe"]["state_dir"]) / "daemon.log").read_text(errors="replace")
    assert AUTH_KEY not in log, "the STAMP key in the daemon's log"
    print(f"  ?secrets=1: an admin reads and exports the key (revision {rev1}); without it, in the diff and "
          "the audit log: <redacted>; a viewer: 403; never in the daemon's log")


def test_bad_bodies(s: LabSession):
    deep = "[" * 10000 + "]" * 10000
    steps = [{"method": "POST", "path": "/api/v1/login", "body": "{not json"},
             {"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW, "x": 1}},
             {"method": "POST", "path": "/api/v1/login", "body": {"user": 5, "password": ADMIN_PW}},
             {"method": "POST", "path": "/api/v1/login", "body": "{\"user\": \"" + "a" * (1 << 20) + "\"}"},
             {"method": "POST", "path": "/api/v1/login", "body": deep},
             {"method": "POST", "path": "/api/v1/login",
              "body": {"user": "admin'; DROP TABLE auth_users; --\u202e", "password": "x" * 12}}]
    r = talk(s, steps)
    for step, x in zip(steps, r):
        assert 400 <= x["status"] < 500, f"{str(step)[:80]}: {x['status']}"
        error_code(x)
    assert users(s) == ["admin", "vera"], "a bad body changed the users"
    print(f"  bad bodies: {[x['status'] for x in r]}")


def config_state(s: LabSession) -> tuple[str, str]:
    """(ETag, document text) of the configuration, read on the root socket."""
    sock = s.lab.daemon_entry("cpe")["socket"]
    cp = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", sock, "-D", "-",
                         "http://cpe/api/v1/config"], capture_output=True, text=True, timeout=20)
    head, _, body = cp.stdout.partition("\n\n")
    etag = [ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("etag:")]
    assert cp.returncode == 0 and etag, f"GET /api/v1/config on the socket: {cp.returncode} {cp.stderr} {head}"
    return etag[0], body


def test_bad_change_bodies(s: LabSession):
    """Bad bodies on POST /api/v1/users and PATCH /api/v1/config, from an admin session over
    HTTPS with the CSRF token: each gets its 4xx with a JSON error that says what is wrong
    (the field's JSON path where there is one), and neither the users nor the configuration
    (revision and document) change."""
    origin = {"Origin": f"https://{HOST}:{PORT}"}
    etag, doc_before = config_state(s)
    users_before = users(s)
    big = 70 * 1024  # above the 64 KiB limit of every body but the configuration's
    user_steps = [  # (body, status, error code, field or None, words of the message)
        ("{not json", 400, "bad_json", None, "JSON object"),
        ("[1, 2]", 400, "bad_json", None, "JSON object"),
        ({"name": "x1", "role": "viewer", "password": VIEWER_PW, "admin": True}, 422, "invalid", "/admin",
         "unknown field"),
        ({"name": 5, "role": "viewer", "password": VIEWER_PW}, 422, "invalid", "/name", "string"),
        ({"name": "x2", "role": "root", "password": VIEWER_PW}, 422, "invalid", "/role", "admin"),
        ({"name": "x3", "role": "viewer", "password": ["a", "b"]}, 422, "invalid", "/password", "string"),
        ({"name": "x" * 5000, "role": "viewer", "password": VIEWER_PW}, 422, "invalid", "/name", ""),
        ('{"name": "x4", "role": "viewer", "password": "' + "p" * big + '"}', 413, None, None, ""),
    ]
    patch_steps = [
        ("[{not json", 400, "bad_request", None, "not JSON"),
        ({"op": "replace", "path": "/selection/hysteresis_pct", "value": 11}, 400, None, None, ""),
        ([{"op": "frobnicate", "path": "/selection/hysteresis_pct", "value": 11}], 400, None, None, ""),
        ([{"op": "replace", "path": "/selection/hysteresis_pct", "value": "eleven"}], 400, "invalid",
         "/selection/hysteresis_pct", ""),
        ([{"op": "add", "path": "/selection/bogus", "value": 1}], 400, "invalid", "/selection/bogus", ""),
        ([{"op": "replace", "path": "/service/0/vip", "value": 12}], 400, "invalid", "/service/0/vip", ""),
        ([{"op": "add", "path": "/service/0/comment", "value": "c" * (1100 * 1024)}], 413, None, None, ""),
    ]
    steps = [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}}]
    steps += [{"method": "POST", "path": "/api/v1/users", "csrf": True, "headers": origin, "body": b}
              for b, *_ in user_steps]
    steps += [{"method": "PATCH", "path": "/api/v1/config", "csrf": True,
               "headers": {**origin, "If-Match": etag, "Content-Type": "application/json-patch+json"}, "body": b}
              for b, *_ in patch_steps]
    r = talk(s, steps)
    assert r[0]["status"] == 200, r[0]
    seen = []
    for (body, status, code, field, words), x in zip(user_steps + patch_steps, r[1:]):
        what = f"{str(body)[:70]!r}: {x['status']} {str(x['body'])[:300]}"
        assert x["status"] == status, what
        got = error_code(x)
        if code:
            assert got == code, what
        e = x["body"]["error"]
        assert e["message"], what
        if words:
            assert words in e["message"] or any(words in f["message"] for f in e["fields"]), what
        if field:
            assert field in [f["field"] for f in e["fields"]], what
        seen.append(x["status"])
    assert users(s) == users_before, "a bad body changed the users"
    etag_after, doc_after = config_state(s)
    assert etag_after == etag, f"a bad body made a revision: {etag} -> {etag_after}"
    assert doc_after == doc_before, "a bad body changed the configuration document"
    print(f"  bad user bodies {seen[:len(user_steps)]}, bad config patches {seen[len(user_steps):]}; "
          f"users and revision {etag} unchanged")


def test_catsctl_over_https(s: LabSession):
    """catsctl from a LAN client against the remote HTTPS API (--url, --pin, an API token in
    a file): it reads the status and makes one configuration change, which is a new
    revision authored by the token, from the client's address. A wrong pin is refused
    before any request, and a viewer token cannot change anything."""
    fp = fingerprint(s)
    catsctl = str(s.lab.build_dir / "cpe" / "catsctl" / "catsctl")
    made = {}
    for role in ("admin", "viewer"):
        cp = s.lab.catsctl("cpe", "token", "add", f"ctl-{role}", "--role", role, "--days", "1", "--json")
        assert cp.returncode == 0, f"token add: {cp.stdout} {cp.stderr}"
        made[role] = json.loads(cp.stdout)
    tmp = Path(tempfile.mkdtemp(prefix="cats-ctl-"))
    files = {}
    for role, t in made.items():
        files[role] = tmp / f"{role}.token"
        files[role].write_text(t["token"] + "\n")
        files[role].chmod(0o600)

    def ctl(role, *args, pin=fp):
        argv = [catsctl, "--url", f"https://{HOST}:{PORT}", "--pin", pin, "--token-file", str(files[role]), *args]
        return s.lab.run_in(CLIENT, argv, timeout=30)

    st = ctl("admin", "status", "--json")
    assert st.returncode == 0, f"catsctl status over HTTPS: {st.returncode} {st.stdout[-300:]} {st.stderr[-300:]}"
    status = json.loads(st.stdout)
    assert status.get("role") == "cpe" and status.get("tls_fingerprint_sha256") == fp, status
    etag, _ = config_state(s)
    rev = int(etag.strip('"'))
    got = ctl("admin", "config", "get", "--json")
    assert got.returncode == 0, f"config get over HTTPS: {got.stdout[-300:]} {got.stderr[-300:]}"
    before = json.loads(got.stdout).get("selection", {}).get("hysteresis_pct")
    value = 17 if before != 17 else 18
    ch = ctl("admin", "config", "set", "/selection/hysteresis_pct", str(value), "--comment", "catsctl over https")
    assert ch.returncode == 0, f"config set over HTTPS: {ch.returncode} {ch.stdout} {ch.stderr}"
    etag2, doc = config_state(s)
    assert int(etag2.strip('"')) == rev + 1, f"revision {rev} -> {etag2}"
    assert json.loads(doc)["selection"]["hysteresis_pct"] == value, json.loads(doc).get("selection")
    hist = s.lab.catsctl("cpe", "config", "history", "--json")
    assert hist.returncode == 0, hist.stderr
    last = json.loads(hist.stdout)["revisions"][0]
    assert last["revision"] == rev + 1 and last["comment"] == "catsctl over https", last
    assert made["admin"]["id"] in last["author"] and last["peer"] == C1_ADDR, last
    # A wrong pin: refused before the token is sent, nothing changes.
    wrong = ("00:" * 32)[:-1].upper()
    bad = ctl("admin", "config", "set", "/selection/hysteresis_pct", "19", pin=wrong)
    assert bad.returncode != 0 and "pin" in (bad.stderr + bad.stdout).lower(), (bad.returncode, bad.stdout, bad.stderr)
    # A viewer token reads, cannot change.
    vs = ctl("viewer", "status", "--json")
    assert vs.returncode == 0 and json.loads(vs.stdout)["role"] == "cpe", (vs.stdout, vs.stderr)
    vset = ctl("viewer", "config", "set", "/selection/hysteresis_pct", "19")
    said = (vset.stderr + vset.stdout).lower()
    assert vset.returncode != 0 and ("403" in said or "forbidden" in said), (vset.returncode, vset.stdout, vset.stderr)
    assert config_state(s)[0] == etag2, "a refused change made a revision"
    print(f"  catsctl --url over HTTPS with a token: status read, hysteresis_pct {before} -> {value} "
          f"(revision {rev + 1}, author {last['author']}); wrong pin and viewer token refused")


def test_login_rate_limit(s: LabSession):
    steps = [{"method": "POST", "path": "/api/v1/login", "body": {"user": "vera", "password": "wrong password!"}}
             for _ in range(8)]
    steps.append({"method": "POST", "path": "/api/v1/login", "body": {"user": "vera", "password": VIEWER_PW}})
    # Per client address too: admin from the same client is held back (asked in the same
    # run of requests: the first lock is 1 s, common/auth/limiter.hpp, and a new client
    # process can take longer than that to start on a loaded machine), from another not.
    steps.append({"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}})
    r = talk(s, steps)
    codes = [x["status"] for x in r]
    assert codes[0] == 401, codes
    assert 429 in codes[:8], f"no lock-out after 8 failures: {codes}"
    assert codes[-2] == 429, f"the right password got through a lock-out: {codes}"
    locked = next(x for x in r if x["status"] == 429)
    assert int(locked["headers"].get("retry-after", "0")) >= 1, locked["headers"]
    assert codes[-1] == 429, f"the locked-out address logged in as another user: {codes}"
    other = talk(s, [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}},
                     {"method": "GET", "path": "/api/v1/audit"}], client="c2")
    assert other[1]["status"] == 200, other
    audit = other[1]["body"]["entries"]
    actions = {e["action"] for e in audit}
    assert {"login", "login_failed", "lockout"} <= actions, actions
    # Each entry records where it came from: vera's failures and lock-out from c1, the
    # admin's login that read this from c2.
    mine = [e for e in audit if e["action"] in ("login_failed", "lockout") and e["subject"] == "vera"]
    assert mine and all(e["peer"] == C1_ADDR for e in mine), f"peer of c1's failures: {mine}"
    last_login = max((e for e in audit if e["action"] == "login" and e["subject"] == "admin"), key=lambda e: e["id"])
    assert last_login["peer"] == C2_ADDR, f"peer of c2's login: {last_login}"
    assert ADMIN_PW not in json.dumps(audit) and VIEWER_PW not in json.dumps(audit)
    evs = {e.get("kind") for e in st_.events(s.lab)}
    assert {"auth_login", "auth_login_failed"} <= evs, sorted(evs)
    log = Path(s.lab.state()["daemon_configs"]["cpe"]["state_dir"]) / "daemon.log"
    text = log.read_text(errors="replace")
    assert ADMIN_PW not in text and VIEWER_PW not in text, "a password in the daemon's log"
    print(f"  failures {codes[:8]} then the right password: {codes[-2]}, admin from there: {codes[-1]}; "
          f"audit {sorted(actions)}")


def test_events_filtered(s: LabSession):
    """GET /api/v1/events filtered by the daemon (kind, kind group, subject, range, limit, points)
    answers exactly the matching events of the real store; a bad parameter is a 400
    naming it."""
    wan, vcpe = "wan1", "cloud1"
    q = [f"?since=0&kind=path_*&subject={vcpe}", f"?since=0&kind=auth_login,auth_lockout",
         f"?since=0&subject={wan}/{vcpe}", "?since=0&kind=path_*&newest=1&limit=2", "?since=0&kind=path_*&points=1",
         "?since=0&limit=1000"]
    bad = {"?kind=path%20down": "kind", "?limit=0": "limit", "?since=yesterday": "since",
           "?since=10&until=9": "since", f"?vcpe={vcpe}": "vcpe", "?subject=": "subject", "?points=0": "points"}
    steps = [{"method": "POST", "path": "/api/v1/login", "body": {"user": "admin", "password": ADMIN_PW}}]
    steps += [{"method": "GET", "path": "/api/v1/events" + x} for x in q + list(bad)]
    r = talk(s, steps, client="c2")  # c1 is still locked out by test_login_rate_limit
    assert r[0]["status"] == 200, r[0]
    res = r[1:]
    for x in res[:len(q)]:
        assert x["status"] == 200 and isinstance(x["body"], list), x
    by_path, logins, one_path, newest, thinned, every = (x["body"] for x in res[:len(q)])
    seg = lambda sub, v: v in sub.split("/") or f"/{v}/" in f"/{sub}/"  # noqa: E731
    key = lambda e: (e["ts_ms"], e["kind"], e["subject"], e["detail"])  # noqa: E731
    # Each filtered answer is exactly what filtering every event gives (fewer than 1000 here).
    assert len(every) < 1000, len(every)
    want = [e for e in every if e["kind"].startswith("path_") and seg(e["subject"], vcpe)]
    assert want and list(map(key, by_path)) == list(map(key, want)), (by_path, want)
    want = [e for e in every if e["kind"] in ("auth_login", "auth_lockout")]
    assert {"auth_login", "auth_lockout"} <= {e["kind"] for e in want}, want
    assert list(map(key, logins)) == list(map(key, want)), (logins, want)
    want = [e for e in every if e["subject"] == f"{wan}/{vcpe}" or seg(e["subject"], f"{wan}/{vcpe}")]
    assert list(map(key, one_path)) == list(map(key, want)), (one_path, want)
    want = [e for e in every if e["kind"].startswith("path_")][-2:]
    assert list(map(key, newest)) == list(map(key, want)), (newest, want)
    # points=1: one bucket over the whole range, so the newest event of each kind and subject.
    last = {}
    for i, e in enumerate(x for x in every if x["kind"].startswith("path_")):
        last[(e["kind"], e["subject"])] = (i, e)
    want = [e for _, e in sorted(last.values(), key=lambda ie: ie[0])]
    assert want and list(map(key, thinned)) == list(map(key, want)), (thinned, want)
    for (query, field), x in zip(bad.items(), res[len(q):]):
        assert x["status"] == 400 and error_code(x) == "invalid", (query, x)
        assert [f["field"] for f in x["body"]["error"]["fields"]] == [field], (query, x["body"])
    print(f"  events: {len(every)} in all, path_*&subject={vcpe}: {len(by_path)}, logins: {len(logins)}; "
          f"bad parameters: {sorted(set(bad.values()))} named")


WAN1_CPE, WAN1_ISP = "192.0.2.2", "192.0.2.1"  # fig4's CPE and isp1 on the wan1 link
OPEN_PORT = 8081  # a port the test opens on the CPE: answers on the LAN, not on a WAN
# A TCP connect: "open", "refused" or "timeout" (no SYN-ACK within the deadline: dropped).
CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""
# Accepts and echoes one line per connection, forever (killed by the test).
ECHO_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.sendall(c.recv(100))
    except OSError:
        pass
    c.close()
"""
# One connection out, one line there and back: "echo ok" when the answer came.
ECHO_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
c.sendall(b"cats\\n")
print("echo ok" if c.recv(100) == b"cats\\n" else "echo wrong")
"""


def connect(s: LabSession, node: str, host: str, port: int, deadline: float = 1.0) -> str:
    cp = s.exec(node, "/usr/bin/python3", "-c", CONNECT, host, str(port), str(deadline), check=False,
                timeout=deadline + 10)
    return cp.stdout.strip() or cp.stderr.strip()


def input_table(s: LabSession) -> str | None:
    cp = s.exec("cpe", "nft", "list", "table", "inet", "cats_input", check=False)
    return cp.stdout if cp.returncode == 0 else None


def wan_dropped(s: LabSession) -> int:
    cp = s.exec("cpe", "nft", "list", "counter", "inet", "cats_input", "wan_input_dropped")
    return int(re.search(r"packets (\d+)", cp.stdout).group(1))


def metric_dropped(s: LabSession) -> int:
    c = UnixHTTP(s.lab.daemon_entry("cpe")["socket"], timeout=5)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    m = re.search(r"^cats_wan_input_dropped_packets_total (\d+)$", text, re.M)
    return int(m.group(1)) if m else -1


def all_handshaken(s: LabSession):
    st = s.lab.status_json("cpe")
    peers = [p for t in st["tunnels"] for p in t["peers"]]
    return peers and all(p["last_handshake"] for p in peers)


class Background:
    """A process in a lab namespace for the duration of a `with` block (killed on exit)."""

    def __init__(self, s: LabSession, node: str, *cmd: str):
        self.p = subprocess.Popen(s.lab.exec_argv(node, list(cmd)), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait(timeout=5)
        return False


def test_wan_input_filter(s: LabSession):
    table = wait_until(lambda: input_table(s), 5, "table inet cats_input on the CPE")
    assert 'iifname != { "wan1", "wan2" } accept' in table and "udp dport { 51801, 51802 } accept" in table, table
    assert "tcp dport 8443" not in table, f"the LAN-only HTTPS port is open on the WANs: {table}"
    with Background(s, "cpe", "/usr/bin/python3", "-c", ECHO_SERVER, "0.0.0.0", str(OPEN_PORT)), \
            Background(s, "isp1", "/usr/bin/python3", "-c", ECHO_SERVER, WAN1_ISP, "9009"):
        # The port is open (from the LAN), so a WAN timeout is the filter, not a closed port.
        wait_until(lambda: connect(s, CLIENT, "10.1.0.1", OPEN_PORT) == "open", 5, "the test port open on the LAN")
        before = wan_dropped(s)
        got = connect(s, "isp1", WAN1_CPE, OPEN_PORT, 1.0)
        assert got == "timeout", f"port {OPEN_PORT} from the WAN: {got} (want no SYN-ACK)"
        assert wan_dropped(s) > before, "the WAN drop was not counted"
        # The same count on /metrics (read at most once a second there).
        wait_until(lambda: metric_dropped(s) > before, 3, "cats_wan_input_dropped_packets_total above the count before")
        # HTTPS listens on the LAN address only (fig4): closed on the WAN address too.
        assert connect(s, "isp1", WAN1_CPE, PORT, 0.5) == "timeout"
        r = s.ping("isp1", WAN1_CPE, count=3, interval=0.05)
        assert r["received"] == 3, f"ping from the WAN: {r}"
        # The CPE's own connection out over the WAN: its replies are established.
        out = wait_until(lambda: s.exec("cpe", "/usr/bin/python3", "-c", ECHO_CLIENT, WAN1_ISP, "9009",
                                        check=False).stdout.strip() == "echo ok", 5, "an echo from the WAN side")
        assert out
        wait_until(lambda: all_handshaken(s), 15, "every tunnel's handshake with the filter in place")
        # [firewall] wan_input through the API, applied live (the overlay's configuration
        # path). Off, the port answers from the WAN: the filter was what dropped it.
        for value, present in (('{"wan_input": "off"}', False), ("deny", True)):
            ptr = "/firewall" if value.startswith("{") else "/firewall/wan_input"
            cp = s.lab.catsctl("cpe", "config", "set", ptr, value, "--comment", "wan input filter")
            assert cp.returncode == 0, f"config set {ptr} {value}: {cp.stdout} {cp.stderr}"
            wait_until(lambda: (input_table(s) is not None) == present, 5, f"table inet cats_input present={present}")
            got = connect(s, "isp1", WAN1_CPE, OPEN_PORT, 1.0)
            assert got == ("timeout" if present else "open"), f"wan_input {value}: port {OPEN_PORT} from the WAN: {got}"
    print(f"  WAN1: port {OPEN_PORT} dropped (counted), {PORT} closed, ping and an outbound echo work, "
          "tunnels up; wan_input off (port open) / deny (dropped again) live")


def test_wan_input_kept_on_stop(s: LabSession):
    code = s.lab.stop_daemon("cpe")
    assert code == 0, f"cats-cpe exit {code}"
    # Stopped: tunnels gone, the filter stays (a firewall that vanishes on stop is worse than none).
    assert s.exec("cpe", "ip", "link", "show", "cats-wan1", check=False).returncode != 0, "tunnel left after stop"
    assert input_table(s) is not None, "table inet cats_input went with the daemon"
    with Background(s, "cpe", "/usr/bin/python3", "-c", ECHO_SERVER, "0.0.0.0", str(OPEN_PORT)):
        wait_until(lambda: connect(s, CLIENT, "10.1.0.1", OPEN_PORT) == "open", 5, "the test port open on the LAN")
        assert connect(s, "isp1", WAN1_CPE, OPEN_PORT, 1.0) == "timeout", "WAN port open while the daemon is down"
    # HTTPS on the WAN1 address too (a [management] listen change needs a restart: --reimport).
    cfg = Path(s.lab.state()["daemon_configs"]["cpe"]["config"])
    text = cfg.read_text()
    want = f'listen = ["{HOST}:{PORT}"]'
    assert want in text, text
    cfg.write_text(text.replace(want, f'listen = ["{HOST}:{PORT}", "{WAN1_CPE}:{PORT}"]'))
    s.lab.start_daemon("cpe", ("--reimport",))
    wait_until(lambda: s.lab.status_json("cpe").get("tls_fingerprint_sha256"), 15, "cats-cpe ready again")
    table = wait_until(lambda: (t := input_table(s)) and f"ip daddr {WAN1_CPE} tcp dport {PORT} accept" in t and t,
                       5, "the WAN1 HTTPS port in table inet cats_input")
    argv = s.lab.exec_argv("isp1", ["/usr/bin/python3", str(TOOL), WAN1_CPE, str(PORT), fingerprint(s)])
    cp = subprocess.run(argv, input=json.dumps([{"method": "GET", "path": "/api/v1/status"}]), capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, f"HTTPS from the WAN: {cp.stdout[-300:]} {cp.stderr[-300:]}"
    assert json.loads(cp.stdout)[0]["status"] == 401, cp.stdout[:300]
    wait_until(lambda: all_handshaken(s), 15, "every tunnel's handshake after the restart")
    print(f"  stopped: table kept, WAN port {OPEN_PORT} still dropped; restarted with {WAN1_CPE}:{PORT}: "
          "HTTPS answers from the WAN (401), tunnels up")


if __name__ == "__main__":
    sys.exit(main([
        test_no_admin_yet,
        test_first_admin,
        test_sessions_csrf_roles,
        test_tokens,
        test_secrets_export,
        test_bad_bodies,
        test_bad_change_bodies,
        test_catsctl_over_https,
        test_login_rate_limit,
        test_events_filtered,
        test_wan_input_filter,
        test_wan_input_kept_on_stop,
    ], scenario="fig4", daemons=True))
