#!/bin/bash
# The image boot test's network (cats-image-test-net.service, every boot, before
# cats-cpe): the WAN is the NIC on qemu's user network (tests/image/run.sh gives it the
# MAC below; its name is whatever udev names it, written to /run/cats-image-test/wan for
# the test), with slirp's guest address 10.0.2.15, the one a host port forward reaches by
# default, and its gateway; the LAN a dummy interface. The image itself configures no
# interface (docs/IMAGES.md "First boot").
set -euo pipefail
mac=52:54:00:ca:75:01
udevadm settle -t 60 || true  # the NIC keeps the name udev gives it
wan=
for _ in $(seq 60); do
  wan=$(ip -o link | awk -v m="link/ether $mac " 'index($0, m) {sub(":$", "", $2); print $2; exit}')
  [ -n "$wan" ] && break
  sleep 1
done
[ -n "$wan" ] || { echo "cats-image-test-net: no NIC with MAC $mac"; exit 1; }
ip addr replace 10.0.2.15/24 dev "$wan"
ip link set "$wan" up
ip route replace default via 10.0.2.2 dev "$wan"
ip link show lan0 >/dev/null 2>&1 || ip link add lan0 type dummy
ip addr replace 10.1.0.1/24 dev lan0
ip link set lan0 up
mkdir -p /run/cats-image-test
echo "$wan" >/run/cats-image-test/wan
echo "cats-image-test-net: WAN $wan 10.0.2.15/24 via 10.0.2.2, LAN lan0 10.1.0.1/24"
