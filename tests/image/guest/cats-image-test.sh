#!/bin/bash
# The image boot test's guest side (tests/image/run.sh; docs/IMAGES.md "Image boot test"),
# run at every boot of the test image by cats-image-test.service, one qemu run, several
# boots; its state is on the data partition. $lib/mode (from run.sh) sets the tries of
# slot B (3; 1 in the quick mode) and whether the factory reset is tested (not in the
# quick mode):
#  1. slot A (factory image): booted by systemd-boot from the entry cats-a.conf, the
#     partitions mounted, cats-cpe installed and waiting for its configuration; writes a
#     configuration marker; then cats-cpe configured (cats-image-test-net.service made its
#     interfaces) and ready, and the host sets the first admin over HTTPS (qemu user
#     networking, a forwarded port) with the setup link printed here, logs in and makes
#     an API token; rejects a bad upgrade image, upgrades slot B from /dev/vdb (an image
#     whose health check fails), reboots;
#  2. slot B, counted boots: records each, sees the marker; its health check fails and
#     the box reboots (cats-boot-health.service FailureAction=reboot);
#  3. slot A again once B's tries are used up: the fallback, the marker, the configuration
#     and the admin intact, cats-cpe ready again; then (full mode) a factory reset
#     (cats-factory-reset), which reboots; in the quick mode it powers off;
#  4. slot A: the data partition empty again (the marker and the test's own state gone;
#     the used-up entry of B on the ESP tells this boot from the first); powers off.
# Results on /dev/ttyS1 (tests/vm/guest/lib.sh).
set -uo pipefail
cats_test=cats-image
lib=/usr/local/lib/cats-image-test
source $lib/lib.sh  # say, pass, fail, check, wait_for
stty -F "$out" raw -echo 115200 2>/dev/null
echo >"$out"  # after the firmware's output on this port, a line of our own
state=/data/cats-image-test
esp=/boot/efi entries=/boot/efi/loader/entries
tries=3 reset=1
source $lib/mode  # tries=N reset=0|1
efivar() {  # the boot loader's EFI variables (systemd-boot, Boot Loader Interface): UTF-16
  local f=/sys/firmware/efi/efivars/$1-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
  [ -r "$f" ] && cat "$f" | tail -c +5 | tr -d '\0'  # efivarfs: no seek
}
slot=$(sed -n 's/.*\bcats\.slot=\([ab]\)\b.*/\1/p' /proc/cmdline)
final=0
finish() {
  local rc=$?
  set +e
  [ $rc = 0 ] || [ $fails != 0 ] || fail script "stopped early (exit $rc; console log)"
  if [ $fails != 0 ] || [ $final = 1 ]; then
    for u in cats-boot-health systemd-bless-boot cats-data-init cats-cpe; do
      journalctl -b -u "$u" --no-pager -o short-monotonic 2>&1 | tail -20 | sed "s/^/journal $u: /" >"$out"
    done
    say "DONE fails=$fails"
    sync
    systemctl poweroff --no-block
  fi
  exit 0
}
trap finish EXIT
mkdir -p $state
n=$(( $(cat $state/boots 2>/dev/null || echo 0) + 1 ))
echo $n >$state/boots
say "INFO boot $n: slot ${slot:-?}, entry $(efivar LoaderEntrySelected), $(efivar LoaderInfo), kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime) s at the test, entries: $(ls $entries | tr '\n' ' ')"

on_partition() {  # MOUNTPOINT LABEL: MOUNTPOINT is the file system of the partition LABEL
  local src dev
  src=$(findmnt -no SOURCE "$1") dev=$(readlink -f /dev/disk/by-partlabel/"$2")
  echo "$1 on $src, $2 is $dev"
  [ "${src%%\[*}" = "$dev" ]
}
export -f efivar on_partition  # for the checks' bash -c

