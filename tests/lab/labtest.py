"""Lab test harness: bring a lab up, ALWAYS tear it down, poll instead of sleeping.

    from labtest import LabSession, wait_until, main

    def test_something(s: LabSession):
        r = s.ping("c1", "203.0.113.2")
        assert r["received"] == r["sent"], r

    if __name__ == "__main__":
        sys.exit(main([test_something], scenario="fig4", daemons=False))

Each test file is runnable on its own (exit code 0 = all passed) and from CTest.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catslab import Lab, LabError  # noqa: E402
from catslab import impair as _impair  # noqa: E402
from catslab.common import LAB_DIR, RUN_DIR  # noqa: E402

PING_TOOL = LAB_DIR / "tools" / "icmp_ping.py"


class _Terminated(BaseException):
    pass


def _on_sigterm(signum, frame):  # CTest timeout / kill: still tear down
    raise _Terminated(f"signal {signum}")


def wait_until(predicate: Callable[[], Any], timeout: float, describe: str, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy (returned). On timeout raises
    AssertionError naming `describe` and what the predicate last returned or raised."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except (LabError, AssertionError, OSError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {describe}; last seen: {last!r}")
        time.sleep(interval)


class LabSession:
    """A lab that is up for the duration of a `with` block, torn down on any exit
    (exception, KeyboardInterrupt, SIGTERM)."""

    def __init__(self, scenario: str | None = None, daemons: bool = False,
                 build_dir: str | None = None, verbose: bool = True, services: bool | None = None):
        self.scenario_arg = scenario
        self.daemons = daemons
        self.services = services
        self.lab = Lab(build_dir=build_dir, log=(print if verbose else (lambda *_: None)))
        self._old_sigterm = None

    def __enter__(self) -> "LabSession":
        self._old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            # Tests run serially: anything left by an earlier run is ours to remove.
            self.lab.up(self.scenario_arg, daemons=self.daemons, force=True, services=self.services)
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            problems = self.lab.down()
        finally:
            self._restore()
        if problems and exc_type is None:
            raise AssertionError("lab teardown left: " + "; ".join(problems))
        return False

    def _restore(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    # ---------------------------------------------------------------- helpers
    @property
    def scenario(self):
        return self.lab.scenario

    def exec(self, node: str, *cmd: str, check: bool = True, timeout: float = 60):
        cp = self.lab.run_in(node, list(cmd), check=False, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"in {node}: {' '.join(cmd)} -> exit {cp.returncode}: "
                                 f"{(cp.stderr or cp.stdout).strip()}")
        return cp

    def ping(self, node: str, dst: str, count: int = 3, interval: float = 0.05,
             timeout: float = 1.0, source: str | None = None) -> dict:
        """ICMP echo from `node` (stdlib tool, no iputils needed). Returns sent, received,
        loss_pct, rtt_ms (list), min/avg/max."""
        args = ["/usr/bin/python3", str(PING_TOOL), dst, "-c", str(count), "-i", str(interval),
                "-W", str(timeout), "--json"]
        if source:
            args += ["-I", source]
        cp = self.exec(node, *args, check=False, timeout=count * interval + timeout + 10)
        try:
            return json.loads(cp.stdout)
        except ValueError:
            raise AssertionError(f"ping from {node} to {dst} failed: {cp.stderr.strip()}")

    def impair(self, link: str, **kw) -> dict:
        return self.lab.impair(link, **kw)

    def impair_stats(self, link: str) -> dict:
        return _impair.stats(link)

    def impair_reset_stats(self, link: str) -> None:
        _impair.command(link, "reset")


def _keep_logs(test_name: str) -> None:
    """A failed test's evidence outlives the teardown: every daemon's log and state file
    under the lab's run directory is copied to a fresh directory (CATS_LAB_FAIL_DIR or
    /tmp), whose path is printed. Flakes are diagnosed from these, not re-run blind."""
    base = Path(os.environ.get("CATS_LAB_FAIL_DIR") or tempfile.gettempdir())
    try:
        dst = Path(tempfile.mkdtemp(prefix=f"cats-lab-fail-{test_name}-", dir=base))
        for f in RUN_DIR.rglob("*"):
            if f.is_file() and f.suffix in (".log", ".toml", ".json") and f.stat().st_size < (64 << 20):
                out = dst / f.relative_to(RUN_DIR)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, out)
        print(f"  lab logs kept in {dst}", flush=True)
    except OSError as e:
        print(f"  lab logs not kept: {e}", flush=True)


def main(tests: list[Callable[[LabSession], None]], scenario: str | None = None,
         daemons: bool = False, build_dir: str | None = None, services: bool | None = None,
         setup: Callable[[LabSession], None] | None = None) -> int:
    """Runs `tests` in order inside one lab (brought up once, always torn down).
    `setup(s)` runs first (a failure there fails every test). Prints PASS/FAIL per test;
    returns the process exit code."""
    if os.geteuid() != 0:
        print("lab tests need root (network namespaces)", file=sys.stderr)
        return 77
    failed = 0
    t0 = time.monotonic()
    try:
        with LabSession(scenario, daemons=daemons, build_dir=build_dir, services=services) as s:
            if setup:
                setup(s)
            for t in tests:
                t1 = time.monotonic()
                try:
                    t(s)
                    print(f"PASS {t.__name__} ({time.monotonic() - t1:.1f}s)", flush=True)
                except AssertionError as e:
                    failed += 1
                    print(f"FAIL {t.__name__}: {e}", flush=True)
                    _keep_logs(t.__name__)
                except LabError as e:
                    failed += 1
                    print(f"FAIL {t.__name__}: lab error: {e}", flush=True)
                    _keep_logs(t.__name__)
                except Exception:
                    failed += 1
                    print(f"FAIL {t.__name__}:\n{traceback.format_exc()}", flush=True)
                    _keep_logs(t.__name__)
    except (KeyboardInterrupt, _Terminated) as e:
        print(f"interrupted ({e or 'Ctrl-C'}); lab torn down", file=sys.stderr)
        return 130
    except (LabError, AssertionError) as e:
        print(f"FAIL setup/teardown: {e}", flush=True)
        return 1
    print(f"{len(tests) - failed}/{len(tests)} passed in {time.monotonic() - t0:.1f}s")
    return 1 if failed else 0
