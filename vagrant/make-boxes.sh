#!/usr/bin/env bash
# Our images as Vagrant boxes for vagrant-libvirt (docs/IMAGES.md "Vagrant lab"), as root:
#   vagrant/make-boxes.sh [OUTDIR [DEBDIR]]
# Builds the CPE image (images/cpe/build.sh) and the vCPE cloud image (images/vcpe/build.sh)
# from the .debs in DEBDIR (build-pkg/; `tests/run package` makes them) with the Vagrant
# layer (vagrant/box-layer/: the user "vagrant" with Vagrant's insecure key, DHCP on the
# management NIC, sshd), packages each as a libvirt box (box.img qcow2 + metadata.json +
# Vagrantfile) in OUTDIR (build-vagrant/), and adds them as cats/cpe and cats/vcpe
# (`vagrant box add --force`: built here, nothing downloaded from Vagrant Cloud).
# Env: CATS_VAGRANT_NO_ADD=1: the .box files only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "vagrant/make-boxes.sh: run as root (the image builds keep owners)"; exit 2; }
out=${1:-$root/build-vagrant}
mkdir -p "$out"
out=$(cd "$out" && pwd)
debdir=$(cd "${2:-$root/build-pkg}" && pwd)
t0=$(date +%s)
stamp() { echo "boxes: $1 at +$(( $(date +%s) - t0 )) s"; }
missing=()
for c in mmdebstrap genimage mcopy mkfs.vfat mke2fs qemu-img sfdisk vagrant; do
  command -v "$c" >/dev/null || missing+=("$c")
done
((${#missing[@]} == 0)) || { echo "FAIL: missing ${missing[*]} (tests/run boxes installs what is needed)"; exit 1; }

# Vagrant's public insecure key, from the installed vagrant (the key every base box
# carries; `vagrant up` replaces it at the first login).
key=
for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
  [ -f "$k" ] && key=$k
done
[ -n "$key" ] || { echo "FAIL: Vagrant's insecure public key not found (is vagrant installed?)"; exit 1; }
layer=$out/layer
rm -rf "$layer" && mkdir -p "$layer"
cp -a "$here/box-layer/." "$layer/"
install -D -m 0644 "$key" "$layer/usr/lib/cats-vagrant/vagrant.pub"

# The images, with caches of their own (build-image/ keeps one root file system per
# package list: the boxes' lists differ from the tests').
# CPE: sshd and sudo for vagrant (the product image has neither: docs/IMAGES.md).
CATS_IMAGE_DIR=$out/image-cache CATS_IMAGE_OVERLAY="$layer" CATS_IMAGE_PACKAGES="openssh-server sudo" \
  "$root/images/cpe/build.sh" "$out/cpe" "$debdir"
stamp "CPE image"
# vCPE: sshd and sudo are in the image; iperf3 for the lab's bulk service, Boost.JSON for
# cats-app (the lab's app, copied from the build tree).
CATS_IMAGE_DIR=$out/image-cache CATS_IMAGE_OVERLAY="$layer" CATS_IMAGE_PACKAGES="iperf3 libboost-json1.81.0" \
  "$root/images/vcpe/build.sh" "$out/vcpe" "$debdir"
stamp "vCPE image"

# mkbox NAME IMAGE: OUTDIR/NAME.box. vagrant-libvirt's box format v1 gives the disk's size
# in whole GiB (metadata virtual_size); the disk is grown to that size first and its GPT
# backup header moved to the new end (sfdisk --relocate), so the guest sees a clean GPT.
mkbox() {
  local name=$1 img=$2 d bytes gib
  d=$out/box-$name
  rm -rf "$d" && mkdir -p "$d"
  bytes=$(qemu-img info --output=json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  gib=$(( (bytes + 1073741823) / 1073741824 ))
  nice -n 19 qemu-img convert -O raw "$img" "$d/disk.raw"
  truncate -s "${gib}G" "$d/disk.raw"
  sfdisk --quiet --relocate gpt-bak-std "$d/disk.raw"
  nice -n 19 qemu-img convert -O qcow2 "$d/disk.raw" "$d/box.img"
  rm -f "$d/disk.raw"
  printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$gib" >"$d/metadata.json"
  cat >"$d/Vagrantfile" <<'EOF'
# cats-sdwan box (vagrant/make-boxes.sh). UEFI only (systemd-boot): the lab's Vagrantfile
# sets the OVMF loader and a variable store per machine.
Vagrant.configure("2") do |config|
  config.ssh.username = "vagrant"
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
    lv.machine_type = "q35"
  end
end
EOF
  tar -C "$d" -cf "$out/$name.box" metadata.json Vagrantfile box.img
  rm -rf "$d"
  stamp "$out/$name.box (${gib} GiB virtual, $(( $(stat -c %s "$out/$name.box") / 1048576 )) MiB)"
}
mkbox cats-cpe "$out/cpe/cats-cpe.img"
mkbox cats-vcpe "$out/vcpe/cats-vcpe.qcow2"
rm -rf "$out/cpe" "$out/vcpe" "$layer"

if [ "${CATS_VAGRANT_NO_ADD:-0}" != 1 ]; then
  vagrant box add --force --name cats/cpe "$out/cats-cpe.box"
  vagrant box add --force --name cats/vcpe "$out/cats-vcpe.box"
  stamp "added cats/cpe and cats/vcpe (vagrant box list)"
fi
