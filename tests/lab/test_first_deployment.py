#!/usr/bin/python3
"""Lab test: docs/CONFIG.md "First deployment", tried as written, in both orders.

The TOML files and the commands are taken from that section of the document (its
```toml and ```sh blocks; an sh block's first line `# on the X` says where it runs, and a
`# -> PLACEHOLDER in FILE` comment says where a printed key is pasted). The only
substitutions are the lab's:
  * the programs come from the build directory, `/etc/cats/*.toml` is a temporary file;
  * `state_dir` is added to `[cpe]` / `[vcpe]`, because both "machines" share one
    /var/lib here, and catsctl is pointed at that state dir's socket (CATS_SOCKET);
  * the keys printed by `pubkey` replace the placeholders, as the reader would paste them.

The topology is the section's drawing, in fresh namespaces `tfd-*` (not `cats-*`: lab
tests own those): client, cpe, isp, vcpe, server. Round 1 sets up the CPE first (its
keys printed while its file still has the vCPE's placeholders; then the vCPE, which
therefore starts first); round 2 the vCPE first. Each round waits (deadline polls) for
the WireGuard handshake, the path up, the instance reported and a `curl` to the VIP
answered by the HTTP server; the doc's `catsctl` comments must match the output. Round 2
ends by removing the CPE's default route and restarting cats-cpe, which must log the
warning the doc quotes. Namespaces, processes and wireguard-go sockets are removed even
on failure (CATS_FD_PAUSE_ON_FAIL=SECONDS delays that, to look around by hand).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CATS_BUILD_DIR") or REPO / "build")
DOC = REPO / "docs" / "CONFIG.md"
HEADING = "## First deployment"
PREFIX = "tfd-"
NODES = ("client", "cpe", "isp", "vcpe", "server")
WHERE = {"the CPE": "cpe", "the vCPE": "vcpe", "the HTTP server": "server", "a LAN client": "client"}
PROGRAMS = {"cats-cpe": BUILD / "cpe" / "cats-cpe", "cats-vcpe": BUILD / "vcpe" / "cats-vcpe",
            "catsctl": BUILD / "cpe" / "catsctl" / "catsctl"}
WG_SOCK_DIR = Path("/var/run/wireguard")
# The drawing's addresses that are not in the TOML (underlay and the client).
CPE_WAN_ADDR = "192.0.2.2/30"
ISP_VCPE_SIDE = "203.0.113.1"
CLIENT_ADDR = "10.1.0.11/24"
PROSE = {"seconds"}  # words of the verify comments that are not values in catsctl's output


# ------------------------------------------------------------------ the document
class Doc:
    """The section's two TOML files and its commands, by machine."""

    def __init__(self, text: str):
        start = text.index(HEADING + "\n")
        end = text.find("\n## ", start + len(HEADING))
        section = text[start:end if end >= 0 else len(text)]
        self.toml: dict[str, str] = {}
        self.commands: dict[str, list[tuple[str, str | None]]] = {n: [] for n in WHERE.values()}
        self.comments: dict[str, str] = {}
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", section, re.S | re.M):
            if lang == "toml":
                role = body.split("\n", 1)[0].strip("[] ")
                assert role in ("cpe", "vcpe") and role not in self.toml, f"unexpected toml block {role!r}"
                self.toml[role] = body
            elif lang == "sh":
                first, *lines = body.strip().split("\n")
                m = re.fullmatch(r"# on (.+)", first.strip())
                assert m and m.group(1) in WHERE, f"sh block without a known '# on ...' line: {first!r}"
                for line in lines:
                    cmd, _, comment = line.partition("#")
                    paste = re.fullmatch(r"\s*-> (\w+) in \S+\s*", comment)
                    self.commands[WHERE[m.group(1)]].append((cmd.strip(), paste.group(1) if paste else None))
                    self.comments[cmd.strip()] = comment.strip()
        assert set(self.toml) == {"cpe", "vcpe"}, f"toml blocks found: {sorted(self.toml)}"
        m = re.search(r"cats-cpe warns\s+at start\s+`([^`]+)`", section)
        assert m, "the section does not quote cats-cpe's warning about a missing route"
        self.no_route_warning = m.group(1)
        self.cfg = {role: tomllib.loads(body) for role, body in self.toml.items()}

    def pick(self, node: str, pattern: str) -> list[tuple[str, str | None]]:
        found = [c for c in self.commands[node] if re.search(pattern, c[0])]
        assert found, f"the section has no command /{pattern}/ on {node}"
        return found


# ------------------------------------------------------------------ the lab
def sh(args: list[str], node: str | None = None, check: bool = True, timeout: float = 30, env=None,
       cwd=None) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", PREFIX + node] if node else []) + args
    cp = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    if check and cp.returncode:
        raise AssertionError(f"{shlex.join(cmd)} -> exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()}")
    return cp


