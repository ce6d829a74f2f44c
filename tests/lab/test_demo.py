#!/usr/bin/python3
"""Lab test (issue 10, "Lab demo"): what `bash tests/run demo` does after its build, as a
user sees it. `tests/lab/cats-lab up --force --ui-listen 127.0.0.1:PORT` (the command
tests/run's `demo` case runs; PORT a free one, so a demo on 8443 is not disturbed) must:

* print the web UI's URL on the host and the one-time setup link on that same address,
  then return (the lab stays up);
* answer over HTTPS on the host's side (through the relay, not from a lab namespace):
  the certificate is the one whose fingerprint `catsctl status` shows (the printed hint);
  `/` is the UI's index.html, `/setup` too (client-side page), the API still 401;
* take the printed token: POST /api/v1/setup creates the first admin (201), the token is
  spent (a second setup is refused), and login with that account works (200, role admin,
  GET /api/v1/status 200 with the cookie);
* come down with `cats-lab down` (exit 0, no namespace, no relay listening), also when an
  assertion above failed or the test is killed (SIGTERM from ctest's timeout).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catslab.common import REPO_ROOT  # noqa: E402
from catslab.common import list_lab_namespaces  # noqa: E402

CATS_LAB = REPO_ROOT / "tests" / "lab" / "cats-lab"
TOOL = REPO_ROOT / "tests" / "lab" / "tools" / "https_session.py"
ADMIN = {"user": "admin", "password": "demo admin password 1"}
UP_TIMEOUT_S = 60


class _Terminated(BaseException):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated(f"signal {signum}")


def build_dir() -> Path:
    return Path(os.environ.get("CATS_BUILD_DIR") or REPO_ROOT / "build")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cats_lab(*args: str, timeout: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CATS_LAB), "--build-dir", str(build_dir()), *args],
                          capture_output=True, text=True, timeout=timeout)


def talk(port: int, pin: str, steps: list[dict]) -> list[dict]:
    """The HTTPS conversation from the host's namespace (what the host's browser does)."""
    cp = subprocess.run([sys.executable, str(TOOL), "127.0.0.1", str(port), pin],
                        input=json.dumps(steps), capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"https to 127.0.0.1:{port} failed (exit {cp.returncode}): {cp.stdout[-500:]} {cp.stderr[-500:]}"
    return json.loads(cp.stdout)


def demo_command() -> str:
    """tests/run's demo case, so this test follows it if it changes."""
    text = (REPO_ROOT / "tests" / "run").read_text()
    m = re.search(r"^\s*demo\)\s*\n(.*?);;", text, re.S | re.M)
    assert m, "tests/run has no demo case"
    return m.group(1)


