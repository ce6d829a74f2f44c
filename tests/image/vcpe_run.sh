#!/usr/bin/env bash
# The vCPE cloud image boot test (docs/IMAGES.md "vCPE image boot test"), as root:
#   tests/image/vcpe_run.sh [DEBDIR]    DEBDIR holds cats-vcpe_*.deb (build-pkg/)
# Builds the vCPE image (images/vcpe/build.sh) with the guest test
# (tests/image/vcpe-guest/) in it, starts a real cats-cpe (CATS_BUILD_DIR, default build/)
# in a network namespace of its own (cats-vimg-cpe, under the lab lock), asks it to add a
# vCPE (POST /api/v1/vcpes on its control socket), and boots the image in qemu (TCG, OVMF)
# with a NoCloud seed (cloud-localds) holding exactly the user-data the CPE answered. Then,
# as an operator would: reads the vCPE's keys from its console (printed by that
# user-data), pastes them into the same request (the vCPE added as a revision), and waits,
# with a deadline, for the CPE to see it: a WireGuard handshake, the path up; and once a
# service with an instance behind it is added (an HTTP app in the guest), a signed report accepted
# and the instance available. The guest's own PASS/FAIL lines come over its second serial port
# (images/rootfs/lib.sh); a failure prints the console's tail. Everything is removed on
# exit (trap).
#
#  netns cats-vimg-cpe          host                                 qemu (user networking)
#  lan0 (veth) 10.1.0.1/24
#  wan1 10.77.0.2/30 ── cats-vimg-wan 10.77.0.1/30
#                                     198.51.100.77/32 ── hostfwd udp 51811 ── eth0 10.0.2.15 (DHCP)
#                                                                             eth1 10.2.9.1/24 (static)
# The vCPE's "public endpoint" is 198.51.100.77 on the host: qemu forwards its UDP port
# 51811 (the WAN's default port) to the guest, as a cloud's public IP does.
# Env: CATS_BUILD_DIR (build), CATS_IMAGE_DIR (build-image), CATS_VCPE_IMAGE_TIMEOUT
#      (seconds from the start of qemu to every check done, 1500), CATS_VM_SMP (2),
#      CATS_VM_MEM (MiB, 1024), CATS_MIRROR (images/rootfs/mkrootfs.sh).
set -euo pipefail
source "$(dirname "$0")/../../images/rootfs/lib.sh"
root=$cats_root
debdir=$(cd "${1:-$root/build-pkg}" && pwd)
build=${CATS_BUILD_DIR:-$root/build}
dir=${CATS_IMAGE_DIR:-$root/build-image}
timeout=${CATS_VCPE_IMAGE_TIMEOUT:-1500}
[ "$(id -u)" = 0 ] || { echo "tests/image/vcpe_run.sh: run as root (netns, the root tree keeps its owners)"; exit 2; }
cpe_bin=$build/cpe/cats-cpe ctl=$build/cpe/catsctl/catsctl
[ -x "$cpe_bin" ] && [ -x "$ctl" ] || { echo "FAIL: no $cpe_bin or $ctl (tests/run build)"; exit 1; }
command -v cloud-localds >/dev/null || { echo "FAIL: no cloud-localds (cloud-image-utils)"; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
t0=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
stamp() { echo "vcpe image test: $1 at +$(( $(date +%s) - t0 )) s"; }
ns=cats-vimg-cpe hostif=cats-vimg-wan
public=198.51.100.77 port=51811
test=$dir/vcpe-test
rm -rf "$test" && mkdir -p "$test/seed"

# 1. The image with the guest test; the instance's disk: the image as its backing file,
# 4 GiB (a cloud's disk is larger than the image: cloud-init's growpart grows the root).
ov=$test/overlay
install -d "$ov/usr/local/lib/cats-vcpe-image-test" "$ov/etc/systemd/system/multi-user.target.wants"
install -m 0755 "$root/tests/vm/guest/lib.sh" "$root/tests/vm/guest/app.py" \
  "$root/tests/image/vcpe-guest/cats-vcpe-image-test.sh" "$ov/usr/local/lib/cats-vcpe-image-test/"
install -m 0644 "$root/tests/image/vcpe-guest/cats-vcpe-image-test.service" "$ov/etc/systemd/system/"
ln -s /etc/systemd/system/cats-vcpe-image-test.service "$ov/etc/systemd/system/multi-user.target.wants/"
CATS_IMAGE_DIR=$dir CATS_IMAGE_OVERLAY="$ov" "$root/images/vcpe/build.sh" "$test/img" "$debdir"
qemu-img create -q -f qcow2 -F qcow2 -b "$test/img/cats-vcpe.qcow2" "$test/disk.qcow2" 4G
stamp "image built"

# 2. The CPE's namespace, under the lab lock (lab tests remove cats-* namespaces).
exec 9>/tmp/cats-lab.lock
flock -w 900 9 || { echo "FAIL: the lab lock (/tmp/cats-lab.lock) was not free within 900 s"; exit 1; }
stamp "lab lock taken"
qemu_pid= cpe_pid=
cleanup() {
  set +e
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; fi
  if [ -n "$cpe_pid" ]; then  # SIGTERM: the daemon removes its tunnels, rules and nft table
    kill "$cpe_pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$cpe_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$cpe_pid" 2>/dev/null; wait "$cpe_pid" 2>/dev/null
  fi
  ip netns del $ns 2>/dev/null
  ip link del $hostif 2>/dev/null
  flock -u 9
}
trap cleanup EXIT
ip netns del $ns 2>/dev/null || true      # a run killed before its trap
ip link del $hostif 2>/dev/null || true
ip -o addr show | grep -qE " (10\.77\.0\.1|$public)/" &&
  { echo "FAIL: 10.77.0.1 or $public is already on this host"; exit 1; }
ip netns add $ns
ip link add $hostif type veth peer name wan1 netns $ns
ip addr add 10.77.0.1/30 dev $hostif
ip addr add $public/32 dev $hostif
ip link set $hostif up
ip -n $ns link set lo up
ip -n $ns addr add 10.77.0.2/30 dev wan1 && ip -n $ns link set wan1 up
ip -n $ns route add default via 10.77.0.1 dev wan1
ip -n $ns link add lan0 type veth peer name lan0p  # no dummy module on every host
ip -n $ns link set lan0p up
ip -n $ns addr add 10.1.0.1/24 dev lan0 && ip -n $ns link set lan0 up

# 3. The CPE. It needs one vCPE to start (docs/CONFIG.md): cloud0, keys of nobody, whose
# endpoint answers nothing. Probing as in the VM test: a TCG guest answers late.
state=$test/cpe
mkdir -p "$state"
sock=$state/cpe.sock
cat >"$test/cpe.toml" <<EOF
[cpe]
name = "branch1"
state_dir = "$state"
control_socket = "$sock"

[lan]
interface = "lan0"
address = "10.1.0.1"
subnets = ["10.1.0.0/24"]

[[wan]]
name = "wan1"
interface = "wan1"
gateway = "10.77.0.1"

[[vcpe]]
name = "cloud0"
public_key = "$(wg genkey | wg pubkey)"
report_key = "$(head -c 32 /dev/urandom | base64)"
endpoint = "10.77.0.1"
address = "10.2.0.1"
subnets = ["10.2.0.0/24"]
[vcpe.ports]
wan1 = 51899

[probing]
interval_ms = 200
timeout_ms = 2000
down_after = 25

[store]
path = "$state/cats.db"
EOF
ip netns exec $ns "$cpe_bin" --config "$test/cpe.toml" >"$test/cpe.log" 2>&1 &
cpe_pid=$!
ctl() { ip netns exec $ns "$ctl" --socket "$sock" "$@"; }
deadline=$(( $(date +%s) + 60 ))
until ctl status >/dev/null 2>&1; do
  kill -0 $cpe_pid 2>/dev/null && [ "$(date +%s)" -lt $deadline ] ||
    { tail -30 "$test/cpe.log"; echo "FAIL: cats-cpe did not come up"; exit 1; }
  sleep 0.5
done
stamp "cats-cpe ready"

api() {  # api METHOD PATH [BODY [IF-MATCH]]: the body to $test/api.json, headers to $test/api.h; prints the status
  local args=(-sS --max-time 30 --unix-socket "$sock" -X "$1" -D "$test/api.h" -o "$test/api.json" -w '%{http_code}')
  local type=application/json
  [ "$1" = PATCH ] && type=application/json-patch+json
  [ $# -ge 3 ] && args+=(-H "Content-Type: $type" --data-binary "$3")
  [ $# -ge 4 ] && args+=(-H "If-Match: $4")
  curl "${args[@]}" "http://cpe$2"
}
pyj() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$test/api.json"; }

# 4. "Add a vCPE", first without keys: the bundle, whose cloud_init is the user-data as is.
req='{"name":"cloud9","endpoint":"'$public'","address":"10.2.9.1","subnets":["10.2.9.0/24"]'
st=$(api POST /api/v1/vcpes "$req}")
[ "$st" = 200 ] || { cat "$test/api.json"; echo "FAIL: POST /api/v1/vcpes: $st"; exit 1; }
pyj 'open(sys.argv[1] + ".user-data", "w").write(d["cloud_init"]); open(sys.argv[1] + ".vcpe.toml", "w").write(d["vcpe_toml"])'
mv "$test/api.json.user-data" "$test/seed/user-data"
mv "$test/api.json.vcpe.toml" "$test/bundle-vcpe.toml"
cat >"$test/seed/meta-data" <<EOF
instance-id: cats-vcpe-test-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
local-hostname: cloud9
EOF
# The cloud's network configuration (NoCloud network-config, version 2): the uplink by
# DHCP, the LAN with the vCPE's inner address; matched by MAC, named as the image names
# its NICs.
cat >"$test/seed/network-config" <<'EOF'
version: 2
ethernets:
  eth0:
    match: {macaddress: "52:54:00:c0:0c:01"}
    set-name: eth0
    dhcp4: true
  eth1:
    match: {macaddress: "52:54:00:c0:0c:02"}
    set-name: eth1
    addresses: [10.2.9.1/24]
EOF
cloud-localds -N "$test/seed/network-config" "$test/seed.img" "$test/seed/user-data" "$test/seed/meta-data"

# 5. Boot: OVMF starts the disk's removable-media loader (systemd-boot); the seed as a
# second disk (label cidata). eth0: user networking with the endpoint's port forwarded;
# eth1: a LAN of its own (restrict=on: nothing leaves it).
code=/usr/share/OVMF/OVMF_CODE_4M.fd
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$test/vars.fd"
console=$test/console.log result=$test/result.txt
: >"$console"; : >"$result"
tq=$(date +%s)
nice -n 19 timeout "$timeout" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max \
  -smp "${CATS_VM_SMP:-2}" -m "${CATS_VM_MEM:-1024}" \
  -drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
  -drive if=pflash,format=raw,unit=1,file="$test/vars.fd" \
  -drive if=none,id=disk,file="$test/disk.qcow2",format=qcow2,cache=unsafe \
  -device virtio-blk-pci,drive=disk,bootindex=0 \
  -drive if=none,id=seed,file="$test/seed.img",format=raw,readonly=on -device virtio-blk-pci,drive=seed \
  -netdev user,id=up,hostfwd=udp:$public:$port-:$port -device virtio-net-pci,netdev=up,mac=52:54:00:c0:0c:01 \
  -netdev user,id=lan,restrict=on,net=10.2.9.0/24,host=10.2.9.254,dhcpstart=10.2.9.100 \
  -device virtio-net-pci,netdev=lan,mac=52:54:00:c0:0c:02 \
  -display none -monitor none -no-reboot \
  -serial file:"$console" -serial file:"$result" &
qemu_pid=$!
deadline=$(( tq + timeout ))
hfails=0
hpass() { echo "PASS host-$1: ${*:2}"; }
hfail() { echo "FAIL host-$1: ${*:2}"; hfails=$((hfails + 1)); }
# wait_host NAME CMD...: polls CMD (its output kept in $test/wait.out) until it succeeds,
# qemu ends or the deadline passes.
wait_host() {
  local name=$1; shift
  local t=$(date +%s)
  until "$@" >"$test/wait.out" 2>&1; do
    if ! kill -0 $qemu_pid 2>/dev/null || [ "$(date +%s)" -ge $deadline ]; then
      hfail "$name" "not within the deadline ($(( $(date +%s) - tq )) s after qemu started): $(tail -c 400 "$test/wait.out" | tr '\n' ' ')"
      return 1
    fi
    sleep 2
  done
  hpass "$name" "$(( $(date +%s) - t )) s, at +$(( $(date +%s) - tq )) s of the boot"
}

# 6. The keys that the user-data printed on the console, pasted back into the request.
keys_line() { tr -d '\r' <"$console" | grep -a -o 'cats-vcpe cloud9 public_key=[A-Za-z0-9+/=]\{44\} report_key=[A-Za-z0-9+/=]\{44\}' | tail -1 | grep .; }
ok=1
wait_host vcpe-keys-on-console keys_line || ok=0
if [ $ok = 1 ]; then
  line=$(keys_line)
  pub=${line#*public_key=}; pub=${pub%% *}; rep=${line#*report_key=}
  echo "INFO console: $line"
  api GET /api/v1/config >/dev/null
  etag=$(tr -d '\r' <"$test/api.h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
  st=$(api POST /api/v1/vcpes "$req,\"public_key\":\"$pub\",\"report_key\":\"$rep\"}" "$etag")
  if [ "$st" = 201 ]; then hpass vcpe-added "POST /api/v1/vcpes with its keys: 201, revision $(pyj 'print(d["revision"])')"
  else hfail vcpe-added "POST /api/v1/vcpes with its keys: $st $(cat "$test/api.json")"; ok=0; fi
fi
# A vCPE reports its instances; the user-data's file has none (docs/CONFIG.md: the CPE
# sends each vCPE a sampling plan of the instances it places there). The service: the
# guest test's HTTP app (tests/vm/guest/app.py) on the vCPE's LAN address. (Not sshd:
# the plan's TCP health check connects every sampling round, 100 ms, and each connection
# forks an sshd, which starved the TCG guest.)
if [ $ok = 1 ]; then
  etag=$(tr -d '\r' <"$test/api.h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
  svc='[{"op":"add","path":"/service","value":[{"id":"web","vip":"10.255.0.9","ports":[80],"instance":[{"vcpe":"cloud9","address":"10.2.9.1:8080"}]}]}]'  # the CPE has no service yet
  st=$(api PATCH /api/v1/config "$svc" "$etag")
  if [ "$st" = 200 ]; then hpass service-added "PATCH /api/v1/config: service web, instance cloud9 10.2.9.1:8080: 200, revision $(pyj 'print(d["revision"])')"
  else hfail service-added "PATCH /api/v1/config: $st $(cat "$test/api.json")"; ok=0; fi
fi

# 7. The CPE sees the vCPE: handshake with its key, the path up, a signed report accepted.
if [ $ok = 1 ]; then
  handshake() {
    local now; now=$(date +%s)
    ip netns exec $ns wg show all latest-handshakes | tee /dev/stderr |
      awk -v k="$pub" -v now="$now" '$2 == k && $3 > 0 && now - $3 < 180 {ok=1} END {exit !ok}'
  }
  jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }
  path_up() { ctl --json paths | tee /dev/stderr | jq_py 'any(p.get("vcpe")=="cloud9" and p.get("state")=="up" for p in d)'; }
  # Every configured vCPE is listed; one whose signed report was accepted has a last_seq.
  report_seen() { ctl --json reports | tee /dev/stderr |
    jq_py 'any(v.get("vcpe")=="cloud9" and v.get("last_seq") is not None for v in d.get("vcpes",[])) and d["counters"]["accepted"] > 0'; }
  wait_host cpe-handshake handshake && echo "INFO CPE: $(ip netns exec $ns wg show all latest-handshakes | tr '\t\n' '  ')"
  wait_host cpe-path-up path_up && echo "INFO CPE paths: $(ctl paths | tr -s ' \n' '  ')"
  instance_up() { ctl --json instances | tee /dev/stderr |
    jq_py 'any(i.get("vcpe")=="cloud9" and i.get("available") in (True,"yes") for i in d)'; }
  wait_host cpe-report-accepted report_seen && echo "INFO CPE reports: $(ctl --json reports | tr -d '\n' | head -c 600)"
  wait_host cpe-instance-available instance_up && echo "INFO CPE instances: $(ctl instances | tr -s ' \n' '  ')"
fi

# 8. The guest's checks (it writes DONE after its handshake), then the VM is ended.
guest_done() { grep -qa '^DONE ' "$result"; }
wait_host guest-done guest_done || true
rc=0
if kill -0 $qemu_pid 2>/dev/null; then kill $qemu_pid; wait $qemu_pid 2>/dev/null || true
else wait $qemu_pid 2>/dev/null || rc=$?; fi
qemu_pid=
[ "$(date +%s)" -ge $deadline ] && rc=124
stamp "guest ended"

# 9. What the guest consumed is what the CPE handed out.
sha() { sha256sum <"$1" | cut -d' ' -f1; }
info() { tr -d '\r' <"$result" | sed -n "s/^INFO $1 sha256 //p" | tail -1; }
if [ "$(info user-data)" = "$(sha "$test/seed/user-data")" ]; then
  hpass user-data-unchanged "cloud-init's user-data is the CPE's cloud_init byte for byte ($(sha "$test/seed/user-data" | cut -c1-12))"
else hfail user-data-unchanged "guest $(info user-data), CPE $(sha "$test/seed/user-data")"; fi
if [ "$(info vcpe.toml)" = "$(sha "$test/bundle-vcpe.toml")" ]; then
  hpass vcpe-toml-as-bundled "/etc/cats/vcpe.toml is the bundle's vcpe_toml byte for byte"
else hfail vcpe-toml-as-bundled "guest $(info vcpe.toml), bundle $(sha "$test/bundle-vcpe.toml")"; fi

verdict=0
cats_serial_verdict "vCPE image guest" "$result" "$console" "$rc" "$timeout" || verdict=1
if [ $hfails != 0 ]; then
  [ $verdict = 1 ] || { echo "--- console (last 60 lines of $console) ---"; tail -60 "$console" | tr -d '\r'; }
  echo "--- cats-cpe (last 30 lines of $test/cpe.log) ---"; tail -30 "$test/cpe.log"
  verdict=1
fi
echo "vcpe image test: $(( $(date +%s) - t0 )) s in all (boot to the last check $(( $(date +%s) - tq )) s); load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
[ $verdict = 0 ] && echo "PASS: vCPE image boot test" || echo "FAIL: vCPE image boot test ($hfails host checks failed)"
exit $verdict
