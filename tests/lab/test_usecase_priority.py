#!/usr/bin/python3
"""Lab test: the draft's use case 4.2 (intelligent transportation) in scenario `fig3`.

Two service classes share site2 (near, ~5 ms RTT) and site1 (far, ~10 ms RTT):
* `v2x` (10.255.0.3) is delay-sensitive: an SLA of 8 ms RTT that only site2 meets;
* `maps` (10.255.0.4) is delay-tolerant and `priority = "low"`: it leaves 20 % of every
  instance's capacity to the others (trunk reservation, docs/SELECTION.md "Priorities").

1. At rest both use site2: v2x wholly (the SLA), maps for a large share (it is nearer).
2. site2 fills (its app's background load to 85 %): maps yields and moves to the lightly
   loaded far site (site2 keeps at most the floor of its weights), while v2x keeps site2.
   Clients see it: fresh connections to maps land on site1, to v2x on site2.
3. site2's load goes: maps comes back to share site2.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labtest import LabSession, main, wait_until  # noqa: E402
from catslab.clients import count_instances  # noqa: E402
from catslab import steering as st_  # noqa: E402

HIGH, LOW = "v2x", "maps"
VIP = {HIGH: "10.255.0.3:80", LOW: "10.255.0.4:80"}
INSTANCE = {"site1": "app1-site1", "site2": "app1-site2"}
FULL = 0.85          # site2's background load when it "fills" (above 1 - 20 % reserve)
FLOOR = 10           # of 1000: what the floor share (0.01 vCPU) can give maps on a full site
MOVE_S = 20.0        # damped steps within explain_window of the first decision (ARCHITECTURE known gaps)


def weights(s, service) -> dict[str, int]:
    return st_.weights_by_vcpe(s.lab, service)


def setup(s: LabSession):
    def at_rest():
        wh, wl = weights(s, HIGH), weights(s, LOW)
        assert wh.get("site2") == 1000, f"{HIGH}: {wh}"
        assert wl.get("site2", 0) >= 300 and wl.get("site1", 0) > 0, f"{LOW}: {wl}"
        return wh, wl
    wait_until(at_rest, 40, f"{HIGH} on site2, {LOW} sharing site2 and site1")


def test_low_priority_yields_when_the_near_site_fills(s: LabSession):
    wl0 = weights(s, LOW)
    print(f"  at rest: {HIGH} {weights(s, HIGH)}, {LOW} {wl0}")
    t0 = time.monotonic()
    s.lab.set_app_load("site2", FULL)
    try:
        def yielded():
            wh, wl = weights(s, HIGH), weights(s, LOW)
            assert wl.get("site2", 0) <= FLOOR, f"{LOW} still on site2: {wl} ({HIGH} {wh})"
            return wh, wl
        wh, wl = wait_until(yielded, MOVE_S, f"{LOW} to leave site2 at {FULL:.0%} load", interval=0.2)
        print(f"  site2 at {FULL:.0%}: {LOW} {wl} after {time.monotonic() - t0:.1f} s; {HIGH} {wh}")
        assert wh.get("site2") == 1000, f"{HIGH} must keep the near site: {wh}"
        # Clients: fresh connections follow the weights.
        low = count_instances(s.lab, "c1", VIP[LOW], 40)
        high = count_instances(s.lab, "c2", VIP[HIGH], 40)
        print(f"  40 fresh connections each: {LOW} {low['counts']}, {HIGH} {high['counts']}")
        assert not low["errors"] and low["counts"].get(INSTANCE["site1"], 0) >= 36, f"{LOW}'s connections: {low}"
        assert not high["errors"] and high["counts"] == {INSTANCE["site2"]: 40}, f"{HIGH}'s connections: {high}"
    finally:
        s.lab.set_app_load("site2", 0.0)

    def back():
        wl = weights(s, LOW)
        assert wl.get("site2", 0) >= 300, f"{LOW}: {wl}"
        return wl
    wl = wait_until(back, 20, f"{LOW} back on site2 once its load went", interval=0.2)
    print(f"  site2 idle again: {LOW} {wl}")


if __name__ == "__main__":
    sys.exit(main([test_low_priority_yields_when_the_near_site_fills], scenario="fig3", daemons=True,
                  services=True, setup=setup))
