"""``python -m rebalancer.cli``: the same entry point as the ``rebalancer`` script."""

from __future__ import annotations

from rebalancer.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