shopt -s nullglob
used_up=($entries/cats-b+0-*.conf)
shopt -u nullglob
if [ "$slot" = a ] && [ ! -e $state/upgraded ] && ((${#used_up[@]})); then
  # --- 4. After the factory reset ---
  final=1
  check reset-config-gone "/etc/cats: $(ls -A /etc/cats | tr '\n' ' '), /var/lib/cats-cpe: $(ls -A /var/lib/cats-cpe | tr '\n' ' ')" \
    bash -c '[ -z "$(ls -A /etc/cats)" ] && [ -z "$(ls -A /var/lib/cats-cpe)" ] && mountpoint -q /etc/cats && mountpoint -q /var/lib/cats-cpe'
  check reset-data-fresh "/data: $(ls -A /data | tr '\n' ' ')" bash -c '[ ! -e /data/.factory-reset ] && [ "$(ls -A /data | grep -v -x -e lost+found -e etc -e var -e cats-image-test | wc -l)" = 0 ]'
  check reset-logged "$(journalctl -b -u cats-data-init -o cat --no-pager | grep -i 'factory reset' | head -1)" \
    bash -c 'journalctl -b -u cats-data-init -o cat --no-pager | grep -q "factory reset"'
  check reset-slots-kept "entry $(efivar LoaderEntrySelected), entries $(ls $entries | tr '\n' ' ')" test "$(efivar LoaderEntrySelected)" = cats-a.conf
  check reset-cpe-waits-for-config "$(systemctl show -p ConditionResult cats-cpe)" test "$(systemctl show -p ConditionResult --value cats-cpe)" = no
elif [ "$slot" = a ] && [ ! -e $state/upgraded ]; then
  # --- 1. The factory image, slot A ---
  check slot-a "entry $(efivar LoaderEntrySelected), cmdline $(cat /proc/cmdline)" test "$(efivar LoaderEntrySelected)" = cats-a.conf
  check systemd-boot "$(efivar LoaderInfo)" bash -c '[[ "$(efivar LoaderInfo)" == systemd-boot* ]]'
  check root-is-slot-a "$(on_partition / cats-root-a)" on_partition / cats-root-a
  check esp-mounted "$(findmnt -no SOURCE,FSTYPE /boot/efi)" bash -c "on_partition /boot/efi cats-esp && [ \$(findmnt -no FSTYPE /boot/efi) = vfat ]"
  check data-mounted "$(findmnt -no SOURCE,FSTYPE /data)" on_partition /data cats-data
  check config-on-data "$(findmnt -no SOURCE /etc/cats) $(findmnt -no SOURCE /var/lib/cats-cpe)" \
    bash -c "on_partition /etc/cats cats-data && on_partition /var/lib/cats-cpe cats-data"
  marker=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
  echo "$marker" >/etc/cats/image-test-marker && echo "$marker" >$state/marker
  check config-marker-on-data "/etc/cats/image-test-marker = $marker" cmp /etc/cats/image-test-marker /data/etc/cats/image-test-marker
  # The image ships an empty machine id: made at this first boot, no first-boot prompts.
  check machine-id-made "$(cat /etc/machine-id), firstboot $(systemctl show -p LoadState --value systemd-firstboot)" \
    bash -c '[ "$(wc -c </etc/machine-id)" = 33 ] && [ "$(systemctl show -p LoadState --value systemd-firstboot)" = masked ]'
  check cats-cpe-installed "$(dpkg-query -W cats-cpe | tr '\t' ' ')" dpkg-query -W cats-cpe
  check cats-cpe-enabled "$(systemctl is-enabled cats-cpe)" systemctl -q is-enabled cats-cpe
  check cats-cpe-waits-for-config "$(systemctl show -p ActiveState -p ConditionResult cats-cpe | tr '\n' ' ')" \
    test "$(systemctl show -p ConditionResult --value cats-cpe)" = no
  check uncounted-boot "no LoaderBootCountPath; bless $(systemctl show -p ActiveState --value systemd-bless-boot), health $(systemctl show -p ActiveState --value cats-boot-health)" \
    bash -c "[ -z \"\$(ls /sys/firmware/efi/efivars/LoaderBootCountPath-* 2>/dev/null)\" ] && [ \$(systemctl show -p ActiveState --value cats-boot-health) = inactive ]"
  # cats-cpe configured and ready, its HTTPS API used from the host: the interfaces from
  # cats-image-test-net.service (the WAN is the NIC on qemu's user network, whose
  # forwarded port reaches 10.0.2.15:443); one vCPE, which answers nothing.
  wan=$(cat /run/cats-image-test/wan 2>/dev/null)
  check test-network "WAN ${wan:-none}: $(ip -br addr show dev "${wan:-none}" 2>&1 | tr -s ' '), $(ip -br addr show dev lan0 2>&1 | tr -s ' ')" \
    bash -c "ip -br addr show dev '${wan:-none}' | grep -q ' 10.0.2.15/24' && ip -br addr show dev lan0 | grep -q ' 10.1.0.1/24'"
  cat >/etc/cats/cpe.toml <<TOML
[cpe]
name = "image-test"

[lan]
interface = "lan0"
address = "10.1.0.1"
subnets = ["10.1.0.0/24"]

[[wan]]
name = "wan"
interface = "${wan:-none}"
gateway = "10.0.2.2"

[[vcpe]]
name = "cloud0"
public_key = "$(wg genkey | wg pubkey)"
report_key = "$(head -c 32 /dev/urandom | base64)"
endpoint = "192.0.2.77"
address = "10.2.0.1"
subnets = ["10.2.0.0/24"]
[vcpe.ports]
wan = 51820

[management]
listen = ["10.0.2.15:443"]
TOML
  cp /etc/cats/cpe.toml $state/cpe.toml
  t=$SECONDS
  systemctl start --no-block cats-cpe
  wait_for cats-cpe-ready 300 bash -c 'systemctl -q is-active cats-cpe && catsctl status'
  fp=$(catsctl status 2>/dev/null | sed -n 's/^https certificate SHA-256: //p')
  link=$(catsctl setup-url 2>/dev/null | sed -n 's/^open //p')
  say "INFO cats-cpe ready $((SECONDS - t)) s after its start, uptime $(cut -d' ' -f1 /proc/uptime) s"
  check setup-link "certificate SHA-256 ${fp:-none}, setup link ${link%%#*}" \
    bash -c "[ -n '$fp' ] && [[ '$link' == https://10.0.2.15:443/setup#token=* ]]"
  # For the host (run.sh): the pin and the one-time link (the console shows it by design,
  # docs/API.md "First admin"; the host spends it at once). The host sets the first
  # admin, logs in and makes an API token over HTTPS; the token is its last step.
  say "INFO api-ready fingerprint=$fp link=$link"
  wait_for api-from-host 300 bash -c 'catsctl token list | grep -qw image-test'
  check api-admin-from-host "$(catsctl user list 2>&1 | tr -s ' \n' ' ')" bash -c 'catsctl user list | grep -Eq "^hostadmin +admin "'
  # Bad input: a clear error, the boot entries unchanged.
  before=$(ls $entries)
  check upgrade-rejects-bad-image "$(cats-image-upgrade /etc/hostname 2>&1)" bash -c "! cats-image-upgrade /etc/hostname && [ \"\$(ls $entries)\" = \"$before\" ]"
  check upgrade "$(cats-image-upgrade --tries $tries /dev/vdb 2>&1 | tail -2 | tr '\n' ' ')" test -e "$entries/cats-b+$tries.conf"
  check upgrade-entry "$(tr '\n' ';' <"$entries/cats-b+$tries.conf")" \
    bash -c "grep -q '^options .*root=PARTLABEL=cats-root-b .*cats.slot=b' $entries/cats-b+$tries.conf && [ -s $esp/cats/b/vmlinuz ] && [ -s $esp/cats/b/initrd.img ]"
  # bootctl sorts the entries as systemd-boot does: the new slot must come first.
  check upgrade-b-is-default "$(bootctl list --no-pager 2>&1 | grep -E 'title|id:' | tr -s ' \n' '  ')" \
    bash -c "bootctl list --no-pager 2>/dev/null | grep -q 'title: .*(slot B) (default)'"
  if [ $fails = 0 ]; then
    touch $state/upgraded
    sync
    say "INFO rebooting into slot B (cats-b+$tries.conf), uptime $(cut -d' ' -f1 /proc/uptime) s"
    systemctl reboot --no-block
  fi
elif [ "$slot" = b ]; then
  # --- 2. Slot B: a counted boot that will not be blessed ---
  echo "$(efivar LoaderEntrySelected)" >>$state/b-boots
  check "b-boot-$(wc -l <$state/b-boots)-counted" "LoaderBootCountPath $(efivar LoaderBootCountPath)" test -n "$(efivar LoaderBootCountPath)"
  check "b-boot-$(wc -l <$state/b-boots)-sees-config" "$(cat /etc/cats/image-test-marker 2>&1)" cmp /etc/cats/image-test-marker $state/marker
  sync
  # cats-boot-health.service runs after this and fails: the box reboots.
else
  # --- 3. Back on slot A ---
  check fallback-to-slot-a "entry $(efivar LoaderEntrySelected), cats.slot=$slot" \
    bash -c "[ '$slot' = a ] && [ \"\$(efivar LoaderEntrySelected)\" = cats-a.conf ]" 
  check b-tried-$tries-times "slot B boots: $(tr '\n' ' ' <$state/b-boots 2>/dev/null)" test "$(wc -l <$state/b-boots 2>/dev/null)" = $tries
  check b-entry-used-up "$(ls $entries | tr '\n' ' ')" test -e "$entries/cats-b+0-$tries.conf"
  check config-survived "/etc/cats/image-test-marker: $(cat /etc/cats/image-test-marker 2>&1)" cmp /etc/cats/image-test-marker $state/marker
  check a-uncounted "no LoaderBootCountPath" test -z "$(efivar LoaderBootCountPath)"
  # The configuration and the history (the admin and the token made over HTTPS) survive
  # B's tries; cats-cpe, configured, is up again by itself.
  check config-file-survived "/etc/cats/cpe.toml $(sha256sum </etc/cats/cpe.toml 2>&1 | cut -c1-12)" cmp /etc/cats/cpe.toml $state/cpe.toml
  wait_for cats-cpe-ready-again 300 bash -c 'systemctl -q is-active cats-cpe && catsctl status'
  check accounts-survived "$(catsctl user list 2>&1 | tr -s ' \n' ' '); $(catsctl token list 2>&1 | tr -s ' \n' ' ')" \
    bash -c 'catsctl user list | grep -Eq "^hostadmin +admin " && catsctl token list | grep -qw image-test'
  if [ $fails = 0 ] && [ "$reset" = 1 ]; then
    say "INFO factory reset (cats-factory-reset --yes), rebooting"
    cats-factory-reset --yes >/dev/console 2>&1 || fail factory-reset "cats-factory-reset failed"
  else
    final=1  # the quick mode ends here (finish: DONE, power off)
  fi
fi