def veth(a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str) -> None:
    sh(["ip", "link", "add", a_if, "netns", PREFIX + a, "type", "veth", "peer", "name", b_if,
        "netns", PREFIX + b])
    for node, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
        sh(["ip", "addr", "add", addr, "dev", ifname], node)
        sh(["ip", "link", "set", ifname, "up"], node)


def build_topology(doc: Doc) -> None:
    """The section's drawing; interface names and inner addresses from its TOML."""
    cpe, vcpe = doc.cfg["cpe"], doc.cfg["vcpe"]
    for n in NODES:
        sh(["ip", "netns", "add", PREFIX + n])
        sh(["ip", "link", "set", "lo", "up"], n)
    lan = cpe["lan"]
    lan_len = lan["subnets"][0].split("/")[1]
    veth("client", "eth0", CLIENT_ADDR, "cpe", lan["interface"], f"{lan['address']}/{lan_len}")
    wan = cpe["wan"][0]
    veth("cpe", wan["interface"], CPE_WAN_ADDR, "isp", "cpe0", f"{wan['gateway']}/30")
    veth("isp", "cloud0", f"{ISP_VCPE_SIDE}/30", "vcpe", vcpe["uplink"]["interface"],
         f"{cpe['vcpe'][0]['endpoint']}/30")
    server_ip = vcpe["instance"][0]["address"].rsplit(":", 1)[0]
    vlan_len = vcpe["lan"]["subnets"][0].split("/")[1]
    veth("vcpe", vcpe["lan"]["interface"], f"{vcpe['vcpe']['address']}/{vlan_len}",
         "server", "eth0", f"{server_ip}/{vlan_len}")
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"], "isp")
    sh(["ip", "route", "add", "default", "via", wan["gateway"]], "cpe")  # the doc's prerequisite
    sh(["ip", "route", "add", "default", "via", lan["address"]], "client")
    sh(["ip", "route", "add", "default", "via", ISP_VCPE_SIDE], "vcpe")
    sh(["ip", "route", "add", "default", "via", vcpe["vcpe"]["address"]], "server")


def tunnel_names(doc: Doc) -> list[str]:
    cpe = [w.get("tunnel_interface", "cats-" + w["name"]) for w in doc.cfg["cpe"]["wan"]]
    vcpe = [p["tunnel_interface"] for c in doc.cfg["vcpe"]["cpe"] for p in c["path"]]
    return cpe + vcpe


