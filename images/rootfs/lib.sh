# Shared by the scripts that build a Debian 12 root file system and boot it in qemu
# (tests/vm/run.sh, images/cpe/build.sh, tests/image/run.sh, images/vcpe/build.sh,
# tests/image/vcpe_run.sh). Source it; needs set -e.

cats_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# cats_deb_depends DEB...: the packages the .debs depend on, each alternative's first
# choice, one per line (the guests have no network: dpkg -i there installs nothing else).
cats_deb_depends() {
  local d
  for d in "$@"; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/ //g' | sed '/^$/d' | sort -u
}

# cats_rootfs_base DIR PACKAGE...: prints the path of DIR/base-<hash>.tar, a root file
# system tarball of Debian 12 with these packages (images/rootfs/mkrootfs.sh), built only
# when its package list, builder or CATS_ROOTFS_EXCLUDE changes; other bases in DIR are
# removed. Downloaded .debs stay in DIR/apt-cache. The build's log: DIR/mkrootfs.log.
cats_rootfs_base() {
  local dir=$1; shift
  local key base
  key=$(cat "$cats_root/images/rootfs/mkrootfs.sh" <(echo "$*") <(echo "${CATS_ROOTFS_EXCLUDE:-}") | sha256sum | cut -c1-12)
  base=$dir/base-$key.tar
  if [ ! -f "$base" ]; then
    rm -f "$dir"/base-*.tar
    nice -n 19 "$cats_root/images/rootfs/mkrootfs.sh" "$base" "$dir/apt-cache" "$@" >"$dir/mkrootfs.log" 2>&1 ||
      { tail -30 "$dir/mkrootfs.log" >&2; echo "FAIL: mkrootfs (log: $dir/mkrootfs.log)" >&2; return 1; }
  fi
  echo "$base"
}

# cats_tree_defaults TREE HOSTNAME: what every booted tree gets: a host name, its own
# machine id, and no periodic jobs (nothing on these boxes needs them, and each costs
# seconds under TCG).
cats_tree_defaults() {
  local tree=$1 u
  echo "$2" >"$tree/etc/hostname"
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$tree/etc/machine-id"
  for u in e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer fstrim.timer e2scrub_all.timer; do
    ln -sf /dev/null "$tree/etc/systemd/system/$u"
  done
}

# cats_mkext4 TREE IMAGE LABEL EXTRA_MIB: an ext4 image of TREE (mke2fs -d: no loop
# device, no mount), EXTRA_MIB larger than the tree. Prints its size in MiB.
cats_mkext4() {
  local tree=$1 img=$2 label=$3 size
  size=$(( $(du -sm "$tree" | cut -f1) + $4 ))
  rm -f "$img"
  mke2fs -q -F -E root_owner=0:0 -t ext4 -L "$label" -d "$tree" "$img" "${size}M" >/dev/null
  echo "$size"
}

# The result protocol: the guest writes "PASS name: evidence", "FAIL name: evidence",
# "INFO ...", "journal ..." lines to its second serial port, then "DONE fails=N"; the
# host passes the file written by qemu (-serial file:RESULT) here.
# cats_serial_verdict NAME RESULT CONSOLE QEMU_RC TIMEOUT: prints the results; on a
# missing DONE, a FAIL or a timeout also the journal lines and the console's tail, and
# returns 1.
cats_serial_verdict() {
  local name=$1 result=$2 console=$3 rc=$4 timeout=$5 lines
  lines=$(tr -d '\r' <"$result" 2>/dev/null | grep -a -E '^(PASS|FAIL|INFO|BENCH|DONE|journal) ' || true)
  # Only the protocol's lines: the firmware (OVMF) writes its console to every serial port.
  grep -E '^(PASS|FAIL|INFO|BENCH|DONE) ' <<<"$lines" || true
  if ! grep -q '^DONE fails=0$' <<<"$lines" || grep -q '^FAIL' <<<"$lines"; then
    grep '^journal ' <<<"$lines" || true
    echo "--- console (last 60 lines of $console) ---"
    tail -60 "$console" 2>/dev/null | tr -d '\r'
    [ "$rc" = 124 ] && echo "FAIL: the guest did not finish within ${timeout}s"
    echo "FAIL: $name"
    return 1
  fi
  echo "PASS: $name ($(grep -c '^PASS' <<<"$lines") checks)"
}
