#!/usr/bin/python3
"""The Vagrant lab's plan and configurations, from a lab scenario (default fig4), with the
lab's own generator (tests/lab/catslab: scenario.py reads the TOML, config.py writes the
daemons' files), so that the VMs run what `cats-lab up` runs in namespaces.

  lab-config.py plan [SCENARIO]          JSON on stdout: machines, NICs, networks (the
                                         Vagrantfile reads it at every vagrant command)
  lab-config.py configs DIR [SCENARIO]   DIR/<machine>/: the daemons' TOML files, keys, the
                                         app's arguments; kept if DIR/.done exists (the
                                         keys stay those of the running VMs)

Machines: the scenario's CPE ("cpe"), its vCPEs (by their node names, cloud1 and cloud2 in
fig4), and one client (the first client node). The lab's routers (isp1, isp2, inet) are
the host: every WAN and every vCPE uplink is a libvirt network in "route" mode whose host
address is the scenario's gateway, and the host routes between them. A vCPE's app runs in
a network namespace of its VM, on the vCPE's LAN bridge, as the lab's app node does.
"""
from __future__ import annotations

import dataclasses
import fcntl
import ipaddress
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests/lab"))
from catslab import config as labconfig  # noqa: E402
from catslab.scenario import Scenario, load_scenario  # noqa: E402

# The packages' paths (docs/examples/*.toml; debian/cats-*.dirs), not the lab's run dir.
PATHS = {"cpe": ("/var/lib/cats-cpe", "/run/cats/cpe.sock"),
         "vcpe": ("/var/lib/cats-vcpe", "/run/cats/vcpe.sock")}


class PlanError(Exception):
    pass


def mac(machine: int, nic: int) -> str:
    """Fixed MACs: the provisioning finds each NIC by its MAC (the guest's own names
    depend on the machine type's PCI layout)."""
    return f"52:54:00:ca:{machine:02x}:{nic:02x}"


def end_of(sc: Scenario, node: str, ifname: str):
    for link in sc.links:
        for e in (link.a, link.b):
            if e.node == node and e.ifname == ifname:
                return e
    raise PlanError(f"scenario {sc.name}: no link end {node}:{ifname}")


def bridge_of(sc: Scenario, node: str, name: str):
    for b in sc.bridges:
        if b.node == node and b.name == name:
            return b
    return None


def default_gateway(sc: Scenario, node: str) -> str:
    for r in sc.nodes[node].routes:
        w = r.split()
        if w[:2] == ["default", "via"]:
            return w[2]
    raise PlanError(f"scenario {sc.name}: node {node} has no default route")


def network(name: str, iface: ipaddress.IPv4Interface, mode: str, host: str | None = None) -> dict:
    """A libvirt network: "route" (the host is a router at `host`, the scenario's gateway)
    or "veryisolated" (a plain switch: the host has no address there, so it takes none of
    the lab's)."""
    n = {"name": name, "cidr": str(iface.network), "netmask": str(iface.netmask), "mode": mode}
    if host:
        n["host_ip"] = host
    return n


def plan(sc: Scenario) -> dict:
    if not sc.cpe or not sc.vcpes:
        raise PlanError(f"scenario {sc.name}: the Vagrant lab needs a CPE and at least one vCPE")
    c = sc.cpe
    machines: dict[str, dict] = {}
    lan = bridge_of(sc, c.node, c.lan_interface)
    if lan is None or not lan.address:
        raise PlanError(f"scenario {sc.name}: the CPE's LAN {c.lan_interface} has no bridge address")
    lan_if = ipaddress.IPv4Interface(lan.address)
    lan_net = network("cats-lan", lan_if, "veryisolated")
    nics = [{"name": c.lan_interface, "ip": str(lan_if), "network": lan_net, "mac": mac(1, 1), "routes": []}]
    for i, w in enumerate(c.wans):
        e = end_of(sc, c.node, w.interface)
        wi = ipaddress.IPv4Interface(e.address)
        nics.append({"name": w.interface, "ip": str(wi), "mac": mac(1, 2 + i), "routes": [],
                     "network": network(f"cats-{w.name}", wi, "route", w.gateway)})
    machines["cpe"] = {"box": "cats/cpe", "role": "cpe", "node": c.node, "nics": nics}
    for k, v in enumerate(sc.vcpes):
        e = end_of(sc, v.node, v.uplink)
        ui = ipaddress.IPv4Interface(e.address)
        gw = default_gateway(sc, v.node)
        # The CPE's WAN addresses by the uplink's gateway: the VM's default route is the
        # management network's.
        routes = [f"{w.address}/32 via {gw}" for w in c.wans]
        b = bridge_of(sc, v.node, v.lan_interface)
        if b is None or not b.address:
            raise PlanError(f"scenario {sc.name}: vCPE {v.node}'s LAN {v.lan_interface} has no bridge address")
        li = ipaddress.IPv4Interface(b.address)
        nics = [{"name": v.uplink, "ip": str(ui), "mac": mac(2 + k, 1), "routes": routes,
                 "network": network(f"cats-{v.node}-up", ui, "route", gw)},
                # The LAN NIC is a port of the bridge that has the vCPE's LAN address, as in
                # the lab (the app's veth is the other port).
                {"name": f"{v.lan_interface}p", "bridge": v.lan_interface, "ip": str(li), "mac": mac(2 + k, 2),
                 "routes": [], "network": network(f"cats-{v.node}-lan", li, "veryisolated")}]
        app = None
        if v.app:
            ai = ipaddress.IPv4Interface(f"{v.app.address}/{li.network.prefixlen}")
            if v.app.llm:
                raise PlanError(f"scenario {sc.name}: vCPE {v.node}'s app is an LLM app; the Vagrant lab runs workers only")
            # cats-app's arguments as catslab.lab.Lab._start_app gives them.
            app = {"address": str(ai), "gateway": str(li.ip), "health_url": v.app.health_url,
                   "iperf3_port": v.app.iperf3_port,
                   "argv": ["--name", f"app1-{v.name}", "--listen", f"{v.app.address}:{v.app.port}",
                            "--load-listen", f"{v.app.address}:{v.app.load_port}", "--workers", str(v.app.workers),
                            "--service-ms", f"{v.app.service_ms:g}", "--background", f"{v.app.background:g}",
                            "--window-ms", "500"]}
        machines[v.node] = {"box": "cats/vcpe", "role": "vcpe", "node": v.node, "nics": nics, "app": app}
    clients = [n for n in sc.nodes.values() if n.role == "client"]
    if clients:
        cl = clients[0]
        e = next((x for link in sc.links for x in (link.a, link.b) if x.node == cl.name), None)
        if e is None or not e.address:
            raise PlanError(f"scenario {sc.name}: client {cl.name} has no addressed link")
        ci = ipaddress.IPv4Interface(e.address)
        gw = default_gateway(sc, cl.name)
        # The services' VIPs and the clouds' subnets by the CPE; the default route stays
        # the management network's.
        dests = sorted({f"{sv.vip}/32" for sv in c.services} | {s for v in sc.vcpes for s in v.subnets})
        machines["client"] = {"box": "cats/vcpe", "role": "client", "node": cl.name,
                              "nics": [{"name": "lan0", "ip": str(ci), "mac": mac(9, 1), "network": lan_net,
                                        "routes": [f"{d} via {gw}" for d in dests]}]}
    return {"scenario": sc.name, "machines": machines}


