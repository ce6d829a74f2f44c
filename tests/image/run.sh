#!/usr/bin/env bash
# The CPE image boot test (docs/IMAGES.md "Image boot test"), as root:
#   tests/image/run.sh [--quick] [DEBDIR]    DEBDIR holds cats-cpe_*.deb (build-pkg/)
# Builds the CPE image (images/cpe/build.sh) with the guest test (tests/image/guest/) in
# it, and a second root slot image whose health check fails; boots the disk in qemu (TCG)
# with OVMF: systemd-boot, slot A, the checks, cats-cpe configured and its HTTPS API used
# from the host (qemu user networking, a forwarded port: the first admin set with the
# one-time link, a login, an API token made), an upgrade of slot B from a second disk,
# three counted boots of B that are not blessed, the fallback to slot A with the
# configuration and accounts intact, and a factory reset: six boots, each a fresh qemu
# on the same disk and firmware variables. --quick (CI, `tests/run test`): B gets one try
# (--tries 1) and there is no factory reset: three boots. The guest's PASS/FAIL lines
# come over its second serial port (images/rootfs/lib.sh); a guest that does not report
# DONE in time fails with the tail of its console.
# Env: CATS_IMAGE_DIR (build-image), CATS_IMAGE_TIMEOUT (seconds for all the boots, 2700;
#      1200 with --quick), CATS_VM_SMP (2), CATS_VM_MEM (MiB, 1024), CATS_MIRROR
#      (images/rootfs/mkrootfs.sh).
set -euo pipefail
source "$(dirname "$0")/../../images/rootfs/lib.sh"
root=$cats_root
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
debdir=$(cd "${1:-$root/build-pkg}" && pwd)
dir=${CATS_IMAGE_DIR:-$root/build-image}
if [ $quick = 1 ]; then tries=1 reset=0 timeout=${CATS_IMAGE_TIMEOUT:-1200}
else tries=3 reset=1 timeout=${CATS_IMAGE_TIMEOUT:-2700}; fi
[ "$(id -u)" = 0 ] || { echo "tests/image/run.sh: run as root (the root tree keeps its owners)"; exit 2; }
for c in curl openssl python3; do command -v $c >/dev/null || { echo "FAIL: no $c (tests/run deps)"; exit 1; }; done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
t0=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
stamp() { echo "image test: $1 at +$(( $(date +%s) - t0 )) s"; }

# 1. The test's additions to the image: the guest test at every boot, with its mode and
# its interfaces; for slot B also the failing health check.
test=$dir/test
rm -rf "$test" && mkdir -p "$test"
ov=$test/overlay ovb=$test/overlay-unhealthy
lib=$ov/usr/local/lib/cats-image-test
install -d "$lib" "$ov/etc/systemd/system/multi-user.target.wants"
install -m 0755 "$root/tests/vm/guest/lib.sh" "$root/tests/image/guest/cats-image-test.sh" \
  "$root/tests/image/guest/cats-image-test-net.sh" "$lib/"
echo "tries=$tries reset=$reset" >"$lib/mode"
for u in cats-image-test cats-image-test-net; do
  install -m 0644 "$root/tests/image/guest/$u.service" "$ov/etc/systemd/system/"
  ln -s /etc/systemd/system/$u.service "$ov/etc/systemd/system/multi-user.target.wants/"
done
install -d "$ovb/etc/systemd/system/cats-boot-health.service.d"
install -m 0644 "$root/tests/image/guest/unhealthy.conf" "$ovb/etc/systemd/system/cats-boot-health.service.d/"

# 2. The images.
CATS_IMAGE_DIR=$dir CATS_IMAGE_OVERLAY="$ov" "$root/images/cpe/build.sh" "$test/a" "$debdir"
stamp "disk image built"
CATS_IMAGE_DIR=$dir CATS_IMAGE_OVERLAY="$ov $ovb" "$root/images/cpe/build.sh" --root-only "$test/b" "$debdir"
stamp "slot image for B built"

