#!/usr/bin/python3
"""Lab test: bad configurations make cats-cpe / cats-vcpe exit non-zero with the file, the
line or field and the reason, having created nothing (no link, rule, route, nft table,
WireGuard socket or key file).

Runs in its own namespace (tcfg-bad, not cats-*: it must not collide with a lab), removed
even when a check fails.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CATS_BUILD_DIR") or REPO / "build")
NS = "tcfg-bad"
EXAMPLES = REPO / "docs" / "examples"


def sh(*args, check=True, ns=True):
    cmd = (["ip", "netns", "exec", NS] if ns else []) + list(args)
    cp = subprocess.run(cmd, text=True, capture_output=True, timeout=30)
    if check and cp.returncode:
        raise AssertionError(f"{' '.join(cmd)}: {cp.stderr}")
    return cp


def snapshot() -> dict:
    snap = {
        "links": sh("ip", "-o", "link").stdout,
        "rules4": sh("ip", "-4", "rule").stdout,
        "rules6": sh("ip", "-6", "rule").stdout,
        "routes4": sh("ip", "-4", "route", "show", "table", "all").stdout,
        "routes6": sh("ip", "-6", "route", "show", "table", "all").stdout,
        "nft": sh("nft", "list", "ruleset").stdout,
        "wg_sockets": sorted(os.listdir("/var/run/wireguard")) if os.path.isdir("/var/run/wireguard") else [],
    }
    return snap


def write_config(tmp: Path, example: str, edits: list[tuple[str, str]], state: Path) -> Path:
    text = (EXAMPLES / example).read_text()
    text = re.sub(r'state_dir = ".*"', f'state_dir = "{state}"', text)
    text = re.sub(r'control_socket = ".*"', f'control_socket = "{state}/control.sock"', text)
    for old, new in edits:
        assert old in text, f"test bug: {old!r} not in {example}"
        text = text.replace(old, new, 1)
    path = tmp / example
    path.write_text(text)
    return path


# (binary, example, edits, expected stderr fragments)
CASES = [
    ("cpe", "cpe.toml", [("cost = 0", "cots = 0")], [r"cpe\.toml:\d+:\d+: wan\[0\]\.cots: unknown key"]),
    ("cpe", "cpe.toml", [('gateway = "192.0.2.1"', 'gateway = "192.0.2.999"')],
     [r"cpe\.toml:\d+:\d+: wan\[0\]\.gateway: invalid IP address '192\.0\.2\.999'"]),
    ("cpe", "cpe.toml", [("6nRskU+hL0Bf", "6nRskU+hL0B")], [r"vcpe\[0\]\.public_key: invalid WireGuard key"]),
    ("cpe", "cpe.toml", [('name = "cloud2"', 'name = "cloud1"')], [r"vcpe\[1\]\.name: duplicate name 'cloud1'"]),
    ("cpe", "cpe.toml", [('interface = "wan2"', 'interface = "nosuch0"')],
     [r"cpe\.toml: wan\[1\]\.interface: interface 'nosuch0' does not exist", r"nothing was changed"]),
    ("vcpe", "vcpe.toml", [("listen_port = 51812", "listen_port = 51811")], [r"duplicate listen_port '51811'"]),
    ("vcpe", "vcpe.toml", [('interface = "up0"', 'interface = "nosuch1"')], [r"vcpe\.toml: uplink\.interface: interface 'nosuch1' does not exist"]),
    ("vcpe", "vcpe.toml", [("[lan]", "[lan")], [r"vcpe\.toml:\d+:\d+: "]),
]


def run() -> int:
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 77
    failures = 0
    tmp = Path(tempfile.mkdtemp(prefix="cats-badcfg-"))
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    try:
        sh("ip", "netns", "add", NS, ns=False)
        # The interfaces the example configs name (veth: this kernel has no dummy).
        for a, b in (("lan0", "lan0p"), ("wan1", "wan1p"), ("wan2", "wan2p"), ("up0", "up0p")):
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        before = snapshot()
        for i, (role, example, edits, expect) in enumerate(CASES):
            state = tmp / f"state{i}"
            cfg = write_config(tmp, example, edits, state)
            binary = str(BUILD / role / f"cats-{role}")
            cp = sh(binary, "--config", str(cfg), check=False)
            err = cp.stderr + cp.stdout
            problems = []
            if cp.returncode == 0:
                problems.append("exited 0")
            for pattern in expect:
                if not re.search(pattern, err):
                    problems.append(f"stderr lacks /{pattern}/")
            after = snapshot()
            changed = [k for k in before if before[k] != after[k]]
            if changed:
                problems.append(f"changed: {changed}")
            if state.exists() and any(state.iterdir()):
                problems.append(f"created files: {sorted(p.name for p in state.iterdir())}")
            if problems:
                failures += 1
                print(f"FAIL case {i} ({role}, {edits}): {problems}\n  output: {err.strip()}")
            else:
                print(f"PASS case {i} ({role}): {err.strip().splitlines()[-1]}")
        # Usage errors are exit 2.
        cp = sh(str(BUILD / "cpe" / "cats-cpe"), "--bogus", check=False)
        if cp.returncode != 2 or "usage" not in cp.stderr:
            failures += 1
            print(f"FAIL usage error: exit {cp.returncode}: {cp.stderr}")
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(CASES) + 1 - failures}/{len(CASES) + 1} passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run())
