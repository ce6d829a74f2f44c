#!/bin/bash
# The VM test's guest side (tests/vm/run.sh; docs/IMAGES.md "VM test"), run once at boot by
# cats-vm-test.service under the real systemd. Installs the packages from /root/payload/v1,
# sets up the topology below, starts both units, and checks, each with a deadline:
# install, kernel WireGuard, the CPE's view, a flow through the VIP, an upgrade to
# /root/payload/v2 (state kept, daemons re-exec'd in place, an established flow survives),
# and a purge. Every check writes "PASS name: evidence" or "FAIL name: evidence" to the
# result channel (/dev/ttyS1, read by the host), then "DONE"; the VM powers off.
#
#  ns client            root ns (cats-cpe.service)         ns vcpe (cats-vcpe.service)     ns app
#  eth0 10.1.0.11 ── lan0 10.1.0.1   wan0 192.0.2.2 ── up0 192.0.2.1, 203.0.113.2
#                                                          lan0 10.2.1.1 ── eth0 10.2.1.10:8080
set -uo pipefail
lib=/usr/local/lib/cats-vm
source $lib/lib.sh  # say, pass, fail, check, wait_for
finish() {
  local rc=$?
  set +e
  # A command of the set -e part (the topology) failed: no check said so yet.
  [ $rc = 0 ] || [ $fails != 0 ] || fail script "stopped early (exit $rc; console log)"
  for u in cats-cpe cats-vcpe; do
    journalctl -b -u "$u" --no-pager -o short-monotonic 2>&1 | tail -40 | sed "s/^/journal $u: /" >"$out"
  done
  say "DONE fails=$fails"
  sync
  systemctl poweroff --no-block
  exit 0
}
trap finish EXIT
stty -F "$out" raw -echo 115200 2>/dev/null
# kernel (default) or userspace (wireguard-go), from the kernel command line (tests/vm/run.sh).
wg=kernel
[[ " $(cat /proc/cmdline) " == *" cats.wireguard=userspace "* ]] && wg=userspace

say "INFO wireguard=$wg, kernel $(uname -r), $(systemctl --version | head -1), $(dpkg-query -W -f '${Version}' nftables) nftables"

# --- 1. Install (real maintainer scripts under the running systemd) ---
v1cpe=$(ls /root/payload/v1/cats-cpe_*.deb) v1vcpe=$(ls /root/payload/v1/cats-vcpe_*.deb)
check install "dpkg -i $(basename "$v1cpe") $(basename "$v1vcpe")" dpkg -i "$v1cpe" "$v1vcpe" || exit 1
check sysusers "user _cats: $(getent passwd _cats)" getent passwd _cats
for u in cats-cpe cats-vcpe; do
  check "$u-enabled" "$(systemctl is-enabled $u)" systemctl -q is-enabled $u
  # Enabled and started by the postinst, skipped while its configuration is missing.
  check "$u-waits-for-config" "$(systemctl show -p ActiveState -p ConditionResult $u | tr '\n' ' ')" \
    test "$(systemctl show -p ConditionResult --value $u)" = no
done

# --- 2. Topology ---
set -e
for ns in client vcpe app; do ip netns add $ns; done
ip link add lan0 type veth peer name eth0 netns client
ip link add wan0 type veth peer name up0 netns vcpe
ip -n vcpe link add lan0 type veth peer name eth0 netns app
ip addr add 10.1.0.1/24 dev lan0; ip link set lan0 up
ip addr add 192.0.2.2/30 dev wan0; ip link set wan0 up
ip route add default via 192.0.2.1 dev wan0
ip -n client addr add 10.1.0.11/24 dev eth0; ip -n client link set eth0 up; ip -n client link set lo up
ip -n client route add default via 10.1.0.1
ip -n vcpe addr add 192.0.2.1/30 dev up0; ip -n vcpe addr add 203.0.113.2/32 dev up0
ip -n vcpe link set up0 up; ip -n vcpe link set lo up
ip -n vcpe route add default via 192.0.2.2 dev up0
ip -n vcpe addr add 10.2.1.1/24 dev lan0; ip -n vcpe link set lan0 up
ip -n app addr add 10.2.1.10/24 dev eth0; ip -n app link set eth0 up; ip -n app link set lo up
ip -n app route add default via 10.2.1.1
set +e
systemd-run -q --unit=cats-vm-app -p NetworkNamespacePath=/run/netns/app python3 $lib/app.py 10.2.1.10:8080