# 3. The host's side of the API check: once the guest prints "INFO api-ready" (its
# certificate's fingerprint and the one-time setup link), through the forwarded port:
# the certificate is the one cats-cpe showed; POST /api/v1/setup sets the first admin
# (201), POST /api/v1/login (200), POST /api/v1/tokens with the session and its CSRF
# token (201). The guest waits for that token before it goes on. The password, the
# session and the API token are random and only in files that are removed.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=https://127.0.0.1:$port
hfails=0
hpass() { echo "PASS host-$1: ${*:2}" >>"$test/host.txt"; }  # printed with the verdict
hfail() { echo "FAIL host-$1: ${*:2}" >>"$test/host.txt"; hfails=$((hfails + 1)); }
hex() { tr -d ':\r\n ' | tr 'A-F' 'a-f'; }
host_api() {
  local line fp token got pw csrf st t=$(date +%s) deadline=$(( $(date +%s) + 120 ))
  line=$(tr -d '\r' <"$result" | grep -a -m1 '^INFO api-ready ')
  fp=$(sed 's/.*fingerprint=\([^ ]*\).*/\1/' <<<"$line" | hex)
  token=$(sed -n 's/.*link=[^ ]*#token=\([^ ]*\).*/\1/p' <<<"$line")
  [ -n "$fp" ] && [ -n "$token" ] || { hfail api "no fingerprint or setup token in the guest's api-ready line"; return; }
  until got=$(openssl s_client -connect 127.0.0.1:$port </dev/null 2>/dev/null | openssl x509 -outform DER 2>/dev/null |
              sha256sum | cut -d' ' -f1) && [ "$got" != "$(sha256sum </dev/null | cut -d' ' -f1)" ]; do
    [ "$(date +%s)" -lt $deadline ] || { hfail api-connect "no TLS answer on $base within 120 s"; return; }
    sleep 1
  done
  if [ "$got" = "$fp" ]; then hpass api-certificate "$base (-> 10.0.2.15:443) serves the certificate cats-cpe shows, SHA-256 ${fp:0:16}…, after $(( $(date +%s) - t )) s"
  else hfail api-certificate "$base serves SHA-256 $got, cats-cpe shows $fp"; return; fi
  pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
  call() {  # call NAME WANT METHOD PATH BODY [CURL ARGS...]: the answer in $test/api.json;
    # the body on standard input (the password stays out of the process list)
    local name=$1 want=$2 m=$3 p=$4 body=$5; shift 5
    st=$(printf '%s' "$body" | curl -sS -k --max-time 60 -o "$test/api.json" -w '%{http_code}' -X "$m" \
         -H 'Content-Type: application/json' --data-binary @- "$@" "$base$p" 2>"$test/curl.err") ||
      st="curl: $(tr '\n' ' ' <"$test/curl.err")"
    if [ "$st" = "$want" ]; then hpass "$name" "$m $p: $st"
    else hfail "$name" "$m $p: $st, wanted $want: $(head -c 300 "$test/api.json" 2>/dev/null)"; return 1; fi
  }
  if call api-setup 201 POST /api/v1/setup "{\"token\":\"$token\",\"user\":\"hostadmin\",\"password\":\"$pw\"}" &&
     call api-login 200 POST /api/v1/login "{\"user\":\"hostadmin\",\"password\":\"$pw\"}" -c "$test/cookies"; then
    if csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$test/api.json"); then
      call api-token 201 POST /api/v1/tokens \
        "{\"name\":\"image-test\",\"role\":\"viewer\",\"expires_ms\":$(( ($(date +%s) + 86400) * 1000 ))}" \
        -b "$test/cookies" -H "X-CSRF-Token: $csrf" -H "Origin: $base" || true
    else hfail api-login "no csrf_token in its answer"; fi
  fi
  rm -f "$test/api.json" "$test/cookies"
}