def configs(sc: Scenario, out: Path) -> None:
    """Keys and TOML files for every daemon (catslab.config: the lab's generator), with
    the packages' state directories and sockets, the kernel's WireGuard (the images carry
    no wireguard-go), and the scenario's services."""
    c = dataclasses.replace(sc.cpe, wireguard="kernel")
    vcpes = [dataclasses.replace(v, wireguard="kernel") for v in sc.vcpes]
    role = {c.node: "cpe", **{v.node: "vcpe" for v in vcpes}}
    labconfig.state_dir = lambda node: Path(PATHS[role[node]][0])
    labconfig.control_socket = lambda node: Path(PATHS[role[node]][1])
    keydir = {n: out / n for n in role}
    pubkeys = {n: labconfig.genkey(keydir[n]) for n in role}
    report_keys = {v.node: labconfig.gen_report_key(keydir[v.node]) for v in vcpes}
    cpe_report_key = labconfig.gen_report_key(keydir[c.node])
    (out / c.node / "cpe.toml").write_text(labconfig.cpe_config(c, vcpes, pubkeys, report_keys, services=True))
    for v in vcpes:
        (out / v.node / "vcpe.toml").write_text(labconfig.vcpe_config(v, c, pubkeys, cpe_report_key, services=True))


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("plan", "configs") or (argv[0] == "configs" and len(argv) < 2):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "plan":
            print(json.dumps(plan(load_scenario(argv[1] if len(argv) > 1 else None)), indent=1))
            return 0
        out = Path(argv[1]).resolve()
        sc = load_scenario(argv[2] if len(argv) > 2 else None)
        p = plan(sc)
        out.mkdir(parents=True, exist_ok=True)
        # `vagrant up` runs this once per machine, in parallel with the libvirt provider.
        with open(out / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (out / ".done").exists():
                return 0
            for m in p["machines"]:
                d = out / m
                if d.exists():
                    shutil.rmtree(d)
                d.mkdir(mode=0o700)
            configs(sc, out)
            build = Path(os.environ.get("CATS_BUILD_DIR", REPO / "build"))
            app = build / "tests/lab/app/cats-app"
            for m, spec in p["machines"].items():
                (out / m / "plan.json").write_text(json.dumps(spec, indent=1) + "\n")
                # The same for the guest's shell (vagrant/provision/lab.sh; the CPE image has
                # no python): one NIC a line, "NAME MAC ADDRESS BRIDGE|- [ROUTE,...]".
                (out / m / "nics").write_text("".join(
                    f"{n['name']} {n['mac']} {n['ip']} {n.get('bridge', '-')} {','.join(n['routes'])}\n"
                    for n in spec["nics"]))
                (out / m / "hostname").write_text(m + "\n")
                if spec.get("app"):
                    if not app.is_file():
                        raise PlanError(f"{app} is missing (the vCPEs' app): cmake --build {build} --target cats-app")
                    shutil.copy2(app, out / m / "cats-app")
                    a = spec["app"]
                    (out / m / "app.env").write_text(
                        f"APP_ADDRESS={a['address']}\nAPP_GATEWAY={a['gateway']}\nAPP_HEALTH={a['health_url']}\n"
                        f"APP_IPERF3_PORT={a['iperf3_port'] or ''}\n")
                    (out / m / "app.args").write_text("".join(x + "\n" for x in a["argv"]))
            (out / ".done").write_text(p["scenario"] + "\n")
        print(f"lab-config: {out} ({p['scenario']}: {', '.join(p['machines'])})")
        return 0
    except (PlanError, OSError, ValueError) as e:
        print(f"lab-config: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # catslab's LabError and others: a message, not a trace
        print(f"lab-config: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