# --- 3. Configuration (docs/CONFIG.md "First deployment", kernel WireGuard) ---
mkdir -p /etc/cats
cat >/etc/cats/cpe.toml <<'TOML'
[cpe]
name = "branch1"
wireguard = "WG_BACKEND"

[lan]
interface = "lan0"
address = "10.1.0.1"
subnets = ["10.1.0.0/24"]

[[wan]]
name = "fiber"
interface = "wan0"
gateway = "192.0.2.1"

[[vcpe]]
name = "cloud1"
public_key = "VCPE_PUBLIC_KEY"
report_key = "VCPE_REPORT_KEY"
endpoint = "203.0.113.2"
address = "10.2.1.1"
subnets = ["10.2.1.0/24"]
keepalive = 5
[vcpe.ports]
fiber = 51820

# TCG on a shared host answers a probe up to seconds late (CPU starvation, not the
# network): with the defaults (down_after 2 x 50 ms) the path flaps during dpkg runs, and
# every path_down flushes the conntrack entries of the flows steered over it. Loss is
# declared after 5 s here, longer than the vCPE's re-exec under TCG (~2.3 s measured).
[probing]
interval_ms = 200
timeout_ms = 2000
down_after = 25

[[service]]
id = "web"
vip = "10.255.0.1"
ports = [80]
[[service.instance]]
vcpe = "cloud1"
address = "10.2.1.10:8080"
TOML
cat >/etc/cats/vcpe.toml <<'TOML'
[vcpe]
name = "cloud1"
address = "10.2.1.1"
wireguard = "WG_BACKEND"

[lan]
interface = "lan0"
subnets = ["10.2.1.0/24"]

[uplink]
interface = "up0"

[[instance]]
service = "web"
id = "web1"
address = "10.2.1.10:8080"
health = "tcp"
# TCG again: a connect can take over 500 ms (the default) while dpkg runs, and one failed
# check makes the instance unavailable, which flushes its flows at the CPE.
health_timeout_ms = 3000

[[cpe]]
name = "branch1"
public_key = "CPE_PUBLIC_KEY"
report_key = "CPE_REPORT_KEY"
address = "10.1.0.1"
subnets = ["10.1.0.0/24"]
[[cpe.path]]
wan = "fiber"
listen_port = 51820
tunnel_interface = "cats-br1-fiber"
TOML
sed -i "s/WG_BACKEND/$wg/" /etc/cats/cpe.toml /etc/cats/vcpe.toml
# The keys, made by root in the state directories before the first start: the units'
# "+chown" ExecStartPre must hand them to _cats.
k() { "$@" 2>>/tmp/keys.err || echo "KEY-ERROR"; }
sed -i "s|CPE_PUBLIC_KEY|$(k cats-cpe pubkey --config /etc/cats/cpe.toml)|; s|CPE_REPORT_KEY|$(k cats-cpe pubkey --report --config /etc/cats/cpe.toml)|" /etc/cats/vcpe.toml
sed -i "s|VCPE_PUBLIC_KEY|$(k cats-vcpe pubkey --config /etc/cats/vcpe.toml)|; s|VCPE_REPORT_KEY|$(k cats-vcpe pubkey --report --config /etc/cats/vcpe.toml)|" /etc/cats/cpe.toml
check keys "$(ls -ln /var/lib/cats-cpe /var/lib/cats-vcpe | tr '\n' ' ')" bash -c '! grep -q KEY-ERROR /etc/cats/*.toml'
check cpe-check "cats-cpe --check" cats-cpe --config /etc/cats/cpe.toml --check || exit 1
check vcpe-check "cats-vcpe --check" ip netns exec vcpe cats-vcpe --config /etc/cats/vcpe.toml --check || exit 1