# 4. Boot: OVMF (no boot entries in its variables: it starts the ESP's removable-media
# loader, systemd-boot), the disk, the upgrade image as a second, read-only disk, and a
# NIC on qemu's user network (restrict=on: nothing leaves it) whose port 443 is
# forwarded from 127.0.0.1:$port (no option ROM: the disk boots). Each reboot of the
# guest ends qemu (-no-reboot) and the loop starts it again with the same disk and
# firmware variables: a power cycle. (A warm reset in qemu took OVMF about 4 min under
# TCG on this loaded machine before the boot loader ran again, against about 30 s from a
# cold start.) The serial files are appended to across the boots; the guest powers off
# after its last check and writes DONE.
code=/usr/share/OVMF/OVMF_CODE_4M.fd
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$test/vars.fd"
console=$test/console.log result=$test/result.txt
: >"$console"; : >"$result"
qemu_pid=
trap '[ -z "$qemu_pid" ] || kill $qemu_pid 2>/dev/null' EXIT
deadline=$(( $(date +%s) + timeout )) boots=0 rc=0 api=0
expect=$(( reset ? tries + 3 : tries + 2 ))
while [ $boots -lt $((expect + 3)) ] && ! grep -qa '^DONE ' "$result"; do
  left=$(( deadline - $(date +%s) ))
  [ $left -gt 0 ] || { rc=124; break; }
  boots=$((boots + 1)) tb=$(date +%s) cb=$(stat -c %s "$console")
  nice -n 19 timeout "$left" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max \
    -smp "${CATS_VM_SMP:-2}" -m "${CATS_VM_MEM:-1024}" \
    -drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
    -drive if=pflash,format=raw,unit=1,file="$test/vars.fd" \
    -drive if=none,id=disk,file="$test/a/cats-cpe.img",format=raw,cache=unsafe \
    -device virtio-blk-pci,drive=disk,bootindex=0 \
    -drive if=none,id=upgrade,file="$test/b/cats-cpe-root.ext4",format=raw,readonly=on \
    -device virtio-blk-pci,drive=upgrade \
    -netdev user,id=wan,restrict=on,hostfwd=tcp:127.0.0.1:$port-10.0.2.15:443 \
    -device virtio-net-pci,netdev=wan,mac=52:54:00:ca:75:01,romfile= \
    -display none -monitor none -no-reboot \
    -chardev file,id=console,path="$console",append=on -serial chardev:console \
    -chardev file,id=result,path="$result",append=on -serial chardev:result &
  qemu_pid=$!
  while kill -0 $qemu_pid 2>/dev/null; do
    if [ $api = 0 ] && grep -qa '^INFO api-ready ' "$result"; then api=1; host_api || true; fi
    sleep 1
  done
  wait $qemu_pid || rc=$?
  qemu_pid=
  [ $rc = 0 ] || break
  # The kernel's uptime at the end of this boot (its last console time stamp): the rest
  # of the boot's wall time is the firmware and the boot loader.
  up=$(tail -c +$((cb + 1)) "$console" | tr -d '\r' | grep -ao '^\[ *[0-9]*\.[0-9]*\]' | tail -1 | tr -d '[] ') || true
  stamp "boot $boots ended: $(( $(date +%s) - tb )) s, the kernel up ${up%.*} s of it"
done
stamp "guest finished after $boots boots (qemu exit $rc; $expect expected)"
[ $api = 1 ] || hfail api "the guest never said api-ready"
cat "$test/host.txt" 2>/dev/null || true
verdict=0
cats_serial_verdict "image boot test" "$result" "$console" "$rc" "$timeout" || verdict=1
if [ $hfails != 0 ]; then
  [ $verdict = 1 ] || { echo "--- console (last 60 lines of $console) ---"; tail -60 "$console" | tr -d '\r'; }
  verdict=1
fi
echo "image test$([ $quick = 1 ] && echo ' (quick)'): $(( $(date +%s) - t0 )) s in all; load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
[ $hfails = 0 ] || echo "FAIL: image boot test: $hfails host check(s) failed"
exit $verdict
