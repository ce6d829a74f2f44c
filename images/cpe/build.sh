#!/usr/bin/env bash
# The x86 CPE image (docs/IMAGES.md "CPE image"), as root, without loop devices or mounts:
#   images/cpe/build.sh [--root-only] OUTDIR [DEBDIR]
# A Debian 12 root file system (images/rootfs/lib.sh: mmdebstrap in unshare mode, cached
# by package list) with cats-cpe from DEBDIR (build-pkg/) installed, made into
# OUTDIR/cats-cpe-root.ext4 (mke2fs -d), the image of one root slot and the upgrade file
# (cats-image-upgrade). Without --root-only also OUTDIR/cats-cpe.img: a GPT disk with
# an ESP (vfat, mkfs.vfat + mtools: systemd-boot, slot A's kernel, initrd and boot entry),
# root slots A (that file system) and B (empty), and the data partition, assembled by
# genimage.
# Env: CATS_IMAGE_DIR (build-image: caches), CATS_IMAGE_OVERLAY (more directories copied
#      over the tree, space-separated: the boot test's, vagrant/make-boxes.sh's),
#      CATS_IMAGE_PACKAGES (more Debian packages, space-separated: the Vagrant boxes'),
#      CATS_IMAGE_ZSTD (1: also OUTDIR/cats-cpe.img.zst), CATS_MIRROR (images/rootfs/mkrootfs.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../rootfs/lib.sh"
root_only=0
if [ "${1:-}" = --root-only ]; then root_only=1; shift; fi
[ $# -ge 1 ] || { sed -n '2,14p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "images/cpe/build.sh: run as root (the root tree keeps its owners)"; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
debdir=$(cd "${2:-$cats_root/build-pkg}" && pwd)
cache=${CATS_IMAGE_DIR:-$cats_root/build-image}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
t0=$(date +%s)
stamp() { echo "image: $1 at +$(( $(date +%s) - t0 )) s"; }
deb=$(ls "$debdir"/cats-cpe_*.deb 2>/dev/null | sort -V | tail -1)
[ -n "$deb" ] || { echo "FAIL: no cats-cpe_*.deb in $debdir (tests/run package builds it)"; exit 1; }
version=$(dpkg-deb -f "$deb" Version)

# Partition sizes (MiB). A slot holds the root file system with room for a larger
# release; the ESP the kernel and initrd of both slots.
esp_mib=256 slot_mib=1024 data_mib=256

# 1. The root file system: Debian's packages, cached; cats-cpe installed by dpkg in a
# chroot (its maintainer scripts: the _cats user, the unit enabled; systemd is not
# running there, so nothing is started).
source "$here/excludes.sh"
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
cats_tree_defaults "$tree" cats-cpe
# Each box gets its own machine id at its first boot (an empty file: systemd's first-boot
# semantics; committed to the slot, so each slot and each upgrade makes its own), and an
# appliance asks nobody at the console for a locale, time zone or root password.
: >"$tree/etc/machine-id"
ln -sf /dev/null "$tree/etc/systemd/system/systemd-firstboot.service"
mkdir -p "$tree/boot/efi" "$tree/data"
ln -sf /usr/lib/systemd/system/cats-boot-health.service "$tree/etc/systemd/system/"
mkdir -p "$tree/etc/systemd/system/boot-complete.target.requires"
ln -sf /usr/lib/systemd/system/cats-boot-health.service "$tree/etc/systemd/system/boot-complete.target.requires/"
# Kernels come with image upgrades, not apt: systemd-boot's kernel hooks would install
# entries of their own into the ESP.
rm -f "$tree"/etc/kernel/postinst.d/zz-systemd-boot "$tree"/etc/kernel/postrm.d/zz-systemd-boot \
  "$tree"/etc/initramfs/post-update.d/systemd-boot
printf 'VERSION=%s\nBUILT=%s\n' "$version" "$(date -u +%Y-%m-%dT%H:%MZ)" >"$tree/etc/cats-image-release"
kernel=$(ls "$tree"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$tree/boot/initrd.img-${kernel##*/vmlinuz-}
[ -f "$initrd" ] || { echo "FAIL: no initrd for $kernel"; exit 1; }

# 2. Slot image (ext4 from the tree, mke2fs -d), at most the slot's size.
rootimg=$out/cats-cpe-root.ext4
size=$(cats_mkext4 "$tree" "$rootimg" cats-root 256)
[ "$size" -le "$slot_mib" ] || { echo "FAIL: the root file system needs ${size} MiB, the slot has ${slot_mib}"; exit 1; }
stamp "root slot image ${size} MiB ($version)"
if [ $root_only = 1 ]; then rm -rf "$tree"; exit 0; fi

# 3. ESP: systemd-boot as the removable-media loader (firmware without a boot entry for
# it, first boot, OVMF) and at its own path; slot A's kernel, initrd and entry.
work=$cache/work
rm -rf "$work" && mkdir -p "$work/input"
esp=$work/input/esp.vfat
sdboot=$tree/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$sdboot" ] || { echo "FAIL: no systemd-boot in the image ($sdboot)"; exit 1; }
mkfs.vfat -F 32 -n CATS-ESP -C "$esp" $((esp_mib * 1024)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/loader ::/loader/entries ::/cats ::/cats/a ::/cats/b
mcopy -i "$esp" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$sdboot" ::/EFI/systemd/systemd-bootx64.efi
mcopy -i "$esp" "$kernel" ::/cats/a/vmlinuz
mcopy -i "$esp" "$initrd" ::/cats/a/initrd.img
cat >"$work/loader.conf" <<'EOF'
timeout 3
console-mode keep
editor no
EOF
# The slot's entry; cats-image-upgrade derives the other slot's from the running one.
cat >"$work/cats-a.conf" <<EOF
title cats-sdwan CPE $version (slot A)
sort-key cats
version 1
linux /cats/a/vmlinuz
initrd /cats/a/initrd.img
options root=PARTLABEL=cats-root-a rw cats.slot=a systemd.gpt_auto=0 panic=10 console=tty0 console=ttyS0,115200
EOF
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$work/cats-a.conf" ::/loader/entries/cats-a.conf

# 4. The data partition: the directories cats-data-init.service would make.
datatree=$work/data
install -d -m 0755 "$datatree/etc/cats" "$datatree/var/lib"
install -d -m 0700 "$datatree/var/lib/cats-cpe"
rm -f "$work/input/data.ext4"
mke2fs -q -F -E root_owner=0:0 -t ext4 -L cats-data -d "$datatree" "$work/input/data.ext4" "${data_mib}M" >/dev/null
ln "$rootimg" "$work/input/root-a.ext4" 2>/dev/null || cp --sparse=always "$rootimg" "$work/input/root-a.ext4"
rm -rf "$tree"

# 5. The GPT disk (genimage: docs/IMAGES.md "Why genimage"), partitions 1 MiB aligned.
# The partition names are the GPT labels the boot entries, fstab and the upgrade use.
cat >"$work/genimage.cfg" <<EOF
image cats-cpe.img {
  hdimage {
    partition-table-type = "gpt"
    align = 1M
  }
  partition cats-esp {
    partition-type-uuid = "U"
    image = "esp.vfat"
    size = ${esp_mib}M
  }
  partition cats-root-a {
    partition-type-uuid = "L"
    image = "root-a.ext4"
    size = ${slot_mib}M
  }
  partition cats-root-b {
    partition-type-uuid = "L"
    size = ${slot_mib}M
  }
  partition cats-data {
    partition-type-uuid = "L"
    image = "data.ext4"
    size = ${data_mib}M
  }
}
EOF
mkdir -p "$work/root" "$work/tmp" "$work/images"
genimage --config "$work/genimage.cfg" --rootpath "$work/root" --tmppath "$work/tmp" \
  --inputpath "$work/input" --outputpath "$work/images" >"$cache/genimage.log" 2>&1 ||
  { cat "$cache/genimage.log"; echo "FAIL: genimage"; exit 1; }
mv "$work/images/cats-cpe.img" "$out/cats-cpe.img"
rm -rf "$work"
stamp "disk image $out/cats-cpe.img ($(( $(stat -c %s "$out/cats-cpe.img") / 1048576 )) MiB, $(( $(du -k "$out/cats-cpe.img" | cut -f1) / 1024 )) MiB allocated)"
if [ "${CATS_IMAGE_ZSTD:-0}" = 1 ]; then
  nice -n 19 zstd -q -T2 -19 -f "$out/cats-cpe.img" -o "$out/cats-cpe.img.zst"
  stamp "compressed $out/cats-cpe.img.zst ($(( $(stat -c %s "$out/cats-cpe.img.zst") / 1048576 )) MiB)"
fi
