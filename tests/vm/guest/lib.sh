# The guest side of the result protocol (images/rootfs/lib.sh cats_serial_verdict), sourced
# by the guest tests (tests/vm, tests/image): every check writes "PASS name: evidence" or
# "FAIL name: evidence" to the result channel (out, /dev/ttyS1: the host's second serial
# port), the test ends with "DONE fails=N". Set cats_test (the log's name) before sourcing.
out=${out:-/dev/ttyS1}
cats_test=${cats_test:-cats-vm}
fails=0
say() { echo "$*" >"$out"; echo "$*" >>"/var/log/$cats_test-result"; echo "$cats_test: $*" >/dev/console; }
pass() { say "PASS $1: ${*:2}"; }
fail() { say "FAIL $1: ${*:2}"; fails=$((fails + 1)); return 1; }
check() {  # check NAME EVIDENCE CMD...: PASS when CMD succeeds
  local name=$1 ev=$2; shift 2
  if "$@" >/tmp/check.out 2>&1; then pass "$name" "$ev"; else fail "$name" "$ev: $(tail -c 600 /tmp/check.out | tr '\n' ' ')"; fi
}
# wait_for NAME SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
wait_for() {
  local name=$1 secs=$2 t0=$SECONDS; shift 2
  while ! "$@" >/tmp/check.out 2>&1; do
    if ((SECONDS - t0 >= secs)); then
      fail "$name" "not within ${secs}s: $(tail -c 600 /tmp/check.out | tr '\n' ' ')"
      return 1
    fi
    sleep 1
  done
  pass "$name" "after $((SECONDS - t0))s"
}
