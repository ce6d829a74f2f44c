#!/bin/bash
# The Vagrant lab's provisioning, in the guest, as root (vagrant/Vagrantfile):
#   lab.sh cpe|vcpe|client DIR
# DIR holds what vagrant/lab-config.py made for this machine from the scenario: `nics`
# (one NIC a line: NAME MAC ADDRESS BRIDGE|- ROUTES), `hostname`, and the daemon's TOML
# file and keys (cpe, vcpe), cats-app and its arguments (vcpe). Idempotent: a second run
# (`vagrant provision`) changes nothing that is already right; the CPE's configuration is
# imported at its first start only (docs/CONFIG.md: the database owns it afterwards).
set -euo pipefail
role=$1 dir=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds, with a deadline.
wait_for() {
  local secs=$1 what=$2 end=$((SECONDS + $1)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "$what not within ${secs}s"
    sleep 0.5
  done
}
[ -f "$dir/nics" ] || fail "$dir/nics missing (vagrant/lab-config.py makes it)"
name=$(cat "$dir/hostname")
echo "$name" >/etc/hostname
hostname "$name"
grep -q " $name\$" /etc/hosts || echo "127.0.1.1 $name" >>/etc/hosts

# 1. The lab's NICs: found by MAC, named as in the scenario (a .link file for the next
# boots, a rename now), addressed by systemd-networkd (the box's 99-vagrant-mgmt.network
# runs DHCP on anything else: the management NIC).
net=/etc/systemd/network
changed=0
put() {  # put FILE: stdin into FILE when it differs
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else install -m 0644 "$tmp" "$1"; rm -f "$tmp"; changed=1; fi
}
names=()
while read -r nic mac addr bridge routes; do
  [ -n "$nic" ] || continue
  names+=("$nic")
  dev=
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] && dev=${d##*/}
  done
  [ -n "$dev" ] || fail "no NIC with MAC $mac (for $nic): is the Vagrantfile's NIC list the plan's?"
  printf '[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n' "$mac" "$nic" | put "$net/10-cats-$nic.link"
  if [ "$dev" != "$nic" ]; then
    ip link set dev "$dev" down
    ip link set dev "$dev" name "$nic"
  fi
  route_lines() {
    local r
    IFS=, read -ra rs <<<"$routes"
    for r in ${rs[@]+"${rs[@]}"}; do
      set -- $r  # DEST via GW
      printf '\n[Route]\nDestination=%s\nGateway=%s\n' "$1" "$3"
    done
  }
  if [ "$bridge" = - ]; then
    { printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n' "$nic" "$addr"
      route_lines; } | put "$net/10-cats-$nic.network"
  else
    names+=("$bridge")
    printf '[NetDev]\nName=%s\nKind=bridge\n' "$bridge" | put "$net/10-cats-$bridge.netdev"
    printf '[Match]\nName=%s\n\n[Network]\nBridge=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$nic" "$bridge" |
      put "$net/10-cats-$nic.network"
    { printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n' "$bridge" "$addr"
      route_lines; } | put "$net/10-cats-$bridge.network"
  fi
done <"$dir/nics"
if [ $changed = 1 ]; then
  networkctl reload
  for n in "${names[@]}"; do networkctl reconfigure "$n" 2>/dev/null || true; done
fi
while read -r nic mac addr bridge routes; do
  [ -n "$nic" ] || continue
  on=$nic; [ "$bridge" = - ] || on=$bridge
  wait_for 30 "address $addr on $on" sh -c "ip -4 -o addr show dev '$on' | grep -q ' ${addr%/*}/'"
done <"$dir/nics"

# 2. The daemon: its file and keys from the scenario (the keys every peer's file names),
# then started; the unit (packaged) waits for the file (ConditionPathExists).
daemon() {  # daemon cpe|vcpe
  local d=$1 state=/var/lib/cats-$1 sock=/run/cats/$1.sock
  install -d -m 0755 /etc/cats
  install -d -m 0700 -o _cats -g _cats "$state"
  for k in private.key report.key; do
    install -m 0600 -o _cats -g _cats "$dir/$k" "$state/$k"
  done
  # 0640 root:_cats: the daemon reads it as _cats (docs/IMAGES.md "Configuration").
  install -m 0640 -o root -g _cats "$dir/$d.toml" "/etc/cats/$d.toml"
  systemctl enable "cats-$d.service" >/dev/null 2>&1 || true
  systemctl start "cats-$d.service"
  wait_for 60 "cats-$d answering on $sock" test -S "$sock"
  systemctl is-active --quiet "cats-$d.service" || { journalctl -u "cats-$d" -n 40 --no-pager; fail "cats-$d is not active"; }
}

# 3. A vCPE's app, as the lab's app node: cats-app in the network namespace "app", whose
# veth is a port of the vCPE's LAN bridge (catslab.lab.Lab._start_app's arguments).
app() {
  # shellcheck disable=SC1091
  . "$dir/app.env"
  install -d /usr/local/lib/cats-lab
  install -m 0755 "$dir/cats-app" /usr/local/lib/cats-lab/cats-app
  install -m 0644 "$dir/app.args" /usr/local/lib/cats-lab/app.args
  local bridge
  bridge=$(awk '$4 != "-" {print $4; exit}' "$dir/nics")
  cat >/usr/local/lib/cats-lab/app-netns <<EOF
#!/bin/sh
# The app's namespace (vagrant/provision/lab.sh), made at each boot before cats-app.
set -e
ip netns add app 2>/dev/null || true
if ! ip link show lan-app1 >/dev/null 2>&1; then
  ip link add lan-app1 type veth peer name eth0 netns app
fi
ip link set lan-app1 master $bridge up
ip -n app link set lo up
ip -n app link set eth0 up
ip -n app addr replace $APP_ADDRESS dev eth0
ip -n app route replace default via $APP_GATEWAY
EOF
  chmod 0755 /usr/local/lib/cats-lab/app-netns
  cat >/etc/systemd/system/cats-lab-app.service <<EOF
[Unit]
Description=The Vagrant lab's app (cats-app, tests/lab/app) in netns app behind the vCPE
After=systemd-networkd.service
Before=cats-vcpe.service

[Service]
ExecStartPre=/usr/local/lib/cats-lab/app-netns
ExecStart=/bin/sh -c 'exec ip netns exec app setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/local/lib/cats-lab/cats-app \$(cat /usr/local/lib/cats-lab/app.args)'
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
  if [ -n "$APP_IPERF3_PORT" ] && command -v iperf3 >/dev/null; then
    cat >/etc/systemd/system/cats-lab-iperf3.service <<EOF
[Unit]
Description=The Vagrant lab's iperf3 server (the bulk service's instance) in netns app
After=cats-lab-app.service
Requires=cats-lab-app.service

[Service]
ExecStart=ip netns exec app setpriv --reuid=nobody --regid=nogroup --clear-groups iperf3 -s -p $APP_IPERF3_PORT
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
  fi
  systemctl daemon-reload
  systemctl enable --now cats-lab-app.service >/dev/null 2>&1
  [ -f /etc/systemd/system/cats-lab-iperf3.service ] && systemctl enable --now cats-lab-iperf3.service >/dev/null 2>&1
  wait_for 30 "cats-app answering $APP_HEALTH" ip netns exec app python3 -c \
    "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$APP_HEALTH"
}

case $role in
  cpe) daemon cpe ;;
  vcpe) app; daemon vcpe ;;
  client) ;;
  *) fail "role $role (cpe, vcpe, client)" ;;
esac
echo "lab.sh: $name ($role) provisioned"