def sock_in_use(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def clear_wg_sockets(names: list[str], refuse_live: bool) -> None:
    for n in names:
        p = WG_SOCK_DIR / f"{n}.sock"
        if p.exists() and refuse_live and sock_in_use(p):
            raise AssertionError(f"{p} is in use by another process: tunnel name taken on this host")
        p.unlink(missing_ok=True)


def teardown(procs: list[subprocess.Popen], names: list[str]) -> None:
    for p in procs:  # daemons first (SIGTERM: they remove what they made)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    for n in NODES:  # anything else still in our namespaces (wireguard-go)
        cp = sh(["ip", "netns", "pids", PREFIX + n], check=False)
        for pid in (cp.stdout or "").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh(["ip", "netns", "del", PREFIX + n], check=False)
    clear_wg_sockets(names, refuse_live=False)


# ------------------------------------------------------------------ one round
class Round:
    def __init__(self, doc: Doc, first: str, tmp: Path):
        self.doc, self.first, self.tmp = doc, first, tmp
        self.procs: list[subprocess.Popen] = []
        self.files = {r: tmp / f"{r}.toml" for r in ("cpe", "vcpe")}
        self.state = {r: tmp / f"{r}-state" for r in ("cpe", "vcpe")}
        self.keys: dict[str, str] = {}
        self.token = f"first deployment, {first} first, {os.getpid()}"
        self.env = dict(os.environ, CATS_SOCKET=str(self.state["cpe"] / "control.sock"))

    def write_files(self) -> None:
        for role, body in self.doc.toml.items():
            header = f"[{role}]\n"
            assert body.startswith(header)
            text = body.replace(header, f'{header}state_dir = "{self.state[role]}"\n', 1)
            self.files[role].write_text(text)

    def paste(self, placeholder: str, key: str) -> None:
        for f in self.files.values():
            text = f.read_text()
            if f'"{placeholder}"' in text:
                f.write_text(text.replace(f'"{placeholder}"', f'"{key}"'))
                return
        raise AssertionError(f"placeholder {placeholder} is in neither file")

    def argv(self, cmd: str) -> list[str]:
        args = shlex.split(cmd)
        args = [str(self.files["cpe"]) if a == "/etc/cats/cpe.toml" else
                str(self.files["vcpe"]) if a == "/etc/cats/vcpe.toml" else a for a in args]
        if args[0] in PROGRAMS:
            args[0] = str(PROGRAMS[args[0]])
        return args

    def run(self, node: str, cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(self.argv(cmd), node, check=check, env=self.env)

    def start(self, node: str, cmd: str, cwd: Path | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{node}.log", "ab")
        p = subprocess.Popen(["ip", "netns", "exec", PREFIX + node, *self.argv(cmd)], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=self.env, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def own_keys(self, role: str, before_other: bool) -> None:
        """Step 2 on one machine; `before_other`: its file still has the other side's
        placeholders (the other side is not known yet)."""
        placeholders = re.search(r'"(CPE|VCPE)_\w+_KEY"', self.files[role].read_text())
        assert bool(placeholders) == before_other, f"test bug: {role}.toml placeholders: {placeholders}"
        for cmd, placeholder in self.doc.pick(role, rf"^cats-{role} pubkey"):
            out = self.run(role, cmd).stdout.strip()
            assert len(base64.b64decode(out, validate=True)) == 32, f"{cmd}: not a key: {out!r}"
            again = self.run(role, cmd).stdout.strip()
            assert again == out, f"{cmd}: a second run printed another key"
            assert placeholder, f"{cmd}: the doc does not say where its key goes"
            self.keys[placeholder] = out
            self.paste(placeholder, out)
        assert oct((self.state[role] / "private.key").stat().st_mode & 0o777) == "0o600"
        # A placeholder still in the file is named by --check (as the doc says).
        if re.search(r'"(CPE|VCPE)_\w+_KEY"', self.files[role].read_text()):
            check = self.doc.pick(role, r"--check$")[0][0]
            cp = self.run(role, check, check=False)
            assert cp.returncode == 1 and re.search(r"\]\.public_key: invalid WireGuard key", cp.stderr), \
                f"--check with placeholders: exit {cp.returncode}: {cp.stderr.strip()}"

    def check_and_start(self, role: str) -> None:
        for cmd, _ in self.doc.pick(role, rf"^cats-{role} "):
            if " pubkey" in cmd:
                continue
            if cmd.endswith("--check"):
                out = self.run(role, cmd).stdout
                assert out.strip(), "--check printed no plan"
            else:
                p = self.start(role, cmd)
                sock = self.state[role] / "control.sock"
                wait_until(lambda: sock.exists() or p.poll() is not None, 20, f"{role} control socket")
                assert p.poll() is None, f"cats-{role} exited {p.returncode}:\n{self.log(role)}"

    def log(self, node: str) -> str:
        try:
            return "\n".join((self.tmp / f"{node}.log").read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def catsctl_json(self, what: str):
        cp = sh([str(PROGRAMS["catsctl"]), "--json", what], "cpe", check=False, env=self.env)
        if cp.returncode:
            raise AssertionError(f"catsctl {what}: {cp.stderr.strip()}")
        return json.loads(cp.stdout)

    def verify(self) -> None:
        cpe_cfg = self.doc.cfg["cpe"]
        wan, vname = cpe_cfg["wan"][0]["name"], cpe_cfg["vcpe"][0]["name"]
        inst_addr = cpe_cfg["service"][0]["instance"][0]["address"]
        svc = cpe_cfg["service"][0]["id"]
        inst_id = self.doc.cfg["vcpe"]["instance"][0]["id"]

        def handshake():
            st = self.catsctl_json("status")
            assert st["tunnels"][0]["public_key"] == self.keys["CPE_PUBLIC_KEY"], "CPE runs with another key"
            return [p for t in st["tunnels"] for p in t["peers"] if p["name"] == vname and p["last_handshake"]]

        def path_up():
            return [p for p in self.catsctl_json("paths") if p.get("wan") == wan and p.get("vcpe") == vname
                    and p.get("state") == "up"]

        def instance():
            return [i for i in self.catsctl_json("instances") if i.get("available") is True
                    and i.get("vcpe") == vname and i.get("service") == svc and i.get("instance") == inst_id]

        def weighted():
            return [r for r in self.catsctl_json("decisions") if r.get("service") == svc
                    and r.get("address") == inst_addr and r.get("wan") == wan and r.get("weight", 0) > 0]

        wait_until(handshake, 20, "the WireGuard handshake (catsctl status)")
        wait_until(path_up, 20, f"path {wan} -> {vname} up (catsctl paths)")
        wait_until(instance, 20, "the instance reported available (catsctl instances)")
        wait_until(weighted, 20, f"a weight for {inst_addr} (catsctl decisions)")
        # The doc's own commands, as text: each shows the values its comment names.
        for cmd, _ in self.doc.pick("cpe", r"^catsctl "):
            out = self.run("cpe", cmd).stdout
            print(f"  $ {cmd}\n" + "\n".join("    " + ln for ln in out.splitlines()))
            comment = self.doc.comments[cmd]
            missing = [w for w in re.findall(r"(?<![A-Za-z])[a-z0-9][a-z0-9.:_-]*", comment)
                       if w not in PROSE and w not in out]
            assert not missing, f"{cmd}: the doc says {comment!r}; {missing} not in the output"
        # With the doc's prerequisites met, cats-cpe has nothing to warn about its underlay.
        assert "no route to its endpoint" not in (self.tmp / "cpe.log").read_text(), self.log("cpe")
        vsock = str(self.state["vcpe"] / "control.sock")
        vst = json.loads(sh([str(PROGRAMS["catsctl"]), "--socket", vsock, "--json", "status"], "vcpe").stdout)
        assert vst["tunnels"][0]["public_key"] == self.keys["VCPE_PUBLIC_KEY"], "the vCPE runs with another key"
        curl = self.doc.pick("client", r"^curl ")[0][0]
        body = wait_until(lambda: (lambda cp: cp.returncode == 0 and self.token in cp.stdout and cp.stdout)(
            self.run("client", curl + " --max-time 2", check=False)), 20, "the VIP answered by the HTTP server")
        print(f"  $ {curl}\n    {body.strip()[:80]}")

    def no_route_warning(self) -> None:
        """The prerequisite the doc warns about: without its route back to the vCPE, a
        restarted cats-cpe logs the warning the doc quotes."""
        gateway = self.doc.cfg["cpe"]["wan"][0]["gateway"]
        sh(["ip", "route", "del", "default", "via", gateway], "cpe")
        cpe = self.procs[[i for i, p in enumerate(self.procs) if "cats-cpe" in " ".join(p.args)][0]]
        cpe.send_signal(signal.SIGTERM)
        assert cpe.wait(timeout=10) == 0, f"cats-cpe exited {cpe.returncode} on SIGTERM:\n{self.log('cpe')}"
        (self.state["cpe"] / "control.sock").unlink(missing_ok=True)
        self.check_and_start("cpe")
        wait_until(lambda: self.doc.no_route_warning in (self.tmp / "cpe.log").read_text(), 10,
                   f"cats-cpe's warning {self.doc.no_route_warning!r}")
        print(f"  without the route: {self.doc.no_route_warning}")

    def go(self) -> None:
        other = "vcpe" if self.first == "cpe" else "cpe"
        self.write_files()
        www = self.tmp / "www"
        www.mkdir()
        (www / "index.html").write_text(self.token + "\n")
        server = self.start("server", self.doc.pick("server", r"http\.server")[0][0], cwd=www)
        # The doc's "before you start": the server is up. (http.server looks its own name
        # up before it listens, which takes a DNS timeout in a namespace without DNS.)
        port = self.doc.cfg["vcpe"]["instance"][0]["address"].rsplit(":", 1)[1]
        wait_until(lambda: server.poll() is None and f":{port} " in sh(["ss", "-Htln"], "server").stdout
                   or server.poll() is not None, 30, "the HTTP server listening")
        assert server.poll() is None, f"the HTTP server exited:\n{self.log('server')}"
        self.own_keys(self.first, True)    # the other side is not known yet
        self.own_keys(other, False)        # its file now complete: it starts first
        self.check_and_start(other)
        self.check_and_start(self.first)
        self.verify()
        if self.first == "vcpe":
            self.no_route_warning()


def wait_until(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
            if last:
                return last
        except (AssertionError, OSError, ValueError, KeyError, IndexError, subprocess.TimeoutExpired) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def run() -> int:
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 77
    doc = Doc(DOC.read_text())
    names = tunnel_names(doc)
    failures = 0
    for first in ("cpe", "vcpe"):
        tmp = Path(tempfile.mkdtemp(prefix=f"cats-firstdeploy-{first}-"))
        r = Round(doc, first, tmp)
        for n in NODES:
            sh(["ip", "netns", "del", PREFIX + n], check=False)
        try:
            clear_wg_sockets(names, refuse_live=True)
            build_topology(doc)
            r.go()
            print(f"PASS {first} first")
        except Exception as e:  # noqa: BLE001 - report, clean up, go on with the other order
            failures += 1
            print(f"FAIL {first} first: {e}")
            for node in ("cpe", "vcpe", "server"):
                print(f"  --- {node} log:\n{r.log(node)}")
            time.sleep(float(os.environ.get("CATS_FD_PAUSE_ON_FAIL", "0")))  # debugging by hand
        finally:
            teardown(r.procs, names)
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # CTest timeout: still tear down
    sys.exit(run())
