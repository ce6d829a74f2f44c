"""The lab: up / down / status / exec / impair over a scenario.

State lives in RUN_DIR (/run/cats-lab): state.json (scenario, namespaces, processes,
tunnel names, rates), per-daemon state dirs (keys, config, control socket, log),
impair-<link>.sock / impair-<link>.log. `down` needs none of it to clean up: it also
removes every cats-* namespace and whatever runs in them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import config, impair, procs, topology
from .common import (LAB_DIR, LabError, NS_PREFIX, REPO_ROOT, RUN_DIR, WG_SOCK_DIR, list_lab_namespaces,
                     ns_name, nsrun, run)
from .scenario import LLM_APP_KEYS, Scenario, load_scenario

STATE_FILE = "state.json"
SOCKET_TIMEOUT = 20.0
# Whether the scenario's [[cpe.service]] go into the daemon configs when neither the
# caller nor $CATS_LAB_SERVICES says (cats-cpe has them since "cpe: steering wired"; off
# is for builds before it, which refuse the unknown key).
SERVICES_DEFAULT = True


def default_build_dir() -> Path:
    return Path(os.environ.get("CATS_BUILD_DIR") or REPO_ROOT / "build")


def services_wanted(services: bool | None) -> bool:
    """An explicit argument wins, then $CATS_LAB_SERVICES (1/0, on/off, yes/no), then
    SERVICES_DEFAULT."""
    if services is not None:
        return services
    env = os.environ.get("CATS_LAB_SERVICES", "").strip().lower()
    if env in ("1", "on", "yes", "true"):
        return True
    if env in ("0", "off", "no", "false"):
        return False
    if env:
        raise LabError(f"CATS_LAB_SERVICES={env!r}: use 1 or 0")
    return SERVICES_DEFAULT


class Lab:
    def __init__(self, build_dir: str | Path | None = None, log=print):
        self.build_dir = Path(build_dir) if build_dir else default_build_dir()
        self.log = log
        self._scenario: Scenario | None = None

    # ------------------------------------------------------------------ state
    @property
    def state_path(self) -> Path:
        return RUN_DIR / STATE_FILE

    def state(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def _save(self, st: dict) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=2))
        tmp.replace(self.state_path)

    @property
    def scenario(self) -> Scenario:
        if self._scenario is None:
            st = self.state()
            if not st:
                raise LabError("no lab is up (no /run/cats-lab/state.json)")
            self._scenario = load_scenario(st["scenario"])
        return self._scenario

    def is_up(self) -> bool:
        return self.state_path.exists() or bool(list_lab_namespaces())

    # ------------------------------------------------------------------ binaries
    def impair_binary(self) -> Path:
        env = os.environ.get("CATS_IMPAIR")
        cands = [Path(env)] if env else []
        cands += [self.build_dir / "tests/lab/cats-impair", self.build_dir / "lab/cats-impair"]
        for c in cands:
            if c.is_file() and os.access(c, os.X_OK):
                return c
        raise LabError(f"cats-impair not found (looked at {', '.join(map(str, cands))}); build it: "
                       f"cmake --build {self.build_dir} --target cats-impair")

    def daemon_binary(self, rel: str) -> Path:
        # $CATS_DAEMON_BUILD_DIR: cats-cpe and cats-vcpe from another build tree, the rest
        # (catsctl, cats-app, cats-impair) from build_dir: `tests/run test` runs a few lab
        # tests with the sanitized build's daemons (ASan+UBSan, build-fuzz/).
        base = os.environ.get("CATS_DAEMON_BUILD_DIR")
        p = (Path(base) if base else self.build_dir) / rel
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise LabError(f"daemon binary missing: {p} (build it, pass --build-dir, or use --no-daemons)")
        return p

    # ------------------------------------------------------------------ up
    def up(self, scenario: str | Path | None = None, daemons: bool = True, force: bool = False,
           services: bool | None = None, ui_listen: str | None = None) -> dict:
        """`ui_listen` ("127.0.0.1:8443"): relay that host address to the CPE's HTTPS
        listen address from a LAN client's namespace (tools/ui_relay.py), so a browser on
        the host reaches the web UI; `cats-lab up` asks for it, tests do not."""
        if self.is_up():
            if not force:
                st = self.state() or {}
                raise LabError(f"a lab is already up (scenario {st.get('name', '?')}, namespaces "
                               f"{', '.join(list_lab_namespaces()) or 'none'}); run `cats-lab down` "
                               f"or `cats-lab up --force`")
            self.log("lab already up: tearing it down first (--force)")
            self.down()
        sc = load_scenario(scenario)
        self._scenario = sc
        with_services = services_wanted(services) and bool(sc.cpe and sc.cpe.services)
        try:
            impair_bin = self.impair_binary()
            binaries = {}
            if daemons and sc.cpe:
                binaries = {"cpe/cats-cpe": self.daemon_binary("cpe/cats-cpe")}
                if sc.vcpes:
                    binaries["vcpe/cats-vcpe"] = self.daemon_binary("vcpe/cats-vcpe")
            self._check_tunnel_names(sc)

            RUN_DIR.mkdir(parents=True, exist_ok=True)
            os.chmod(RUN_DIR, 0o755)
            st = {"scenario": str(sc.path), "name": sc.name, "started": time.time(),
                  "daemons": daemons, "build_dir": str(self.build_dir),
                  "namespaces": sc.namespaces(), "tunnels": sc.tunnel_interfaces(),
                  "processes": [], "rates": {}, "services": with_services}
            self._save(st)

            self.log(f"building topology {sc.name} ({sc.path})")
            topology.build(sc, log=self.log)

            for il in sc.impairs:
                self._start_impair(st, sc, il, impair_bin)
            self.log(f"  {len(sc.impairs)} impairable links: {', '.join(i.link for i in sc.impairs)}")

            webui = self.build_dir / "webui" / "dist"
            daemons_info = config.generate(sc, services=with_services,
                                           webui_dir=str(webui) if (webui / "index.html").is_file() else None)
            if with_services:
                self.log(f"  services: {', '.join(f'{x.id} {x.vip}' for x in sc.cpe.services)}")
            st["daemon_configs"] = daemons_info
            self._save(st)
            # The apps first: each vCPE samples its app from its first round on.
            for v in sc.vcpes:
                if v.app:
                    self._start_app(st, v)
                    if v.app.iperf3_port:
                        self._start_iperf3(st, v)
            if daemons and sc.cpe:
                order = [v.node for v in sc.vcpes] + [sc.cpe.node]
                for node in order:
                    self._start_daemon(st, node, daemons_info[node], binaries[daemons_info[node]["binary"]])
                if ui_listen and sc.cpe.management.get("listen"):
                    self._start_ui_relay(st, sc, ui_listen)
            self.log(f"lab {sc.name} is up" + ("" if daemons else " (no daemons)"))
            return st
        except BaseException:
            self.log("up failed: tearing the half-built lab down")
            try:
                self.down(quiet=True)
            except Exception as e:  # keep the original error
                self.log(f"  (cleanup problem: {e})")
            raise

    def _check_tunnel_names(self, sc: Scenario) -> None:
        for t in sc.tunnel_interfaces():
            sock = WG_SOCK_DIR / f"{t}.sock"
            if sock.exists() and _socket_live(sock):
                raise LabError(f"{sock} is in use by a running wireguard-go outside the lab; "
                               f"tunnel interface names must be unique on the host")

    def _start_impair(self, st: dict, sc: Scenario, il, binary: Path) -> None:
        sock = impair.socket_path(il.link)
        log_path = RUN_DIR / f"impair-{il.link}.log"
        argv = [str(binary), "--queue", str(il.queue), "--control", str(sock),
                "--delay", f"{il.delay:g}", "--jitter", f"{il.jitter:g}", "--loss", f"{il.loss:g}"]
        pid = procs.start(il.node, argv, log_path)
        st["processes"].append({"kind": "impair", "name": f"impair-{il.link}", "node": il.node,
                                "pid": pid, "log": str(log_path), "socket": str(sock)})
        self._save(st)
        procs.wait_for_path(sock, pid, f"cats-impair for {il.link}", log_path, SOCKET_TIMEOUT)
        nsrun(il.node, ["iptables", "-w", *impair.iptables_rule(il)])
        if il.rate:
            impair.set_rate(il, il.rate)
            st["rates"][il.link] = il.rate
            self._save(st)

    def app_binary(self) -> Path:
        p = self.build_dir / "tests/lab/app/cats-app"
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise LabError(f"cats-app missing: {p}; build it: cmake --build {self.build_dir} --target cats-app")
        return p

    def _start_app(self, st: dict, v) -> None:
        a = v.app
        log_path = RUN_DIR / f"app-{v.name}.log"
        argv = [str(self.app_binary()), "--name", f"app1-{v.name}", "--listen", f"{a.address}:{a.port}",
                "--load-listen", f"{a.address}:{a.load_port}"]
        if a.llm:
            argv.append("--llm")
            for k, x in a.llm_args.items():
                argv += [LLM_APP_KEYS[k][0], str(x)]
        else:
            argv += ["--workers", str(a.workers), "--service-ms", f"{a.service_ms:g}", "--background", f"{a.background:g}"]
        # Utilisation over the last 0.5 s: a load change shows within ~0.3 s at the app,
        # leaving the sampling/reporting path most of the 1 s budget.
        argv += ["--window-ms", "500"]
        pid = procs.start(a.node, argv, log_path)
        st["processes"].append({"kind": "app", "name": f"app1-{v.name}", "node": a.node, "pid": pid,
                                "log": str(log_path), "vcpe": v.name, "load_url": a.load_url})
        self._save(st)
        self.log(f"  started cats-app in {ns_name(a.node)} (pid {pid}), waiting for {a.health_url}")
        deadline = time.monotonic() + SOCKET_TIMEOUT
        while True:
            cp = nsrun(a.node, ["curl", "-sf", "--max-time", "1", a.health_url], check=False, timeout=5)
            if cp.returncode == 0:
                return
            if not procs.alive(pid):
                raise LabError(f"cats-app in {ns_name(a.node)} exited:\n{procs.tail(log_path)}")
            if time.monotonic() > deadline:
                raise LabError(f"cats-app in {ns_name(a.node)} did not answer {a.health_url} within "
                               f"{SOCKET_TIMEOUT:g}s:\n{procs.tail(log_path)}")
            time.sleep(0.1)

    def _start_iperf3(self, st: dict, v) -> None:
        """`iperf3 -s` beside the app (the bulk service's instance), awaited by its
        listening socket (a probe connection would count as an iperf3 client)."""
        a = v.app
        log_path = RUN_DIR / f"iperf3-{v.name}.log"
        pid = procs.start(a.node, ["iperf3", "-s", "-B", a.address, "-p", str(a.iperf3_port)], log_path)
        st["processes"].append({"kind": "aux", "name": f"iperf3-{v.name}", "node": a.node, "pid": pid,
                                "log": str(log_path), "vcpe": v.name})
        self._save(st)
        deadline = time.monotonic() + SOCKET_TIMEOUT
        while True:
            cp = nsrun(a.node, ["ss", "-Hltn", f"sport = :{a.iperf3_port}"], check=False, timeout=5)
            if cp.returncode == 0 and cp.stdout.strip():
                return
            if not procs.alive(pid):
                raise LabError(f"iperf3 -s in {ns_name(a.node)} exited:\n{procs.tail(log_path)}")
            if time.monotonic() > deadline:
                raise LabError(f"iperf3 -s in {ns_name(a.node)} not listening within {SOCKET_TIMEOUT:g}s")
            time.sleep(0.05)

    def _app_entry(self, vcpe: str) -> dict:
        for p in (self.state() or {}).get("processes", []):
            if p.get("kind") == "app" and p.get("vcpe") == vcpe:
                return p
        raise LabError(f"no app recorded for vCPE {vcpe}")

    def set_app_load(self, vcpe: str, fraction: float) -> dict:
        """Sets the background load (0..0.99 of each worker's time) of the app behind
        `vcpe` (POST /load); returns the app's answer."""
        entry = self._app_entry(vcpe)
        cp = nsrun(entry["node"], ["curl", "-sf", "--max-time", "5", "-X", "POST", "-H",
                                   "Content-Type: application/json", "-d", json.dumps({"background": fraction}),
                                   entry["load_url"]], check=False, timeout=10)
        if cp.returncode != 0:
            raise LabError(f"POST {entry['load_url']} failed ({cp.returncode}): {(cp.stderr or cp.stdout).strip()}")
        return json.loads(cp.stdout or "{}")

    def pause_app(self, vcpe: str, paused: bool) -> None:
        """Silences the app behind `vcpe` (SIGSTOP: its sockets stay open, nothing answers,
        as a hung server) or lets it run again (SIGCONT)."""
        os.kill(self._app_entry(vcpe)["pid"], signal.SIGSTOP if paused else signal.SIGCONT)

    def app_load(self, vcpe: str) -> dict:
        """GET /load of the app behind `vcpe`."""
        entry = self._app_entry(vcpe)
        cp = nsrun(entry["node"], ["curl", "-sf", "--max-time", "5", entry["load_url"]], check=False, timeout=10)
        if cp.returncode != 0:
            raise LabError(f"GET {entry['load_url']} failed ({cp.returncode})")
        return json.loads(cp.stdout)

    def _start_daemon(self, st: dict, node: str, info: dict, binary: Path, extra_args: tuple[str, ...] = ()) -> None:
        log_path = Path(info["state_dir"]) / "daemon.log"
        pid = procs.start(node, [str(binary), "--config", info["config"], *extra_args], log_path)
        st["processes"].append({"kind": "daemon", "name": binary.name, "node": node, "pid": pid,
                                "log": str(log_path), "socket": info["control_socket"]})
        self._save(st)
        self.log(f"  started {binary.name} in {ns_name(node)} (pid {pid}), waiting for its control socket")
        procs.wait_for_path(Path(info["control_socket"]), pid, f"{binary.name} in {ns_name(node)}",
                            log_path, SOCKET_TIMEOUT)

    def _start_ui_relay(self, st: dict, sc: Scenario, listen: str) -> None:
        client = next((n.name for n in sc.nodes.values() if n.role == "client"), None)
        if client is None:
            self.log("  no client node: the web UI is not relayed to the host")
            return
        target = sc.cpe.management["listen"][0]
        log_path = RUN_DIR / "ui-relay.log"
        # In the host's namespace (the relay enters the client's per connection).
        with open(log_path, "ab") as log:
            p = subprocess.Popen([sys.executable, str(LAB_DIR / "tools" / "ui_relay.py"), listen, ns_name(client), target],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
        st["processes"].append({"kind": "aux", "name": "ui-relay", "node": "host", "pid": p.pid, "log": str(log_path)})
        st["ui"] = {"listen": listen, "target": target, "via": client}
        self._save(st)
        # Up means listening: the URL printed next must answer at once.
        host, _, port = listen.rpartition(":")
        deadline = time.monotonic() + 5
        while True:
            if p.poll() is not None:
                raise LabError(f"ui_relay exited ({p.returncode}) on {listen}; see {log_path}")
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise LabError(f"ui_relay not listening on {listen} after 5 s; see {log_path}")
                time.sleep(0.05)
        self.log(f"  web UI: https://{listen}/ (relayed from the host to {target} via {ns_name(client)})")

    # --------------------------------------------------------------- daemons
    def daemon_entry(self, node: str) -> dict:
        st = self.state() or {}
        for p in st.get("processes", []):
            if p["kind"] == "daemon" and p["node"] == node:
                return p
        raise LabError(f"no daemon recorded for node {node}")

    def catsctl(self, node: str, *args: str, timeout: float = 10):
        """Runs catsctl on the host against `node`'s control socket."""
        binary = self.build_dir / "cpe" / "catsctl" / "catsctl"
        return run([str(binary), "--socket", self.daemon_entry(node)["socket"], *args],
                   check=False, timeout=timeout)

    def status_json(self, node: str) -> dict:
        cp = self.catsctl(node, "status", "--json")
        if cp.returncode != 0:
            raise LabError(f"catsctl status on {node}: exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()}")
        return json.loads(cp.stdout)

    def stop_daemon(self, node: str, timeout: float = 15.0) -> int:
        """SIGTERM (the daemon removes what it created); returns its exit status."""
        st = self.state()
        entry = self.daemon_entry(node)
        pid = entry["pid"]
        os.kill(pid, signal.SIGTERM)
        code = procs.wait_exit(pid, timeout)
        st["processes"] = [p for p in st["processes"] if p is not entry and p.get("pid") != pid]
        self._save(st)
        return code

    def start_daemon(self, node: str, extra_args: tuple[str, ...] = ()) -> None:
        """Starts `node`'s daemon again (after stop_daemon / kill_daemon); `extra_args`
        follow `--config FILE` (e.g. cats-cpe's `--reimport`)."""
        st = self.state()
        info = st["daemon_configs"][node]
        self._start_daemon(st, node, info, self.daemon_binary(info["binary"]), extra_args)

    def add_spare_wan(self, name: str, timeout: float = 15.0) -> list[str]:
        """The vCPEs' side of the scenario's spare WAN `name` once the CPE has it (added
        through its API as its next WAN, index len(wans) + its place among the spares):
        each vCPE's file gets its [[cpe.path]] (listen port port_base + index, the web UI's
        default) and the daemon restarts in place (SIGUSR2: re-exec, re-read the file, adopt
        its tunnels and create the new one), as an operator would reload it. Returns the
        vCPEs' new tunnel names once every daemon logged "ready;" again (deadline `timeout`)."""
        sc = self.scenario
        spare = next((w for w in sc.cpe.spare_wans if w.name == name), None)
        if spare is None:
            raise LabError(f"no spare WAN {name!r} in scenario {sc.name}")
        index = len(sc.cpe.wans) + sc.cpe.spare_wans.index(spare)
        st = self.state()
        logs, ready = {}, {}
        for v in sc.vcpes:
            entry = self.daemon_entry(v.node)
            cfg = Path(st["daemon_configs"][v.node]["config"])
            if f'wan = "{name}"' in cfg.read_text():
                raise LabError(f"{v.name} already has a path for {name}")
            with open(cfg, "a") as f:
                f.write("\n".join(config.vcpe_path_lines(v, index, spare)) + "\n")
            logs[v.node] = Path(entry["log"])
            ready[v.node] = logs[v.node].read_text(errors="replace").count("ready;")
            os.kill(entry["pid"], signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        for node, log in logs.items():
            while log.read_text(errors="replace").count("ready;") <= ready[node]:
                if time.monotonic() >= deadline:
                    raise LabError(f"{node} not ready {timeout:g}s after SIGUSR2 with the {name} path; see {log}")
                time.sleep(0.05)
        return [v.tunnel_interface(name) for v in sc.vcpes]

    def kill_daemon(self, node: str) -> None:
        """SIGKILL: a crash, leaving kernel state behind for the next start to adopt."""
        st = self.state()
        entry = self.daemon_entry(node)
        os.kill(entry["pid"], signal.SIGKILL)
        procs.wait_exit(entry["pid"], 5.0)
        st["processes"] = [p for p in st["processes"] if p.get("pid") != entry["pid"]]
        self._save(st)
        try:
            os.unlink(entry["socket"])
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------------ down
    def down(self, quiet: bool = False) -> list[str]:
        """Removes everything the lab made; works on a half-built lab and without state.
        Returns the problems left (empty = clean)."""
        log = (lambda *_: None) if quiet else self.log
        st = self.state() or {}
        problems: list[str] = []
        recorded = st.get("processes", [])
        # Daemons first (they may tidy their tunnels), then the impairers.
        for kind, grace in (("daemon", 5.0), ("app", 2.0), ("aux", 2.0), ("impair", 2.0)):
            pids = [p["pid"] for p in recorded if p.get("kind") == kind]
            if pids:
                left = procs.stop(pids, grace)
                problems += [f"pid {p} survived SIGKILL" for p in left]
        namespaces = set(st.get("namespaces", [])) | set(list_lab_namespaces())
        namespaces = {n for n in namespaces if n.startswith(NS_PREFIX)}
        # Anything else still running in a lab namespace (wireguard-go, shells, iperf3).
        for _ in range(3):
            pids = sorted({p for ns in namespaces for p in topology.namespace_pids(ns)} - {os.getpid()})
            if not pids:
                break
            log(f"stopping {len(pids)} process(es) left in lab namespaces")
            procs.stop(pids, grace=2.0)
        problems += topology.remove_namespaces(sorted(namespaces), log=log)
        # wireguard-go UAPI sockets (not per netns).
        tunnels = set(st.get("tunnels", []))
        if WG_SOCK_DIR.is_dir():
            for sock in WG_SOCK_DIR.glob("cats-*.sock"):
                name = sock.name[:-5]
                if name in tunnels or not _socket_live(sock):
                    try:
                        sock.unlink()
                    except OSError as e:
                        problems.append(f"cannot remove {sock}: {e}")
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        if RUN_DIR.exists():
            problems.append(f"cannot remove {RUN_DIR}")
        left = list_lab_namespaces()
        if left:
            problems.append(f"namespaces left: {', '.join(left)}")
        self._scenario = None
        log("lab is down" if not problems else "lab down with problems:\n  " + "\n  ".join(problems))
        return problems

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        st = self.state()
        present = list_lab_namespaces()
        if not st:
            return {"up": False, "namespaces": present}
        sc = self.scenario
        out = {"up": True, "scenario": st["name"], "path": st["scenario"], "daemons": st.get("daemons"),
               "namespaces": {n: (n in present) for n in sc.namespaces()}, "processes": [], "impair": {}}
        for p in st.get("processes", []):
            entry = dict(p)
            entry["alive"] = procs.alive(p["pid"])
            if p.get("socket"):
                entry["socket_present"] = Path(p["socket"]).exists()
            out["processes"].append(entry)
        for il in sc.impairs:
            try:
                params = impair.get(il.link)
                stats = impair.stats(il.link)
            except LabError as e:
                params, stats = {"error": str(e)}, {}
            out["impair"][il.link] = {"node": il.node, "queue": il.queue, "params": params,
                                      "rate_mbit": st.get("rates", {}).get(il.link, 0), "stats": stats}
        return out

    # ------------------------------------------------------------------ exec / impair
    def exec_argv(self, node: str, cmd: list[str]) -> list[str]:
        ns = ns_name(node)
        if ns not in list_lab_namespaces():
            raise LabError(f"no namespace {ns} (nodes: {', '.join(list_lab_namespaces()) or 'none'})")
        return ["ip", "netns", "exec", ns, *cmd]

    def run_in(self, node: str, cmd: list[str], check: bool = False, timeout: float = 60):
        return run(self.exec_argv(node, cmd), check=check, timeout=timeout)

    def impair(self, link: str, delay: float | None = None, jitter: float | None = None,
               loss: float | None = None, rate: float | None = None, clear: bool = False) -> dict:
        """Changes a link's impairment at run time; unspecified values are kept, --clear
        resets everything (then applies the values given)."""
        il = self.scenario.impair(link)
        st = self.state() or {}
        if clear:
            impair.set_params(link, delay=delay or 0, jitter=jitter or 0, loss=loss or 0)
            impair.set_rate(il, rate or 0)
            st.setdefault("rates", {})[link] = rate or 0
        else:
            impair.set_params(link, delay=delay, jitter=jitter, loss=loss)
            if rate is not None:
                impair.set_rate(il, rate)
                st.setdefault("rates", {})[link] = rate
        if st:
            self._save(st)
        return {"params": impair.get(link), "rate_mbit": st.get("rates", {}).get(link, 0),
                "stats": impair.stats(link)}

    def impair_stats(self, link: str) -> dict:
        self.scenario.impair(link)
        return impair.stats(link)

    # ------------------------------------------------------------------ helpers for tests/demo
    def set_default_wan(self, wan: str) -> None:
        """Makes the CPE's LAN breakout (main-table default route) use `wan`; the other
        WANs stay as higher-metric backups."""
        c = self.scenario.cpe
        if not c:
            raise LabError("scenario has no [cpe]")
        names = [w.name for w in c.wans]
        if wan not in names:
            raise LabError(f"unknown WAN {wan} (have {', '.join(names)})")
        ns = ns_name(c.node)
        for _ in range(16):
            if run(["ip", "-n", ns, "route", "del", "default", "table", "main"], check=False).returncode:
                break
        metric = 200
        for w in c.wans:
            m = 100 if w.name == wan else metric
            if w.name != wan:
                metric += 100
            run(["ip", "-n", ns, "route", "add", "default", "via", w.gateway, "dev", w.interface, "metric", str(m)])
        run(["ip", "netns", "exec", ns, "conntrack", "-F"], check=False)


def _socket_live(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(path))
            return True
    except OSError:
        return False
