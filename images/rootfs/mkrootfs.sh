#!/usr/bin/env bash
# A Debian 12 root file system as a tarball, built without root-only loop devices or
# mounts: mmdebstrap in unshare mode (a user namespace; needs subordinate ids for the
# caller, which this script adds for root when /etc/subuid lacks them). Downloaded .debs
# are kept in CACHE (sync-in/sync-out, mmdebstrap(1) "EXAMPLES"), so a rebuild fetches
# only the package lists. Shared by tests/vm (docs/IMAGES.md "VM test").
#   images/rootfs/mkrootfs.sh OUT.tar CACHE_DIR PACKAGE...
# Env: CATS_MIRROR (the mirror of /etc/apt/sources.list.d, default deb.debian.org),
#      CATS_MMDEBSTRAP_MODE (unshare; "root" where user namespaces are not allowed),
#      CATS_ROOTFS_EXCLUDE (more dpkg path-exclude globs, space-separated: parts of
#      packages a box does not need, e.g. kernel module trees).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,9p' "$0"; exit 2; }
out=$1 cache=$2; shift 2
pkgs=$(IFS=,; echo "$*")
mirror=${CATS_MIRROR:-http://deb.debian.org/debian}
mode=${CATS_MMDEBSTRAP_MODE:-unshare}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
if [ "$mode" = unshare ] && [ "$(id -u)" = 0 ] && ! grep -q '^root:' /etc/subuid 2>/dev/null; then
  # unshare mode maps the chroot's ids onto the caller's subordinate range.
  echo "root:1000000:65536" >>/etc/subuid
  echo "root:1000000:65536" >>/etc/subgid
fi
# The cache is read and written from inside the namespace: its owner there is the
# mapped root only if the directory is world-writable, so it is made so (it holds only
# Debian's signed .debs, verified by apt on every use).
chmod 0777 "$cache"
excludes=()
read -r -a globs <<<"${CATS_ROOTFS_EXCLUDE:-}"  # no pathname expansion on the host
for g in ${globs[@]+"${globs[@]}"}; do excludes+=(--dpkgopt="path-exclude=$g"); done
tmp=$out.tmp
rm -f "$tmp"
mmdebstrap --mode="$mode" --variant=apt --format=tar \
  --include="$pkgs" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  ${excludes[@]+"${excludes[@]}"} \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $cache /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives $cache" \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages*' \
  bookworm "$tmp" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb ${mirror%/debian}/debian-security bookworm-security main"
mv "$tmp" "$out"
