"""tune_allocator: the batch's large temporaries stop costing fresh page faults (glibc)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# 32 arrays of 512 KiB alive at once, freed, 20 times over: the shape of one engine chunk's
# temporaries. Counts minor page faults, not time (deterministic on a shared machine).
_CHURN = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    if sys.argv[1] == "tuned":
        from rebalancer.engine import tune_allocator
        assert tune_allocator()
    def churn():
        arrays = [np.ones(64 * 1024) for _ in range(32)]
        return sum(a[0] for a in arrays)
    churn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        churn()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_tuned_allocator_reuses_pages_the_default_one_faults_in_again() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    # Default glibc trims the freed 16 MiB and maps it again: ~128 faults per array per round.
    assert plain > 20 * 32 * 64
    assert tuned * 100 < plain


def test_tune_allocator_reports_that_glibc_took_the_settings() -> None:
    # In a child process: the setting is process-wide. This machine is Linux with glibc;
    # elsewhere the call is a no-op returning False.
    code = "from rebalancer.engine import tune_allocator; print(tune_allocator())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
