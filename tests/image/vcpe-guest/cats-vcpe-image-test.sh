#!/bin/bash
# The vCPE image boot test's guest side (tests/image/vcpe_run.sh; docs/IMAGES.md "vCPE
# image boot test"), run once at boot by cats-vcpe-image-test.service, after cloud-init.
# The image was configured by nothing but cloud-init: user-data from a real cats-cpe's
# POST /api/v1/vcpes and a NoCloud seed (cloud-localds). Checks, each with a deadline:
# cloud-init finished without errors and its schema check accepts the user-data; the
# NoCloud seed's meta-data and network configuration were applied (host name, eth1's
# address, the root partition grown into the larger disk); the file cloud-init wrote;
# cats-vcpe enabled and running under systemd with the kernel's WireGuard; the handshake
# with the CPE (the host pastes the keys that cloud-init printed on the console back into
# the CPE). Results on /dev/ttyS1 (tests/vm/guest/lib.sh); the host ends the VM.
set -uo pipefail
cats_test=cats-vcpe-image
lib=/usr/local/lib/cats-vcpe-image-test
source $lib/lib.sh  # say, pass, fail, check, wait_for
stty -F "$out" raw -echo 115200 2>/dev/null
echo >"$out"  # after the firmware's output on this port, a line of our own
finish() {
  local rc=$?
  set +e
  [ $rc = 0 ] || [ $fails != 0 ] || fail script "stopped early (exit $rc; console log)"
  if [ $fails != 0 ]; then
    for u in cloud-init-local cloud-init cloud-config cloud-final cats-vcpe systemd-networkd; do
      journalctl -b -u "$u" --no-pager -o short-monotonic 2>&1 | tail -25 | sed "s/^/journal $u: /" >"$out"
    done
    tail -30 /var/log/cloud-init.log 2>/dev/null | sed "s/^/journal cloud-init.log: /" >"$out"
  fi
  say "DONE fails=$fails"
  sync
  exit 0
}
trap finish EXIT
json() {  # json FILE EXPR: the Python expression on the file's JSON as d, printed
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}
# The application behind the vCPE (the host adds it to the CPE as a service instance).
systemd-run -q --unit=cats-test-app python3 $lib/app.py 10.2.9.1:8080
say "INFO $(cat /etc/cats-image-release | tr '\n' ' ')kernel $(uname -r), cloud-init $(cloud-init --version 2>&1 | awk '{print $2}'), up $(cut -d' ' -f1 /proc/uptime) s"

# --- 1. cloud-init: done, no errors, the user-data valid for this cloud-init ---
# "error" is final too (a module failed): it is reported below, not waited out.
wait_for cloud-init-finished 600 bash -c 'cloud-init status | grep -Eq "^status: (done|error|disabled)"'
check cloud-init-done "$(cloud-init status --long | tr '\n' ' ')" bash -c 'cloud-init status | grep -q "^status: done"'
check cloud-init-no-errors "$(json /run/cloud-init/result.json 'd["v1"]["datasource"], "errors", d["v1"]["errors"]')" \
  test "$(json /run/cloud-init/result.json 'len(d["v1"]["errors"])')" = 0
ds=$(json /run/cloud-init/result.json 'd["v1"]["datasource"]')
check cloud-init-datasource "$ds" bash -c '[[ $0 == *NoCloud* ]]' "$ds"
check user-data-schema "cloud-init schema --system: $(cloud-init schema --system 2>&1 | tail -1)" cloud-init schema --system
check user-data-is-cloud-config "$(head -1 /var/lib/cloud/instance/user-data.txt)" \
  test "$(head -1 /var/lib/cloud/instance/user-data.txt)" = "#cloud-config"
say "INFO user-data sha256 $(sha256sum </var/lib/cloud/instance/user-data.txt | cut -d' ' -f1)"

# --- 2. The seed's meta-data and network configuration ---
check hostname "$(hostname) (meta-data local-hostname)" test "$(hostname)" = cloud9
check eth0-dhcp "$(ip -br -4 addr show eth0)" bash -c 'ip -4 addr show eth0 | grep -q "inet "'
check eth1-static "$(ip -br -4 addr show eth1), $(ls /etc/systemd/network/ | tr '\n' ' ')" \
  bash -c 'ip -4 addr show eth1 | grep -q "inet 10.2.9.1/24" && ls /etc/systemd/network/ | grep -q cloud-init'
root_bytes=$(df -B1 --output=size / | tail -1 | tr -d ' ')
check root-grown "/ is $((root_bytes / 1048576)) MiB on a $(( $(lsblk -bdno SIZE /dev/vda) / 1048576 )) MiB disk (growpart, resizefs)" \
  test "$root_bytes" -gt $((3 * 1024 * 1024 * 1024))
check ssh-host-keys "$(ls /etc/ssh/ | grep -c '^ssh_host_.*_key$') host keys made at first boot, $(systemctl is-active ssh)" \
  bash -c 'ls /etc/ssh/ssh_host_ed25519_key && systemctl -q is-active ssh'

# --- 3. What cloud-init wrote, and cats-vcpe under systemd ---
say "INFO vcpe.toml sha256 $(sha256sum </etc/cats/vcpe.toml | cut -d' ' -f1)"
check vcpe-toml-mode "$(stat -c '%U:%G %a' /etc/cats/vcpe.toml)" test "$(stat -c '%U:%G %a' /etc/cats/vcpe.toml)" = "root:root 644"
check cats-vcpe-enabled "$(systemctl is-enabled cats-vcpe)" systemctl -q is-enabled cats-vcpe
wait_for cats-vcpe-active 120 systemctl -q is-active cats-vcpe
check cats-vcpe-no-restart "NRestarts $(systemctl show -p NRestarts --value cats-vcpe), MainPID $(systemctl show -p MainPID --value cats-vcpe)" \
  test "$(systemctl show -p NRestarts --value cats-vcpe)" = 0
check state-owner "$(stat -c '%U %a %n' /var/lib/cats-vcpe/private.key /var/lib/cats-vcpe/report.key 2>&1 | tr '\n' ' ')" \
  test "$(stat -c %U /var/lib/cats-vcpe/private.key | sort -u)" = _cats
wg_link() { ip -d link show type wireguard | grep -q wireguard; }
wait_for kernel-wg-link 60 wg_link
check kernel-wg "$(ip -br link show type wireguard | tr '\n' ' ')$(grep '^wireguard ' /proc/modules | cut -d' ' -f1-2)" \
  bash -c 'grep -q "^wireguard " /proc/modules && ! pgrep wireguard-go'

# --- 4. The handshake: once the CPE has the keys cloud-init printed ---
handshake() {
  local now hs; now=$(date +%s)
  hs=$(wg show all latest-handshakes); echo "$hs"
  [ -n "$hs" ] && awk -v now="$now" '$3 == 0 || now - $3 > 180 {bad=1} END {exit bad}' <<<"$hs"
}
wait_for handshake 900 handshake
check handshake-evidence "$(wg show all latest-handshakes | tr '\t\n' '  ')$(wg show all endpoints | tr '\t\n' '  ')" true