# --- 4. Start both units (the vCPE's with a netns drop-in, the CPE's unmodified) ---
timeout 60 systemctl start cats-vcpe.service cats-cpe.service
active() { for u in "$@"; do [ "$(systemctl show -p ActiveState --value "$u")" = active ] || { systemctl status --no-pager "$u"; return 1; }; done; }
wait_for units-active 30 active cats-cpe cats-vcpe || exit 1
sleep 3  # a unit that crashes right after start is not "active" any more (Restart=on-failure)
check units-still-active "MainPID cpe $(systemctl show -p MainPID --value cats-cpe) vcpe $(systemctl show -p MainPID --value cats-vcpe), NRestarts $(systemctl show -p NRestarts --value cats-cpe)/$(systemctl show -p NRestarts --value cats-vcpe)" \
  bash -c "[ \$(systemctl show -p NRestarts --value cats-cpe) = 0 ] && [ \$(systemctl show -p NRestarts --value cats-vcpe) = 0 ] && systemctl -q is-active cats-cpe cats-vcpe"
check state-owner "$(stat -c '%U %a %n' /var/lib/cats-cpe /var/lib/cats-cpe/private.key /var/lib/cats-vcpe/private.key | tr '\n' ' ')" \
  test "$(stat -c %U /var/lib/cats-cpe/private.key /var/lib/cats-vcpe/private.key | sort -u)" = _cats

# --- 5. WireGuard: the kernel's (links of type wireguard), or wireguard-go (tun links) ---
if [ $wg = kernel ]; then
  wg_link() { ip "$@" -d link show type wireguard | grep -q 'wireguard'; }
  wait_for cpe-wg-link 30 wg_link
  check cpe-kernel-wg-link "$(ip -d link show type wireguard | head -3 | tr '\n' ' ')" wg_link
  check vcpe-kernel-wg-link "$(ip -n vcpe -d link show type wireguard | head -3 | tr '\n' ' ')" wg_link -n vcpe
  check wg-module "$(grep '^wireguard ' /proc/modules | cut -d' ' -f1-3), loaded by the kernel on demand (the test loads no module)" grep -q '^wireguard ' /proc/modules
  check no-wireguard-go "$(pgrep -a wireguard-go || echo none)" bash -c '! pgrep wireguard-go'
else
  wg_link() { ip "$@" -d link show | grep -q 'tun type tun'; }
  wait_for cpe-wg-link 30 wg_link
  check wireguard-go-running "$(pgrep -a wireguard-go | tr '\n' ' '; ps -o user=,pid=,cmd= -C wireguard-go | tr '\n' ' ')" \
    bash -c '[ "$(ps -o user= -C wireguard-go | sort -u)" = _cats ]'
  check vcpe-wg-link "$(ip -n vcpe -d link show | grep -B1 -A1 'tun type' | head -3 | tr '\n' ' ')" wg_link -n vcpe
