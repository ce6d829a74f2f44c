#!/usr/bin/env bash
# Debian packages (docs/IMAGES.md "Packages"): build them (or take them from DIR), check
# their contents, lintian (errors fail), and the units' systemd-analyze security exposure.
#   tests/pkg/test_deb.sh          build into build-pkg/ (a copy of the tree), then check
#   tests/pkg/test_deb.sh DIR      check the cats-cpe_*.deb and cats-vcpe_*.deb in DIR
# Env: JOBS (2), CATS_WERROR (OFF; -Werror in the package build), CATS_DEB_BUILD_OPTIONS (extra DEB_BUILD_OPTIONS, e.g. nocheck),
#      CATS_DEB_PROFILES (e.g. pkg.cats-sdwan.nowebui), CATS_UNIT_EXPOSURE_MAX (2.0).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
max=${CATS_UNIT_EXPOSURE_MAX:-2.0}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

if [ $# -ge 1 ]; then
  out=$(cd "$1" && pwd)
else
  # dpkg-buildpackage writes its results into the parent of the source tree: build in a
  # copy under build-pkg/ so that nothing lands beside the checkout. The copy's path is
  # stable, so ccache (when installed) hits on a rebuild.
  out=$root/build-pkg
  src=$out/cats-sdwan
  mkdir -p "$src"
  rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
  tar -C "$root" --exclude=./.git --exclude='./build*' --exclude=./webui/node_modules \
      --exclude='./obj-*' --exclude=./debian/.debhelper --exclude='./debian/cats-*/' -cf - . |
    tar -C "$src" -xf -
  # debhelper (compat 13) gives the build a HOME of its own, emptied by every clean: name
  # the real ccache and npm caches explicitly, or neither is reused.
  ccache_path=
  if [ -d /usr/lib/ccache ]; then
    ccache_path=/usr/lib/ccache:
    export CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir)}
  fi
  export npm_config_cache=${npm_config_cache:-$HOME/.npm}
  t0=$(date +%s)
  (cd "$src" &&
    PATH="$ccache_path$PATH" CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=1 CATS_WERROR="${CATS_WERROR:-OFF}" \
    DEB_BUILD_OPTIONS="parallel=${JOBS:-2} ${CATS_DEB_BUILD_OPTIONS:-}" \
    DEB_BUILD_PROFILES="${CATS_DEB_PROFILES:-}" \
    dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
    { tail -60 "$out/build.log"; echo "FAIL: dpkg-buildpackage (log: $out/build.log)"; exit 1; }
  echo "dpkg-buildpackage: $(( $(date +%s) - t0 )) s"
fi

cpe=$(ls "$out"/cats-cpe_*.deb | tail -1)
vcpe=$(ls "$out"/cats-vcpe_*.deb | tail -1)
echo "packages: $(basename "$cpe") ($(du -k "$cpe" | cut -f1) KiB), $(basename "$vcpe") ($(du -k "$vcpe" | cut -f1) KiB)"

# Contents.
has() {  # has DEB PATH...
  local deb=$1 list; shift
  list=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s| ->.*||')
  for p in "$@"; do grep -qx -- "$p" <<<"$list" || bad "$(basename "$deb") lacks $p"; done
}
has "$cpe" /usr/sbin/cats-cpe /usr/sbin/catsctl /lib/systemd/system/cats-cpe.service \
  /usr/lib/sysusers.d/cats-cpe.conf /etc/cats/ /usr/share/doc/cats-cpe/examples/cpe.toml /usr/share/doc/cats-cpe/copyright \
  /usr/share/man/man8/cats-cpe.8.gz /usr/share/man/man8/catsctl.8.gz
if [[ " ${CATS_DEB_PROFILES:-} " != *" pkg.cats-sdwan.nowebui "* ]]; then
  has "$cpe" /usr/share/cats/webui/index.html /usr/share/cats/webui/index.html.br \
    /usr/share/cats/webui/index.html.gz
  grep -q '/usr/share/cats/webui/assets/.*\.js\.br$' <<<"$(dpkg-deb -c "$cpe")" || bad "no precompressed web UI assets"
fi
has "$vcpe" /usr/sbin/cats-vcpe /lib/systemd/system/cats-vcpe.service /usr/lib/sysusers.d/cats-vcpe.conf \
  /usr/share/doc/cats-vcpe/examples/vcpe.toml /usr/share/man/man8/cats-vcpe.8.gz
# Examples are documentation, never live configuration (the unit starts once it exists).
for d in "$cpe" "$vcpe"; do
  grep -q '\./etc/cats/.*\.toml' <<<"$(dpkg-deb -c "$d")" && bad "$(basename "$d") ships a live /etc/cats/*.toml"
  pi=$(dpkg-deb -I "$d" postinst)
  grep -q 'deb-systemd-helper' <<<"$pi" || bad "$(basename "$d") postinst does not enable its unit"
  grep -q 'systemd-sysusers' <<<"$pi" || bad "$(basename "$d") postinst does not create the user"
  grep -q 'deb-systemd-invoke reload' <<<"$pi" || bad "$(basename "$d") postinst does not reload on upgrade"
  grep -q 'rm -rf /var/lib/cats-' <<<"$(dpkg-deb -I "$d" postrm)" || bad "$(basename "$d") postrm does not purge its state"
done

# lintian: errors fail, warnings are listed (docs/IMAGES.md explains the remaining ones).
if command -v lintian >/dev/null; then
  lint=$(lintian --no-cfg --allow-root "$cpe" "$vcpe" 2>&1 || true)
  [ -n "$lint" ] && echo "$lint"
  grep -q '^E:' <<<"$lint" && bad "lintian errors"
  echo "lintian: $(grep -c '^E:' <<<"$lint" || true) errors, $(grep -c '^W:' <<<"$lint" || true) warnings"
else
  bad "lintian not installed (apt-get install lintian)"
fi

# Unit hardening: systemd-analyze security --offline (systemd >= 250) on the shipped units.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for d in "$cpe" "$vcpe"; do dpkg-deb -x "$d" "$tmp"; done
for u in "$tmp"/lib/systemd/system/cats-*.service; do
  systemd-analyze verify --man=no "$u" 2>&1 | grep -v 'Failed to put bus name\|ExecStart.*is not executable\|Command .* is not executable' || true
  score=$(systemd-analyze security --offline=yes --no-pager "$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || { bad "no exposure score for $(basename "$u")"; continue; }
  echo "exposure $(basename "$u"): $score (max $max)"
  awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || bad "$(basename "$u") exposure $score > $max"
done

((fail == 0)) && echo "test_deb: OK" || { echo "test_deb: FAILED"; exit 1; }
