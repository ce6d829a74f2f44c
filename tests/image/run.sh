#!/usr/bin/env bash
# The CPE image boot test (docs/IMAGES.md "Image boot test"), as root:
#   tests/image/run.sh [DEBDIR]    DEBDIR holds cats-cpe_*.deb (build-pkg/)
# Builds the CPE image (images/cpe/build.sh) with the guest test (tests/image/guest/) in
# it, and a second root slot image whose health check fails; boots the disk in qemu (TCG)
# with OVMF: systemd-boot, slot A, the checks, an upgrade of slot B from a second disk,
# three counted boots of B that are not blessed, the fallback to slot A, and a factory
# reset: six boots, each a fresh qemu on the same disk and firmware variables. The guest's
# PASS/FAIL lines come over its second serial port (images/rootfs/lib.sh); a guest that
# does not report DONE in time fails with the tail of its console.
# Env: CATS_IMAGE_DIR (build-image), CATS_IMAGE_TIMEOUT (seconds for all six boots, 2700),
#      CATS_VM_SMP (2), CATS_VM_MEM (MiB, 1024), CATS_MIRROR (images/rootfs/mkrootfs.sh).
set -euo pipefail
source "$(dirname "$0")/../../images/rootfs/lib.sh"
root=$cats_root
debdir=$(cd "${1:-$root/build-pkg}" && pwd)
dir=${CATS_IMAGE_DIR:-$root/build-image}
timeout=${CATS_IMAGE_TIMEOUT:-2700}
[ "$(id -u)" = 0 ] || { echo "tests/image/run.sh: run as root (the root tree keeps its owners)"; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
t0=$(date +%s)
stamp() { echo "image test: $1 at +$(( $(date +%s) - t0 )) s"; }

# 1. The test's additions to the image: the guest test at every boot; for slot B also
# the failing health check.
test=$dir/test
rm -rf "$test" && mkdir -p "$test"
ov=$test/overlay ovb=$test/overlay-unhealthy
install -d "$ov/usr/local/lib/cats-image-test" "$ov/etc/systemd/system/multi-user.target.wants"
install -m 0755 "$root/tests/vm/guest/lib.sh" "$root/tests/image/guest/cats-image-test.sh" "$ov/usr/local/lib/cats-image-test/"
install -m 0644 "$root/tests/image/guest/cats-image-test.service" "$ov/etc/systemd/system/"
ln -s /etc/systemd/system/cats-image-test.service "$ov/etc/systemd/system/multi-user.target.wants/"
install -d "$ovb/etc/systemd/system/cats-boot-health.service.d"
install -m 0644 "$root/tests/image/guest/unhealthy.conf" "$ovb/etc/systemd/system/cats-boot-health.service.d/"

# 2. The images.
CATS_IMAGE_DIR=$dir CATS_IMAGE_OVERLAY="$ov" "$root/images/cpe/build.sh" "$test/a" "$debdir"
stamp "disk image built"
CATS_IMAGE_DIR=$dir CATS_IMAGE_OVERLAY="$ov $ovb" "$root/images/cpe/build.sh" --root-only "$test/b" "$debdir"
stamp "slot image for B built"

# 3. Boot: OVMF (no boot entries in its variables: it starts the ESP's removable-media
# loader, systemd-boot), the disk, and the upgrade image as a second, read-only disk.
# Each reboot of the guest ends qemu (-no-reboot) and the loop starts it again with the
# same disk and firmware variables: a power cycle. (A warm reset in qemu took OVMF about
# 4 min under TCG on this loaded machine before the boot loader ran again, against
# about 30 s from a cold start.) The serial files are appended to across the boots; the
# guest powers off after its last check and writes DONE.
code=/usr/share/OVMF/OVMF_CODE_4M.fd
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$test/vars.fd"
console=$test/console.log result=$test/result.txt
rm -f "$console" "$result"
deadline=$(( $(date +%s) + timeout )) boots=0 rc=0
while [ $boots -lt 9 ] && ! grep -qa '^DONE ' "$result" 2>/dev/null; do  # 6 boots expected
  left=$(( deadline - $(date +%s) ))
  [ $left -gt 0 ] || { rc=124; break; }
  boots=$((boots + 1))
  nice -n 19 timeout "$left" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max \
    -smp "${CATS_VM_SMP:-2}" -m "${CATS_VM_MEM:-1024}" \
    -drive if=pflash,format=raw,unit=0,readonly=on,file="$code" \
    -drive if=pflash,format=raw,unit=1,file="$test/vars.fd" \
    -drive if=none,id=disk,file="$test/a/cats-cpe.img",format=raw,cache=unsafe \
    -device virtio-blk-pci,drive=disk,bootindex=0 \
    -drive if=none,id=upgrade,file="$test/b/cats-cpe-root.ext4",format=raw,readonly=on \
    -device virtio-blk-pci,drive=upgrade \
    -nic none -display none -monitor none -no-reboot \
    -chardev file,id=console,path="$console",append=on -serial chardev:console \
    -chardev file,id=result,path="$result",append=on -serial chardev:result || rc=$?
  [ $rc = 0 ] || break
  stamp "boot $boots ended"
done
stamp "guest finished after $boots boots (qemu exit $rc)"
cats_serial_verdict "image boot test" "$result" "$console" "$rc" "$timeout"
echo "image test: $(( $(date +%s) - t0 )) s in all"