def test_demo(port: int) -> None:
    body = demo_command()
    assert '"$root/tests/lab/cats-lab" up' in body, f"tests/run demo no longer runs cats-lab up: {body!r}"
    t0 = time.monotonic()
    cp = cats_lab("up", "--force", "--ui-listen", f"127.0.0.1:{port}")
    up_s = time.monotonic() - t0
    assert cp.returncode == 0, f"cats-lab up: exit {cp.returncode}: {cp.stderr[-2000:]} {cp.stdout[-1000:]}"
    out = cp.stdout
    base = f"https://127.0.0.1:{port}"
    m_url = re.search(r"^web UI: (https://\S+/) ", out, re.M)
    m_setup = re.search(r"^first admin: (https://\S+)$", out, re.M)
    assert m_url and m_url.group(1) == base + "/", f"no web UI URL for {base}/ in: {out!r}"
    assert m_setup, f"no one-time setup link printed: {out!r}"
    setup = m_setup.group(1)
    assert setup.startswith(base + "/setup#token="), f"the setup link is not on the printed address: {setup}"
    token = setup.split("#token=", 1)[1]
    assert len(token) >= 20, setup

    st = subprocess.run([sys.executable, str(CATS_LAB), "status", "--json"], capture_output=True, text=True, timeout=30)
    procs = {p["name"]: p for p in json.loads(st.stdout)["processes"]}
    assert procs.get("ui-relay", {}).get("alive"), f"no live ui-relay after up: {sorted(procs)}"
    # The fingerprint to compare (the printed hint): catsctl status on the CPE's socket.
    catsctl = build_dir() / "cpe" / "catsctl" / "catsctl"
    m_sock = re.search(r"catsctl --socket (\S+) status", out)
    assert m_sock, f"the UI line does not say how to check the fingerprint: {out!r}"
    args = [str(catsctl), "--socket", m_sock.group(1), "status", "--json"]
    cs = subprocess.run(args, capture_output=True, text=True, timeout=10)
    assert cs.returncode == 0, f"{' '.join(args)}: {cs.stderr}"
    pin = json.loads(cs.stdout).get("tls_fingerprint_sha256")
    assert pin, "catsctl status shows no certificate fingerprint"

    r = talk(port, pin, [
        {"method": "GET", "path": "/", "headers": {"Accept-Encoding": "identity"}},
        {"method": "GET", "path": "/setup", "headers": {"Accept-Encoding": "identity"}},
        {"method": "GET", "path": "/api/v1/status"},
        {"method": "POST", "path": "/api/v1/setup", "body": {"token": token, **ADMIN}},
        {"method": "POST", "path": "/api/v1/setup", "body": {"token": token, "user": "admin2", "password": ADMIN["password"]}},
        {"method": "POST", "path": "/api/v1/login", "body": ADMIN},
        {"method": "GET", "path": "/api/v1/status"},
    ])
    idx = r[0]
    assert idx["status"] == 200 and idx["headers"].get("content-type", "").startswith("text/html"), \
        f"GET / over the relay: {idx['status']} {idx['headers']}"
    assert re.search(r'src="/assets/[^"]+\.js"', idx["body"]), f"GET / is not the UI's index.html: {idx['body'][:300]!r}"
    assert r[1]["status"] == 200 and r[1]["body"] == idx["body"], f"GET /setup: {r[1]['status']}"
    assert r[2]["status"] == 401, f"the API answered without a login: {r[2]['status']}"
    assert r[3]["status"] == 201, f"setup with the printed token: {r[3]['status']} {r[3]['body']}"
    assert 400 <= r[4]["status"] < 500, f"the printed token worked twice: {r[4]['status']}"
    assert r[5]["status"] == 200 and r[5]["body"].get("role") == "admin", f"login: {r[5]['status']} {r[5]['body']}"
    assert r[6]["status"] == 200, f"GET /api/v1/status after login: {r[6]['status']}"
    print(f"  up in {up_s:.1f} s; printed {m_url.group(1)} and {base}/setup#token=…; "
          f"HTTPS from the host (pin {pin[:11]}…): /, /setup index.html, API 401; "
          f"setup 201 then {r[4]['status']}, login 200 as admin", flush=True)


def teardown(port: int) -> list[str]:
    problems = []
    cp = cats_lab("down")
    if cp.returncode != 0:
        problems.append(f"cats-lab down: exit {cp.returncode}: {(cp.stderr or cp.stdout)[-1000:]}")
    left = list_lab_namespaces()
    if left:
        problems.append(f"namespaces left: {left}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        problems.append(f"something still listens on 127.0.0.1:{port} (the relay)")
    except OSError:
        pass
    return problems


def main() -> int:
    if os.geteuid() != 0:
        print("lab tests need root (network namespaces)", file=sys.stderr)
        return 77
    if not (build_dir() / "webui" / "dist" / "index.html").is_file():
        print(f"SKIP: {build_dir()}/webui/dist missing (cmake --build {build_dir()} --target cats-webui)")
        return 77
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    port = free_port()
    t0 = time.monotonic()
    failed = False
    try:
        test_demo(port)
        print(f"PASS test_demo ({time.monotonic() - t0:.1f}s)", flush=True)
    except AssertionError as e:
        failed = True
        print(f"FAIL test_demo: {e}", flush=True)
    except (KeyboardInterrupt, _Terminated) as e:
        failed = True
        print(f"interrupted ({e or 'Ctrl-C'}); tearing down", flush=True)
    finally:
        problems = teardown(port)
        signal.signal(signal.SIGTERM, old)
    if problems:
        print("FAIL teardown: " + "; ".join(problems), flush=True)
        return 1
    print(f"{0 if failed else 1}/1 passed in {time.monotonic() - t0:.1f}s (torn down)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
