"""cats-sdwan lab: network-namespace topologies, impairment and daemon processes.

Importable by tests (tests/lab/labtest.py) and used by the thin CLI tests/lab/cats-lab.
"""
from .common import LabError, RUN_DIR, NS_PREFIX, ns_name, REPO_ROOT, LAB_DIR
from .scenario import Scenario, load_scenario, DEFAULT_SCENARIO
from .lab import Lab

__all__ = ["LabError", "RUN_DIR", "NS_PREFIX", "ns_name", "REPO_ROOT", "LAB_DIR",
           "Scenario", "load_scenario", "DEFAULT_SCENARIO", "Lab"]