fi
handshake() {  # [NS]: a handshake in the last 3 minutes on every WireGuard peer there
  local now hs; now=$(date +%s)
  hs=$(if [ $# -gt 0 ]; then ip netns exec "$1" wg show all latest-handshakes; else wg show all latest-handshakes; fi)
  echo "$hs"
  [ -n "$hs" ] && awk -v now="$now" '$3 == 0 || now - $3 > 180 {bad=1} END {exit bad}' <<<"$hs"
}
wait_for handshake-cpe 60 handshake
wait_for handshake-vcpe 30 handshake vcpe
check handshake-evidence "$(wg show all latest-handshakes | tr '\t\n' '  ')" true
# The WAN input filter (issue 11) made by the hardened unit's daemon (_cats, CAP_NET_ADMIN).
check cpe-wan-input-filter "$(nft list table inet cats_input 2>&1 | grep -c accept) accept rules" nft list table inet cats_input

# --- 6. The CPE's view (catsctl over the control socket) ---
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }
paths_up() { catsctl --json paths | tee /dev/stderr | jq_py 'any(p.get("state")=="up" and p.get("vcpe")=="cloud1" for p in d)'; }
report_seen() { catsctl --json reports | tee /dev/stderr | jq_py 'any(v.get("vcpe")=="cloud1" for v in d.get("vcpes",[]))'; }
instance_up() { catsctl --json instances | tee /dev/stderr | jq_py 'any(i.get("vcpe")=="cloud1" and i.get("available") in (True,"yes") for i in d)'; }
wait_for cpe-path-up 60 paths_up
wait_for cpe-report-seen 60 report_seen
wait_for cpe-instance-available 60 instance_up
check catsctl-status "$(catsctl status 2>&1 | tail -n +1 | head -4 | tr -s ' \n' '  ')" catsctl status

# --- 7. A flow from the client through the VIP ---
get_vip() { ip netns exec client python3 -c 'import urllib.request as u; b=u.urlopen("http://10.255.0.1/", timeout=5).read(); print(b); assert b"cats-vm-app" in b'; }
wait_for vip-flow 60 get_vip
check vip-answer "$(ip netns exec client python3 -c 'import urllib.request as u; print(u.urlopen("http://10.255.0.1/", timeout=5).read())' 2>&1)" get_vip

# --- Benchmark (cats.bench=1 on the kernel command line: CATS_VM_BENCH=1 tests/vm/run.sh):
# TCP throughput from the client to the app through the tunnel (site to site, no VIP),
# iperf3 for 10 s. Under TCG only the ratio between the backends means anything.
if [[ " $(cat /proc/cmdline) " == *" cats.bench=1 "* ]]; then
  ip netns exec app iperf3 -s -D -1 -B 10.2.1.10 >/dev/null
  sleep 1  # iperf3 -D returns before it listens
  if ip netns exec client iperf3 -c 10.2.1.10 -t 10 -O 2 -J >/tmp/iperf.json 2>&1; then
    say "BENCH wireguard=$wg tcp client->app through the tunnel: $(python3 -c 'import json; e=json.load(open("/tmp/iperf.json"))["end"]; print("%.1f Mbit/s received, %d retransmits" % (e["sum_received"]["bits_per_second"]/1e6, e["sum_sent"].get("retransmits", -1)))')"
  else
    fail bench "iperf3: $(tail -c 300 /tmp/iperf.json | tr '\n' ' ')"
  fi
fi

# --- 8. Upgrade to v2: state kept, re-exec in place, an established flow survives ---
systemd-run -q --unit=cats-vm-stream -p NetworkNamespacePath=/run/netns/client python3 $lib/stream_client.py 10.255.0.1 80 /run/cats-vm-stream
stream_n() { read -r n _ _ </run/cats-vm-stream 2>/dev/null; echo "${n:-0}"; }
stream_at_least() { local n; n=$(stream_n); echo "lines $n"; [ "$n" -ge "$1" ]; }
wait_for stream-open 30 stream_at_least 5
state_sum() { sha256sum /etc/cats/cpe.toml /etc/cats/vcpe.toml /var/lib/cats-cpe/private.key /var/lib/cats-vcpe/private.key /var/lib/cats-cpe/report.key; ls -i /var/lib/cats-cpe/cats.db; }
before=$(state_sum)
db_rows=$(python3 -c 'import sqlite3; c=sqlite3.connect("file:/var/lib/cats-cpe/cats.db?mode=ro", uri=True); print(sum(c.execute(f"select count(*) from \"{t}\"").fetchone()[0] for (t,) in c.execute("select name from sqlite_master where type=\"table\"")))' 2>&1)
reexeced() {  # same PID, running the new binary (not the replaced, deleted one)
  local u=$1 pid=$2 exe
  [ "$(systemctl show -p MainPID --value "$u")" = "$pid" ] || { echo "MainPID now $(systemctl show -p MainPID --value "$u"), was $pid"; return 1; }
  exe=$(readlink /proc/"$pid"/exe); echo "$u pid $pid exe $exe"
  [ "$exe" = "/usr/sbin/$u" ]
}
flow_open() { read -r n gap st </run/cats-vm-stream; echo "lines $n, max gap ${gap}s, $st"; [ "$st" = open ]; }
t_up=$(date +%s)
# One package at a time, the CPE first: which daemon's in-place restart keeps the flow.
for p in cats-cpe cats-vcpe; do
  deb=$(ls /root/payload/v2/${p}_*.deb)
  pid=$(systemctl show -p MainPID --value $p)
  check $p-upgrade "dpkg -i $(basename "$deb")" dpkg -i "$deb"
  check $p-upgrade-version "$(dpkg-query -W $p | tr '\t' ' ')" test "$(dpkg-query -W -f '${Version}' $p)" = "$(dpkg-deb -f "$deb" Version)"
  check $p-reloaded "$(journalctl -u $p -b --no-pager -o cat -g 'SIGUSR2|ready' | tail -2 | tr '\n' ' ')" \
    journalctl -u $p -b --no-pager -q -g SIGUSR2
  # The reload is asynchronous (SIGUSR2): give the new process time to come up, then
  # require 5 s more of the stream (25 lines) on the same connection.
  wait_for $p-reexec-in-place 30 reexeced $p "$pid"
  n1=$(stream_n)
  wait_for $p-upgrade-flow-continues 30 stream_at_least $((n1 + 25))
  check $p-upgrade-flow-open "$(flow_open)" flow_open
done
say "INFO the CPE's path and steering events since the upgrade began: $(journalctl -u cats-cpe -b --since @$t_up --no-pager -o cat -g 'path_down|path_up|flush ct' | tr '\n' ';')"
check upgrade-state-kept "db rows before $db_rows; $(state_sum | awk '{print $NF}' | tr '\n' ' ')" test "$before" = "$(state_sum)"
check upgrade-handshake "$(wg show all latest-handshakes | tr '\t\n' '  ')" handshake
wait_for upgrade-path-up 30 paths_up
wait_for upgrade-new-flow 30 get_vip
check upgrade-no-restart "NRestarts $(systemctl show -p NRestarts --value cats-cpe)/$(systemctl show -p NRestarts --value cats-vcpe)" \
  bash -c "[ \$(systemctl show -p NRestarts --value cats-cpe) = 0 ] && [ \$(systemctl show -p NRestarts --value cats-vcpe) = 0 ]"
systemctl stop cats-vm-stream

# --- 9. Purge ---
check purge "dpkg --purge cats-cpe cats-vcpe" dpkg --purge cats-cpe cats-vcpe
check purge-units-gone "$(systemctl list-unit-files 'cats-*' --no-legend | tr '\n' ' ')" \
  bash -c '! systemctl -q is-active cats-cpe cats-vcpe && [ ! -e /lib/systemd/system/cats-cpe.service ] && [ ! -e /etc/systemd/system/multi-user.target.wants/cats-cpe.service ]'
check purge-tunnels-gone "$(ip -br link; ip -n vcpe -br link; pgrep -a wireguard-go)" \
  bash -c '! ip link show cats-fiber && ! ip -n vcpe link show cats-br1-fiber && ! pgrep wireguard-go'
check purge-state-gone "$(ls -d /var/lib/cats-* 2>&1 | tr '\n' ' ')" bash -c '! ls -d /var/lib/cats-* 2>/dev/null'
check purge-wan-input-filter-gone "$(nft list tables | tr '\n' ' ')" bash -c '! nft list table inet cats_input >/dev/null 2>&1'
check purge-admin-config-kept "$(ls /etc/cats 2>&1 | tr '\n' ' ')" test -f /etc/cats/cpe.toml
check purge-user-kept "$(getent passwd _cats)" getent passwd _cats
