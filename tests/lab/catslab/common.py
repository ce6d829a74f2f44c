"""Shared helpers: paths, naming, running commands."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent.parent          # tests/lab
REPO_ROOT = LAB_DIR.parent.parent                        # repository root
RUN_DIR = Path(os.environ.get("CATS_LAB_RUN_DIR", "/run/cats-lab"))
NS_PREFIX = "cats-"
WG_SOCK_DIR = Path("/var/run/wireguard")
IFNAMSIZ = 15


class LabError(Exception):
    """A lab operation failed; the message says what and why."""


def ns_name(node: str) -> str:
    """Namespace of a node ("cpe" -> "cats-cpe"); accepts an already-prefixed name."""
    return node if node.startswith(NS_PREFIX) else NS_PREFIX + node


def run(args: list[str], *, check: bool = True, input: str | None = None,
        timeout: float = 30, capture: bool = True) -> subprocess.CompletedProcess:
    """Runs a command; on failure (check) raises LabError with its stderr."""
    try:
        cp = subprocess.run(args, input=input, text=True, timeout=timeout,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as e:
        raise LabError(f"command not found: {args[0]} ({e})") from e
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout}s: {shlex.join(args)}") from e
    if check and cp.returncode != 0:
        err = (cp.stderr or "").strip() or (cp.stdout or "").strip()
        raise LabError(f"`{shlex.join(args)}` failed ({cp.returncode}): {err}")
    return cp


def nsrun(node: str, args: list[str], **kw) -> subprocess.CompletedProcess:
    """Runs a command inside a node's namespace."""
    return run(["ip", "netns", "exec", ns_name(node), *args], **kw)


def list_lab_namespaces() -> list[str]:
    cp = run(["ip", "-j", "netns", "list"], check=False)
    names: list[str] = []
    if cp.returncode == 0 and cp.stdout.strip():
        import json
        try:
            names = [e["name"] for e in json.loads(cp.stdout)]
        except (ValueError, KeyError, TypeError):
            names = []
    if not names:  # older iproute2 / no -j: parse text
        cp = run(["ip", "netns", "list"], check=False)
        names = [ln.split()[0] for ln in (cp.stdout or "").splitlines() if ln.strip()]
    return sorted(n for n in names if n.startswith(NS_PREFIX))
