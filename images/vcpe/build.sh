#!/usr/bin/env bash
# The vCPE cloud image (docs/IMAGES.md "vCPE cloud image"), as root, without loop devices
# or mounts:
#   images/vcpe/build.sh OUTDIR [DEBDIR]
# A Debian 12 root file system (images/rootfs/lib.sh: mmdebstrap in unshare mode, cached
# by package list) with cloud-init and cats-vcpe from DEBDIR (build-pkg/) installed, made
# into a GPT disk (genimage): an ESP (vfat, mkfs.vfat + mtools: systemd-boot, the kernel,
# initrd and boot entry) and the root partition (ext4, mke2fs -d), last so that
# cloud-init's growpart can grow it into a larger disk. Written as OUTDIR/cats-vcpe.qcow2.
# The instance configures itself from cloud-init user-data: the CPE's "add a vCPE"
# (POST /api/v1/vcpes, `cloud_init`; images/vcpe/cloud-config.yaml).
# Env: CATS_IMAGE_DIR (build-image: caches), CATS_IMAGE_OVERLAY (more directories copied
#      over the tree, space-separated: the boot test's, vagrant/make-boxes.sh's),
#      CATS_IMAGE_PACKAGES (more Debian packages, space-separated: the Vagrant boxes'),
#      CATS_IMAGE_COMPRESS (1: a compressed qcow2, qemu-img -c), CATS_MIRROR (images/rootfs/mkrootfs.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rootfs/lib.sh"
[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "images/vcpe/build.sh: run as root (the root tree keeps its owners)"; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
debdir=$(cd "${2:-$cats_root/build-pkg}" && pwd)
cache=${CATS_IMAGE_DIR:-$cats_root/build-image}/vcpe
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
t0=$(date +%s)
stamp() { echo "vcpe image: $1 at +$(( $(date +%s) - t0 )) s"; }
deb=$(ls "$debdir"/cats-vcpe_*.deb 2>/dev/null | sort -V | tail -1)
[ -n "$deb" ] || { echo "FAIL: no cats-vcpe_*.deb in $debdir (tests/run package builds it)"; exit 1; }
version=$(dpkg-deb -f "$deb" Version)

esp_mib=128  # one kernel and its initrd (≈ 40 MiB)

# 1. The root file system: Debian's packages, cached; cats-vcpe installed by dpkg in a
# chroot (its maintainer scripts: the _cats user, the unit enabled; nothing starts).
pkgs=($(sed 's/#.*//' "$here/packages") $(cats_deb_depends "$deb") ${CATS_IMAGE_PACKAGES:-})
base=$(cats_rootfs_base "$cache" "${pkgs[@]}")
stamp "base root file system $(basename "$base")"
tree=$cache/tree
rm -rf "$tree" && mkdir -p "$tree"
tar -C "$tree" --numeric-owner -xpf "$base"
cp "$deb" "$tree/tmp/"
chroot "$tree" dpkg -i "/tmp/$(basename "$deb")" >"$cache/dpkg.log" 2>&1 ||
  { cat "$cache/dpkg.log"; echo "FAIL: dpkg -i $(basename "$deb") in the image"; exit 1; }
rm -f "$tree/tmp/$(basename "$deb")"
cp -a "$here/overlay/." "$tree/"
for o in ${CATS_IMAGE_OVERLAY:-}; do cp -a "$o/." "$tree/"; done
cats_tree_defaults "$tree" cats-vcpe
# Every instance gets its own machine id at its first boot (an empty file: systemd's
# first-boot semantics), and SSH host keys from cloud-init (ssh module), not the build's.
: >"$tree/etc/machine-id"
rm -f "$tree"/etc/ssh/ssh_host_*
ln -sf /dev/null "$tree/etc/systemd/system/systemd-firstboot.service"
# cloud-init renders the network for systemd-networkd (overlay: 90-cats-vcpe.cfg), which
# Debian does not enable by itself; cloud-init.service waits for it to be online.
mkdir -p "$tree/etc/systemd/system/multi-user.target.wants" "$tree/etc/systemd/system/network-online.target.wants" \
  "$tree/etc/systemd/system/sockets.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service "$tree/etc/systemd/system/multi-user.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.socket "$tree/etc/systemd/system/sockets.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$tree/etc/systemd/system/network-online.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.service "$tree/etc/systemd/system/dbus-org.freedesktop.network1.service"
# Kernels come with a new image, not apt: systemd-boot's kernel hooks would look for an
# ESP that is not mounted.
rm -f "$tree"/etc/kernel/postinst.d/zz-systemd-boot "$tree"/etc/kernel/postrm.d/zz-systemd-boot \
  "$tree"/etc/initramfs/post-update.d/systemd-boot
printf 'VERSION=%s\nBUILT=%s\n' "$version" "$(date -u +%Y-%m-%dT%H:%MZ)" >"$tree/etc/cats-image-release"
kernel=$(ls "$tree"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$tree/boot/initrd.img-${kernel##*/vmlinuz-}
[ -f "$initrd" ] || { echo "FAIL: no initrd for $kernel"; exit 1; }
sdboot=$tree/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$sdboot" ] || { echo "FAIL: no systemd-boot in the image ($sdboot)"; exit 1; }

# 2. The root file system image (ext4 from the tree, mke2fs -d), 256 MiB free.
work=$cache/work
rm -rf "$work" && mkdir -p "$work/input"
size=$(cats_mkext4 "$tree" "$work/input/root.ext4" cats-vcpe-root 256)
stamp "root file system ${size} MiB ($version)"

# 3. ESP: systemd-boot as the removable-media loader (a cloud's UEFI firmware has no boot
# entry for it), the kernel, initrd and the one entry. net.ifnames=0: the NICs are
# eth0 (uplink), eth1 (LAN), the names the CPE's vcpe.toml uses by default, whatever the
# cloud's PCI layout.
esp=$work/input/esp.vfat
mkfs.vfat -F 32 -n CATS-ESP -C "$esp" $((esp_mib * 1024)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/cats
mcopy -i "$esp" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$kernel" ::/cats/vmlinuz
mcopy -i "$esp" "$initrd" ::/cats/initrd.img
printf 'timeout 0\nconsole-mode keep\neditor no\n' >"$work/loader.conf"
cat >"$work/cats-vcpe.conf" <<EOF
title cats-sdwan vCPE $version
linux /cats/vmlinuz
initrd /cats/initrd.img
options root=PARTLABEL=cats-vcpe-root rw systemd.gpt_auto=0 net.ifnames=0 panic=10 console=tty0 console=ttyS0,115200
EOF
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$work/cats-vcpe.conf" ::/loader/entries/cats-vcpe.conf
rm -rf "$tree"

# 4. The GPT disk (genimage, as for the CPE: docs/IMAGES.md "Why genimage"), then qcow2.
cat >"$work/genimage.cfg" <<EOF
image cats-vcpe.img {
  hdimage {
    partition-table-type = "gpt"
    align = 1M
  }
  partition cats-esp {
    partition-type-uuid = "U"
    image = "esp.vfat"
    size = ${esp_mib}M
  }
  partition cats-vcpe-root {
    partition-type-uuid = "L"
    image = "root.ext4"
  }
}
EOF
mkdir -p "$work/root" "$work/tmp" "$work/images"
genimage --config "$work/genimage.cfg" --rootpath "$work/root" --tmppath "$work/tmp" \
  --inputpath "$work/input" --outputpath "$work/images" >"$cache/genimage.log" 2>&1 ||
  { cat "$cache/genimage.log"; echo "FAIL: genimage"; exit 1; }
compress=()
[ "${CATS_IMAGE_COMPRESS:-0}" = 1 ] && compress=(-c)
rm -f "$out/cats-vcpe.qcow2"
nice -n 19 qemu-img convert ${compress[@]+"${compress[@]}"} -f raw -O qcow2 "$work/images/cats-vcpe.img" "$out/cats-vcpe.qcow2"
rm -rf "$work"
stamp "$out/cats-vcpe.qcow2 ($(qemu-img info --output=json "$out/cats-vcpe.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"] // 1048576)') MiB virtual, $(( $(stat -c %s "$out/cats-vcpe.qcow2") / 1048576 )) MiB file)"
