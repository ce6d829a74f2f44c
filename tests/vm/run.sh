#!/usr/bin/env bash
# The packages under a real systemd, with the kernel's WireGuard (docs/IMAGES.md "VM test").
#   tests/vm/run.sh [DEBDIR]    DEBDIR holds cats-cpe_*.deb and cats-vcpe_*.deb (build-pkg/)
# Builds a Debian 12 root file system (images/rootfs/mkrootfs.sh, cached in build-vm/),
# adds the packages (and a second build of them with a higher version, for the upgrade)
# and the guest test (tests/vm/guest/), makes an ext4 image of it with mke2fs -d (no loop
# device, no mount), boots it in qemu (TCG; direct kernel boot of the image's own kernel
# and initrd), and reads the guest's PASS/FAIL lines from its second serial port. A guest
# that does not report DONE in time fails with the tail of its console.
# Env: CATS_VM_DIR (build-vm), CATS_VM_TIMEOUT (seconds for the boot and test, 900),
#      CATS_VM_SMP (2), CATS_VM_MEM (MiB, 1024), CATS_MIRROR (see mkrootfs.sh),
#      CATS_VM_WIREGUARD (kernel; userspace runs the same test on wireguard-go),
#      CATS_VM_BENCH (1: also measure TCP throughput through the tunnel, iperf3).
set -euo pipefail
source "$(dirname "$0")/../../images/rootfs/lib.sh"  # rootfs cache, ext4, result protocol
root=$cats_root
debdir=$(cd "${1:-$root/build-pkg}" && pwd)
vm=${CATS_VM_DIR:-$root/build-vm}
timeout=${CATS_VM_TIMEOUT:-900}
[ "$(id -u)" = 0 ] || { echo "tests/vm/run.sh: run as root (the root tree keeps its owners)"; exit 2; }
mkdir -p "$vm"
vm=$(cd "$vm" && pwd)
t0=$(date +%s)
stamp() { echo "vm: $1 at +$(( $(date +%s) - t0 )) s"; }

# 1. The base root file system, rebuilt only when its package list or builder changes.
# Our packages' own dependencies are in it too (the guest has no network: dpkg -i there
# installs nothing else), each alternative's first choice.
debs=("$(ls "$debdir"/cats-cpe_*.deb | tail -1)" "$(ls "$debdir"/cats-vcpe_*.deb | tail -1)")
pkgs=(systemd systemd-sysv linux-image-cloud-amd64 kmod nftables wireguard-tools wireguard-go iproute2 python3 procps iperf3 $(cats_deb_depends "${debs[@]}"))
base=$(cats_rootfs_base "$vm" "${pkgs[@]}")
stamp "root file system $(basename "$base")"

# 2. The test's tree: the base, the payload, the guest test.
tree=$vm/tree
rm -rf "$tree" && mkdir -p "$tree"
tar -C "$tree" --numeric-owner -xpf "$base"
v1=$tree/root/payload/v1 v2=$tree/root/payload/v2
mkdir -p "$v1" "$v2"
for deb in "${debs[@]}"; do
  p=$(dpkg-deb -f "$deb" Package)
  cp "$deb" "$v1/"
  # The upgrade's "next release": the same build, repacked with a higher version.
  x=$vm/repack-$p
  rm -rf "$x" && dpkg-deb -R "$deb" "$x"
  ver=$(dpkg-deb -f "$deb" Version)+vmtest1
  sed -i "s/^Version: .*/Version: $ver/" "$x/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip -b "$x" "$v2/${p}_${ver}_amd64.deb" >/dev/null
  rm -rf "$x"
done
install -d "$tree/usr/local/lib/cats-vm"
install -m 0755 "$root"/tests/vm/guest/*.sh "$root"/tests/vm/guest/*.py "$tree/usr/local/lib/cats-vm/"
install -m 0644 "$root/tests/vm/guest/cats-vm-test.service" "$tree/etc/systemd/system/"
ln -sf /etc/systemd/system/cats-vm-test.service "$tree/etc/systemd/system/multi-user.target.wants/"
install -d "$tree/etc/systemd/system/cats-vcpe.service.d"
install -m 0644 "$root/tests/vm/guest/cats-vcpe-netns.conf" "$tree/etc/systemd/system/cats-vcpe.service.d/netns.conf"
cats_tree_defaults "$tree" cats-vm
echo "/dev/vda / ext4 defaults 0 1" >"$tree/etc/fstab"
kernel=$(ls "$tree"/boot/vmlinuz-* | tail -1) initrd=$(ls "$tree"/boot/initrd.img-* | tail -1)
cp "$kernel" "$vm/vmlinuz" && cp "$initrd" "$vm/initrd.img"

# 3. ext4 from the tree (mke2fs -d: no loop device, no mount), with room for dpkg.
img=$vm/root.img
size=$(cats_mkext4 "$tree" "$img" cats-vm 512)
rm -rf "$tree"
stamp "image built (${size} MiB)"

# 4. Boot. The guest writes its results to ttyS1 and powers off.
console=$vm/console.log result=$vm/result.txt
rm -f "$console" "$result"
rc=0
nice -n 19 timeout "$timeout" qemu-system-x86_64 -accel tcg,thread=multi -cpu max \
  -smp "${CATS_VM_SMP:-2}" -m "${CATS_VM_MEM:-1024}" \
  -kernel "$vm/vmlinuz" -initrd "$vm/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet systemd.show_status=1 cats.wireguard=${CATS_VM_WIREGUARD:-kernel} cats.bench=${CATS_VM_BENCH:-0}" \
  -drive file="$img",format=raw,if=virtio,cache=unsafe \
  -nic none -display none -monitor none -no-reboot \
  -serial file:"$console" -serial file:"$result" || rc=$?
stamp "guest finished (qemu exit $rc)"

cats_serial_verdict "VM test" "$result" "$console" "$rc" "$timeout"
echo "vm: $(( $(date +%s) - t0 )) s in all"
