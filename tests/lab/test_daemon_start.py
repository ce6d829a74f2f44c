#!/usr/bin/python3
"""Lab test of the daemon plumbing with stand-in daemons (the real ones may not be
built yet): a missing binary fails clearly and leaves nothing behind; with binaries
present, `up` writes keys (0600) and configs the daemons can parse, starts one daemon
per CPE/vCPE namespace, waits for each control socket; `down` stops them all."""
import os
import stat
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catslab import Lab, LabError  # noqa: E402
from catslab.common import list_lab_namespaces  # noqa: E402
from labtest import LabSession  # noqa: E402

FAKE = r'''#!/usr/bin/python3
# Stand-in daemon: parse the config, check the key, serve the control socket.
import socket, sys, tomllib, os, time, signal
cfg = tomllib.load(open(sys.argv[sys.argv.index("--config") + 1], "rb"))
sec = cfg.get("cpe") if isinstance(cfg.get("cpe"), dict) else cfg["vcpe"]
key = open(os.path.join(sec["state_dir"], "private.key")).read().strip()
assert len(key) == 44, "bad key"
s = socket.socket(socket.AF_UNIX); s.bind(sec["control_socket"]); s.listen(1)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("fake daemon up:", sec["name"], flush=True)
while True: time.sleep(1)
'''


def impair_bin() -> Path:
    return Lab().impair_binary()


def main() -> int:
    if os.geteuid() != 0:
        return 77
    failures = []
    real_impair = impair_bin()
    with tempfile.TemporaryDirectory() as tmp:
        bd = Path(tmp)
        (bd / "tests/lab").mkdir(parents=True)
        os.symlink(real_impair, bd / "tests/lab/cats-impair")
        # The synthetic app is real (only the daemons are stand-ins here).
        (bd / "tests/lab/app").mkdir(parents=True)
        os.symlink(Lab().build_dir / "tests/lab/app/cats-app", bd / "tests/lab/app/cats-app")
        # 1. missing daemon binary: clear error, nothing left.
        try:
            Lab(build_dir=bd, log=lambda *_: None).up("fig4", daemons=True, force=True)
            failures.append("up without daemon binaries succeeded")
        except LabError as e:
            if "cats-cpe" not in str(e):
                failures.append(f"unclear error: {e}")
            print(f"  missing binary -> {e}")
        if list_lab_namespaces() or os.path.exists("/run/cats-lab"):
            failures.append(f"left behind after failed up: {list_lab_namespaces()}")
        # 2. stand-in daemons.
        for rel in ("cpe/cats-cpe", "vcpe/cats-vcpe"):
            p = bd / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(FAKE)
            p.chmod(0o755)
        pids = []
        with LabSession("fig4", daemons=True, build_dir=str(bd), verbose=False) as s:
            st = s.lab.state()
            daemons = [p for p in st["processes"] if p["kind"] == "daemon"]
            pids = [p["pid"] for p in st["processes"]]
            if sorted(p["node"] for p in daemons) != ["cloud1", "cloud2", "cpe"]:
                failures.append(f"daemons: {daemons}")
            for node, info in st["daemon_configs"].items():
                key = Path(info["state_dir"]) / "private.key"
                mode = stat.S_IMODE(key.stat().st_mode)
                if mode != 0o600:
                    failures.append(f"{key} mode {oct(mode)}")
                if not Path(info["control_socket"]).exists():
                    failures.append(f"no control socket for {node}")
                cfg = tomllib.loads(Path(info["config"]).read_text())
                if node == "cpe":
                    v = cfg["vcpe"][0]
                    if v["public_key"] != st["daemon_configs"]["cloud1"]["public_key"] or \
                       v["ports"] != {"wan1": 51811, "wan2": 51812} or len(cfg["wan"]) != 2:
                        failures.append(f"cpe config: {cfg}")
                else:
                    c = cfg["cpe"][0]
                    if c["public_key"] != st["daemon_configs"]["cpe"]["public_key"] or \
                       [p["tunnel_interface"] for p in c["path"]] != [f"cats-c{node[-1]}-wan1", f"cats-c{node[-1]}-wan2"] \
                       or c["path"][0]["endpoint"] != "192.0.2.2:51801":
                        failures.append(f"{node} config: {cfg}")
            log = (Path(st["daemon_configs"]["cpe"]["state_dir"]) / "daemon.log").read_text()
            if "fake daemon up: branch1" not in log:
                failures.append(f"cpe log: {log!r}")
        from catslab import procs
        if [p for p in pids if procs.alive(p)] or list_lab_namespaces() or os.path.exists("/run/cats-lab"):
            failures.append("left behind after down")
    for f in failures:
        print("FAIL", f)
    print("PASS daemon start/stop plumbing" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
