"""Helpers shared by the benchmark scripts: peak memory in a child process, result files."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
DATA_DIR = Path(__file__).parent / "data"


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line.

    Each variant runs alone in its own process so its peak RSS is its own.
    """
    completed = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])


CHILD_PRELUDE = """
import json, resource, sys, time
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write results with the machine they were measured on."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            "platform": platform.platform(),
        },
        **payload,
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
